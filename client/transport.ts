/**
 * Sends queries to the executor. Queries started in the same tick travel in one POST
 * (DESIGN.md, "Querysets started in the same tick travel in one HTTP request"); each
 * caller receives its own result or error. Reads are retried on network errors and 503
 * with exponential backoff, and each caller may cancel with an `AbortSignal`.
 *
 * Requests are written and answers read with a SuperJSON instance (the app's, with its
 * custom types), and sent with ofetch (the app's `$fetch` instance and hooks, or one over
 * `globalThis.fetch`). The retry loop stays the protocol's own: ofetch is asked for one
 * attempt at a time, so each attempt is one call of its hooks.
 */
import { createFetch, ofetch, type $Fetch, type FetchOptions, type FetchResponse } from 'ofetch'
import SuperJSON from 'superjson'
import { ERROR_CODES, ERROR_STATUS, isErrorCode, type ErrorCode, type WireError } from '../shared/error-codes.js'
import { CHANGING_OPS, type Query } from '../shared/query-ast.js'
import { newerPosition, WAL_POSITION_HEADER } from '../shared/headers.js'
import { PROTOCOL_VERSION, type ErrorBody, type ResponseBody, type SuperJSONCodec } from '../shared/wire.js'
import { AsyncOrmError } from './client-error.js'
import type { ClientLink, RequestObserver, SentRequest } from './client-link.js'

export type HeadersOption = HeadersInit | (() => HeadersInit | Promise<HeadersInit>)

export interface BatchOptions {
  /** Most queries in one request (default 50, the executor's default `maxBatch`). */
  readonly maxSize?: number
  /** Milliseconds to wait for more queries before sending; default 0 (the current tick). */
  readonly windowMs?: number
}

/** A fetch function, or an ofetch instance: the client calls it with the executor's URL. */
export type FetchLike = (url: string, init?: RequestInit) => Promise<unknown>

export interface ClientOptions {
  /** The executor's URL. */
  readonly url: string
  /** Sent with every request, e.g. `() => ({ authorization: \`Bearer ${token}\` })`. */
  readonly headers?: HeadersOption
  /**
   * What sends requests: an ofetch instance (`$fetch`, or `ofetch.create({ baseURL,
   * onRequest… })`, its hooks called once per HTTP request), or a fetch function. Default:
   * ofetch over `globalThis.fetch`, looked up on each request, so mocks installed later apply.
   */
  readonly fetch?: FetchLike
  /** ofetch's hooks, called on every HTTP request (each retry too); they apply over an instance's own. */
  readonly onRequest?: FetchOptions['onRequest']
  readonly onRequestError?: FetchOptions['onRequestError']
  readonly onResponse?: FetchOptions['onResponse']
  /** Called for answers with status 400–599, before the client turns them into an `AsyncOrmError`. */
  readonly onResponseError?: FetchOptions['onResponseError']
  /**
   * The SuperJSON instance requests are written and answers read with: the app's, with its
   * `registerCustom(…)` types (give the executor the same one). Default: superjson's
   * default instance (`SuperJSON.registerCustom(…)` registers there).
   */
  readonly superjson?: SuperJSONCodec
  /** `false` sends one request per query. */
  readonly batch?: false | BatchOptions
  /** Retries after a network error or a 503 (default 2). */
  readonly retry?: number
  /** First retry delay in ms, doubled each time (default 200). */
  readonly retryDelay?: number
  /** Per-request timeout in ms (default none). */
  readonly timeout?: number
  /**
   * Retry requests that write too (default `true`), which is safe: they carry an
   * `Idempotency-Key`, and a retry after an attempt that got no answer says so
   * (`Idempotency-Retry`): an executor with its idempotency store applies the write once,
   * one without it refuses the retry (`CONFLICT`) instead of writing twice. A `503` means
   * nothing was applied.
   */
  readonly retryMutations?: boolean
}


interface Pending {
  readonly query: Query
  readonly signal: AbortSignal | undefined
  readonly resolve: (value: unknown) => void
  readonly reject: (error: unknown) => void
  settled: boolean
}

export class Transport implements ClientLink {
  private queue: Pending[] = []
  private readonly observers = new Set<RequestObserver>()
  private pinged = false
  private scheduled = false
  private readonly $fetch: $Fetch
  private readonly codec: SuperJSONCodec
  private readonly hooks: FetchOptions
  /**
   * The newest WAL position an answer to a write carried (`async-orm-lsn`, from an
   * executor with read replicas), sent with every later request: the executor serves those
   * reads only from a database that has replayed it (read-your-writes).
   */
  private position: string | undefined

  get url(): string {
    return this.options.url
  }

  constructor(private readonly options: ClientOptions) {
    const given = options.fetch
    this.$fetch = isOfetch(given) ? given : given ? createFetch({ fetch: given as typeof globalThis.fetch }) : ofetch
    this.codec = options.superjson ?? SuperJSON
    const hooks: Record<string, unknown> = {}
    for (const name of HOOKS) if (options[name] !== undefined) hooks[name] = options[name]
    this.hooks = hooks as FetchOptions
  }

  send(query: Query, signal?: AbortSignal): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(aborted(signal))
      const pending: Pending = { query, signal, resolve, reject, settled: false }
      signal?.addEventListener('abort', () => settle(pending, () => reject(aborted(signal))), { once: true })
      if (this.options.batch === false) {
        void this.dispatch([pending])
        return
      }
      this.queue.push(pending)
      this.schedule()
    })
  }

  /** Flushes the queue once this tick (or the batch window) is over. */
  private schedule(): void {
    if (this.scheduled) return
    this.scheduled = true
    const windowMs = this.options.batch === false ? 0 : (this.options.batch?.windowMs ?? 0)
    if (windowMs > 0) setTimeout(() => this.flush(), windowMs)
    else afterThisTick(() => this.flush())
  }

  private flush(): void {
    this.scheduled = false
    const queue = this.queue.filter((p) => !p.settled)
    this.queue = []
    const size = this.options.batch === false ? 1 : (this.options.batch?.maxSize ?? 50)
    for (let i = 0; i < queue.length; i += size) void this.dispatch(queue.slice(i, i + size))
    if (this.pinged) {
      this.pinged = false
      void this.dispatch([])
    }
  }

  plain(query: Query): unknown {
    return JSON.parse(this.codec.stringify(query))
  }

  observe(observer: RequestObserver): void {
    this.observers.add(observer)
  }

  ping(): void {
    this.pinged = true
    this.schedule()
  }

  private async dispatch(batch: Pending[]): Promise<void> {
    // The request is cancelled only when every caller in it has given up (signals, and
    // the controllers they need, only when a caller passed one).
    const controller = batch.some((p) => p.signal) ? new AbortController() : undefined
    const onAbort = () => batch.every((p) => p.settled) && controller?.abort()
    for (const p of batch) p.signal?.addEventListener('abort', onAbort, { once: true })
    try {
      const body = await this.post(batch.map((p) => p.query), controller?.signal, false)
      batch.forEach((p, i) => {
        const result = body.results[i]
        if (result === undefined) {
          settle(p, () => p.reject(new AsyncOrmError({ code: 'INTERNAL', message: 'the executor sent fewer results than queries' })))
        } else if ('error' in result) {
          settle(p, () => p.reject(fromWire(result.error)))
        } else {
          settle(p, () => p.resolve(result.data))
        }
      })
    } catch (error) {
      for (const p of batch) settle(p, () => p.reject(error))
    } finally {
      for (const p of batch) p.signal?.removeEventListener('abort', onAbort)
    }
  }

  /**
   * Sends `queries` as one transaction, apart from any batch: all applied or none. Rejects
   * with the failing query's error, its position in `queryIndex`.
   */
  async sendAtomic(queries: Query[], signal?: AbortSignal): Promise<unknown[]> {
    if (signal?.aborted) throw aborted(signal)
    try {
      const { results, failed: reported } = await this.post(queries, signal, true)
      const failed = typeof reported === 'number' ? reported : results.findIndex((result) => 'error' in result)
      if (failed !== -1 && results[failed] && 'error' in results[failed]) {
        const { error } = results[failed] as { error: WireError }
        const wire = fromWire(error)
        throw new AsyncOrmError({ code: wire.code, status: wire.status, message: `transaction query ${failed}: ${wire.message}`, queryIndex: failed, ...(wire.requestId !== undefined && { requestId: wire.requestId }) })
      }
      return results.map((result) => (result as { data: unknown }).data)
    } catch (error) {
      if (signal?.aborted) throw aborted(signal)
      throw error
    }
  }

  private async post(queries: Query[], signal: AbortSignal | undefined, atomic: boolean, extend = true): Promise<ResponseBody> {
    const writes = queries.some((query) => CHANGING_OPS.has(query.op))
    let extended: object | undefined
    if (extend) {
      for (const observer of this.observers) {
        try {
          extended = { ...extended, ...observer.extend?.(queries) }
        } catch {
          // An observer's failure is its own: the request goes without what it would add.
        }
      }
    }
    // A ping that no observer had anything for sends nothing.
    if (queries.length === 0 && Object.keys(extended ?? {}).length === 0) return { results: [] }
    const sent: SentRequest = { queries, atomic, extended, attempted: false, unanswered: false }
    let body: ResponseBody
    try {
      const response = await this.exchange(this.codec.stringify({ v: PROTOCOL_VERSION, queries, ...(atomic && { atomic }), ...extended }), writes, signal, 'text', sent)
      body = sent.body = parse(this.options.url, response, typeof response._data === 'string' ? response._data : '', this.codec)
    } catch (error) {
      sent.error = error
      this.settled(sent)
      // A request of reads that an executor refused whole, with what observers added (a field
      // it does not know, an answer they made too large), goes again without it; they saw
      // why. (A write never does: it may have been applied.)
      const refused = error instanceof AsyncOrmError && (error.code === 'BAD_REQUEST' || error.code === 'LIMIT_EXCEEDED')
      if (refused && !writes && Object.keys(extended ?? {}).length > 0) return queries.length === 0 ? { results: [] } : this.post(queries, signal, atomic, false)
      throw error
    }
    this.settled(sent)
    return body
  }

  /** Shows a request that settled to the observers, before its callers resume. */
  private settled(sent: SentRequest): void {
    for (const observer of this.observers) {
      try {
        observer.settled(sent)
      } catch {
        // An observer's failure is its own: the request's callers still get their answers.
      }
    }
  }

  /**
   * Sends `query` (a select) as a stream and yields its rows as they arrive, batch by
   * batch; stopping early (`break`, `return`, the signal) cancels the answer, which frees
   * the executor's connection. Sent alone, never batched; retried as a read until the
   * answer starts, never after.
   */
  async *stream(query: Query, signal?: AbortSignal): AsyncGenerator<unknown, void, undefined> {
    if (signal?.aborted) throw aborted(signal)
    const { url } = this.options
    const response = await this.exchange(this.codec.stringify({ v: PROTOCOL_VERSION, queries: [query], stream: true }), false, signal, 'stream')
    const body = response._data as ReadableStream<Uint8Array> | undefined
    if (response.status !== 200 || !body) {
      const text = body ? await new Response(body).text() : ''
      parse(url, response, text, this.codec)
      // A 200 that is not a stream: answered by something other than an executor.
      throw new AsyncOrmError({ code: 'INTERNAL', status: response.status, message: `[POST ${url}] ${response.status}: the response is not an async-orm stream` })
    }
    const reader = body.getReader()
    const decoder = new TextDecoder()
    const stop = () => void reader.cancel().catch(() => undefined)
    signal?.addEventListener('abort', stop, { once: true })
    let ended = false
    try {
      let buffered = ''
      for (;;) {
        const chunk = await reader.read().catch((error: unknown) => {
          throw signal?.aborted ? aborted(signal) : new AsyncOrmError({ code: 'NETWORK_ERROR', message: `[POST ${url}] network error: ${rootCause(error)}`, cause: error })
        })
        if (signal?.aborted) throw aborted(signal)
        if (chunk.done) throw new AsyncOrmError({ code: 'NETWORK_ERROR', message: `[POST ${url}] the stream was cut off before its end` })
        const lines = (buffered + decoder.decode(chunk.value, { stream: true })).split('\n')
        buffered = lines.pop()!
        for (const text of lines) {
          const line = readLine(url, text, this.codec)
          if ('rows' in line && Array.isArray(line.rows)) {
            for (const row of line.rows) {
              // The caller may abort between rows: it stops here, not a batch later.
              if (signal?.aborted) throw aborted(signal)
              yield row
            }
            continue
          }
          ended = true
          if ('error' in line) throw fromWire({ ...line.error, message: `[POST ${url}] ${line.error.code}: ${line.error.message}` })
          return
        }
      }
    } finally {
      signal?.removeEventListener('abort', stop)
      // Stopped early (or failed): the answer is cancelled, and the executor stops reading.
      if (!ended) await reader.cancel().catch(() => undefined)
      reader.releaseLock()
    }
  }

  /**
   * One exchange with the executor, retried after network errors and 503s; answers the
   * response (any status), its body read as `responseType`.
   */
  private async exchange(body: string, writes: boolean, signal: AbortSignal | undefined, responseType: 'text' | 'stream', sent?: SentRequest): Promise<FetchResponse<unknown>> {
    const { url } = this.options
    // One key per logical call, kept across retries, so the executor can apply it once.
    const idempotencyKey = writes ? randomKey() : undefined
    const retries = writes && this.options.retryMutations === false ? 0 : (this.options.retry ?? 2)
    // Once an attempt got no answer it may have been applied: later attempts say so, and an
    // executor without an idempotency store refuses them rather than writing twice.
    let mayBeApplied = false
    for (let attempt = 0; ; attempt++) {
      const own = await resolveHeaders(this.options.headers)
      // A caller that gave up while the headers were made: nothing is sent.
      if (signal?.aborted) throw aborted(signal)
      if (sent) [sent.headers, sent.attempted] = [own, true]
      const headers = requestHeaders(own, idempotencyKey, writes && mayBeApplied, this.position)
      let response: FetchResponse<unknown>
      // Each attempt stops when the caller gives up or its own timeout passes.
      const { timeout } = this.options
      const attempt$ = signal || timeout !== undefined ? new AbortController() : undefined
      const stop = () => attempt$?.abort()
      signal?.addEventListener('abort', stop, { once: true })
      let timedOut = false
      const timer = timeout === undefined ? undefined : setTimeout(() => ((timedOut = true), stop()), timeout)
      try {
        // One attempt: the retries are this loop's. The body is read as text (a connection
        // lost while reading it is a network error too).
        response = await this.$fetch.raw(url, {
          ...this.hooks,
          method: 'POST',
          body,
          headers,
          retry: 0,
          responseType,
          ...(attempt$ && { signal: attempt$.signal }),
        })
      } catch (error) {
        if (signal?.aborted) throw aborted(signal)
        // ofetch throws for an error status; that is an answer all the same.
        const answered = (error as { response?: typeof response }).response
        if (answered !== undefined) response = answered
        else {
          mayBeApplied = true
          if (sent) sent.unanswered = true
          if (attempt < retries) {
            await sleep(backoff(this.options.retryDelay ?? 200, attempt), signal)
            continue
          }
          const reason = timedOut ? `no answer within ${timeout} ms` : rootCause(error)
          throw new AsyncOrmError({ code: 'NETWORK_ERROR', message: `[POST ${url}] network error: ${reason}`, cause: error })
        }
      } finally {
        clearTimeout(timer)
        signal?.removeEventListener('abort', stop)
      }
      if (response.status === 503 && attempt < retries) {
        await sleep(backoff(this.options.retryDelay ?? 200, attempt), signal)
        continue
      }
      // Any answer may carry one: a write whose outcome is unknown is answered with the
      // position to check it at.
      const position = response.headers.get(WAL_POSITION_HEADER)
      if (position !== null) this.position = newerPosition(this.position, position)
      return response
    }
  }
}

type StreamLine = { rows: unknown[] } | { done: true; rows: number } | { error: WireError }

/** One line of a stream's answer, read with the client's SuperJSON instance. */
function readLine(url: string, text: string, codec: SuperJSONCodec): StreamLine {
  let line: Partial<Record<'rows' | 'done' | 'error', unknown>> | null
  try {
    line = codec.parse(text)
  } catch (error) {
    throw unreadableAnswer(url, error)
  }
  const wire = line?.error as Partial<WireError> | undefined
  if (Array.isArray(line?.rows) || line?.done === true || typeof wire?.message === 'string') return line as StreamLine
  throw new AsyncOrmError({ code: 'INTERNAL', status: 200, message: `[POST ${url}] the stream holds a line that is not an async-orm answer` })
}

function unreadableAnswer(url: string, error: unknown): AsyncOrmError {
  const reason = error instanceof Error ? error.message : String(error)
  return new AsyncOrmError({
    code: 'INTERNAL',
    status: 200,
    message: `[POST ${url}] the answer could not be read (${reason}): give the client the SuperJSON instance the executor uses (createClient({ superjson }))`,
    cause: error,
  })
}

/** ofetch's hooks, as `createClient` takes them. */
const HOOKS = ['onRequest', 'onRequestError', 'onResponse', 'onResponseError'] as const

/** An ofetch instance (`$fetch`, `ofetch.create(…)`), rather than a plain fetch function. */
function isOfetch(value: unknown): value is $Fetch {
  return typeof value === 'function' && typeof (value as Partial<$Fetch>).raw === 'function' && typeof (value as Partial<$Fetch>).create === 'function'
}

function parse(url: string, response: Response, text: string, codec: SuperJSONCodec): ResponseBody {
  let decoded: unknown
  let unreadable: unknown
  try {
    decoded = codec.parse(text)
  } catch (error) {
    decoded = undefined
    unreadable = error
  }
  if (response.status === 200 && isResponseBody(decoded)) return decoded
  // An executor's answer this client's SuperJSON instance cannot read: a custom type
  // registered on the executor's instance and not on this one, as a rule.
  if (response.status === 200 && unreadable !== undefined && text.startsWith('{"json"')) throw unreadableAnswer(url, unreadable)
  const wire = (decoded as Partial<ErrorBody> | undefined)?.error
  if (wire && isErrorCode(wire.code) && typeof wire.message === 'string') {
    throw fromWire({ ...wire, message: `[POST ${url}] ${response.status} ${wire.code}: ${wire.message}` }, response.status)
  }
  const code = codeForStatus(response.status)
  throw new AsyncOrmError({
    code,
    status: response.status,
    message: `[POST ${url}] ${response.status} ${response.statusText || code}: the response is not an async-orm answer`,
  })
}

function isResponseBody(value: unknown): value is ResponseBody {
  return value !== null && typeof value === 'object' && Array.isArray((value as ResponseBody).results)
}

function fromWire(error: WireError, status?: number): AsyncOrmError {
  const known = isErrorCode(error.code)
  return new AsyncOrmError({
    code: known ? error.code : 'INTERNAL',
    status: status ?? (known ? ERROR_STATUS[error.code] : 500),
    message: String(error.message),
    ...(error.requestId !== undefined && { requestId: error.requestId }),
  })
}

/** The code for a status that came without an executor's answer (a proxy's, say). */
function codeForStatus(status: number): ErrorCode {
  if (status === 502) return 'UNAVAILABLE'
  return ERROR_CODES.find((code) => ERROR_STATUS[code] === status) ?? 'INTERNAL'
}

/** The caller's headers with the protocol's own; a fresh plain object when the caller set none. */
function requestHeaders(own: HeadersInit | undefined, idempotencyKey: string | undefined, retry: boolean, position: string | undefined): HeadersInit {
  if (own === undefined && !retry && position === undefined) return idempotencyKey ? { 'content-type': 'application/json', 'idempotency-key': idempotencyKey } : { 'content-type': 'application/json' }
  const headers = new Headers(own)
  headers.set('content-type', 'application/json')
  if (idempotencyKey) headers.set('idempotency-key', idempotencyKey)
  if (retry) headers.set('idempotency-retry', '1')
  if (position !== undefined) headers.set(WAL_POSITION_HEADER, position)
  return headers
}

async function resolveHeaders(option: HeadersOption | undefined): Promise<HeadersInit | undefined> {
  return typeof option === 'function' ? option() : option
}

/**
 * Runs `fn` once the current task's microtasks have all run, so querysets awaited
 * through `Promise.all` (whose `then` is called a microtask later) or after a few
 * `await`s in the same task still join the batch. Node: a `nextTick` queued from a
 * microtask runs after the microtask queue drains (as DataLoader does); elsewhere a
 * zero-delay timer runs after every microtask of the task.
 */
function afterThisTick(fn: () => void): void {
  const nextTick = (globalThis as { process?: { nextTick?: (fn: () => void) => void } }).process?.nextTick
  if (typeof nextTick === 'function') void Promise.resolve().then(() => nextTick(fn))
  else setTimeout(fn, 0)
}

/** A random v4 UUID; `crypto.randomUUID` exists only in secure contexts, `getRandomValues` everywhere. */
function randomKey(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID()
  const bytes = crypto.getRandomValues(new Uint8Array(16))
  bytes[6] = (bytes[6]! & 0x0f) | 0x40
  bytes[8] = (bytes[8]! & 0x3f) | 0x80
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

function settle(pending: Pending, action: () => void): void {
  if (pending.settled) return
  pending.settled = true
  action()
}

function aborted(signal: AbortSignal): AsyncOrmError {
  return new AsyncOrmError({ code: 'ABORTED', message: 'the query was aborted', cause: signal.reason })
}

function backoff(base: number, attempt: number): number {
  return base * 2 ** attempt * (0.5 + Math.random() / 2)
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(aborted(signal))
    const timer = setTimeout(resolve, ms)
    signal?.addEventListener('abort', () => (clearTimeout(timer), reject(aborted(signal))), { once: true })
  })
}

/**
 * What went wrong at the bottom of an error's causes (`connect ECONNREFUSED 127.0.0.1:1`
 * rather than ofetch's and undici's wrappers around it).
 */
function rootCause(error: unknown): string {
  let current = error
  for (let depth = 0; depth < 5; depth++) {
    const cause = (current as { cause?: unknown } | null)?.cause
    if (cause === undefined || cause === null) break
    current = cause
  }
  if (current instanceof Error) return current.message || current.name
  if (error instanceof Error) return error.message
  return String(error)
}
