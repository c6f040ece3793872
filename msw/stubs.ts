/**
 * MSW stubs for client tests, in Node or in a browser (`msw/browser`): answer chosen
 * models and operations with given data, an error code or after a delay, and inspect
 * the query ASTs the client sent. No database and no executor: for those, see
 * `createOrmMock` in `async-orm/msw`.
 */
import { delay as wait, http, HttpResponse, type HttpHandler } from 'msw'
import { ERROR_STATUS, type ErrorCode } from '../shared/error-codes.js'
import type { Query } from '../shared/query-ast.js'
import SuperJSON from 'superjson'
import { customTypesOf, decode, encode, type QueryResult, type RequestBody, type SuperJSONCodec } from '../shared/wire.js'

/** A query's operation as stubs match it: `select`, `first`, …, `insert`, `patch`, `call`. */
export type StubOp = Query['op']

type Answer = { readonly data: unknown } | { readonly error: ErrorCode; readonly message?: string } | ((query: Query) => unknown)

interface Rule {
  readonly model: string
  readonly op: StubOp | '*'
  readonly answer: Answer
  readonly delayMs: number
}

/** One request as the stub received it. */
export interface SentRequest {
  readonly queries: readonly Query[]
  readonly atomic: boolean
  /** Sent by `qs.stream()`: answered as a stream of the stubbed rows. */
  readonly stream: boolean
  readonly headers: Headers
}

export interface OrmStubs {
  /** The MSW handler to pass to `setupServer(…)`, `setupWorker(…)` or `server.use(…)`. */
  readonly handler: HttpHandler
  /** Every request received, in order, with its decoded queries. */
  readonly requests: readonly SentRequest[]
  /** Every query received, in order. */
  readonly queries: readonly Query[]
  /**
   * Answers `model`'s `op` queries (`'*'` for any op; for procedure calls the model is the
   * procedure's name) with `data`, or with a function of the query.
   */
  answer(model: string, op: StubOp | '*', data: unknown): OrmStubs
  /** Fails `model`'s `op` queries with an error code (and message). */
  fail(model: string, op: StubOp | '*', code: ErrorCode, message?: string): OrmStubs
  /** Delays the answer to `model`'s `op` queries (the last rule added for them decides). */
  delay(model: string, op: StubOp | '*', ms: number): OrmStubs
  /** Forgets rules and recorded requests. */
  reset(): void
}

export function ormStubs(options: {
  readonly url: string | RegExp
  /** The app's SuperJSON instance, when queries or answers hold its custom types (as the client's `superjson`). */
  readonly superjson?: SuperJSONCodec
}): OrmStubs {
  const custom = customTypesOf(options.superjson ?? SuperJSON)
  const rules: Rule[] = []
  const requests: SentRequest[] = []
  const queries: Query[] = []
  const delays = new Map<string, number>()

  const find = (query: Query): Rule | undefined => {
    const model = query.op === 'call' ? query.procedure : query.model
    for (let i = rules.length - 1; i >= 0; i--) {
      const rule = rules[i]!
      if (rule.model === model && (rule.op === '*' || rule.op === query.op)) return rule
    }
    return undefined
  }

  const resolve = (query: Query): QueryResult => {
    const rule = find(query)
    const name = query.op === 'call' ? query.procedure : query.model
    if (!rule) return { error: { code: 'BAD_REQUEST', message: `no stub answers ${name}.${query.op}` } }
    const answer = rule.answer
    if (typeof answer === 'function') return { data: answer(query) }
    if ('error' in answer) return { error: { code: answer.error, message: answer.message ?? `stubbed ${answer.error}` } }
    return { data: answer.data }
  }

  const handler = http.post(options.url, async ({ request }) => {
    const body = decode<RequestBody & { stream?: boolean }>(await request.text(), custom)
    requests.push({ queries: body.queries, atomic: body.atomic === true, stream: body.stream === true, headers: request.headers })
    queries.push(...body.queries)
    const pause = Math.max(0, ...body.queries.map((q) => delays.get(key(q)) ?? delays.get(key(q, '*')) ?? 0))
    if (pause > 0) await wait(pause)
    const results = body.queries.map(resolve)
    if (body.stream) return streamOf(results[0]!, custom)
    if (body.atomic) {
      const failed = results.findIndex((r) => 'error' in r)
      if (failed !== -1) {
        const error = (results[failed] as { error: { code: ErrorCode; message: string } }).error
        const rolledBack = results.map((r, i) => (i === failed ? r : { error: { code: error.code, message: `not applied: query ${failed} of the transaction failed` } }))
        return json(encode({ results: rolledBack, failed }, custom))
      }
    }
    return json(encode({ results }, custom))
  })

  const stubs: OrmStubs = {
    handler,
    requests,
    queries,
    answer(model, op, data) {
      rules.push({ model, op, answer: typeof data === 'function' ? (data as (q: Query) => unknown) : { data }, delayMs: 0 })
      return stubs
    },
    fail(model, op, code, message) {
      if (!Object.hasOwn(ERROR_STATUS, code)) throw new TypeError(`unknown error code ${code}`)
      rules.push({ model, op, answer: { error: code, ...(message !== undefined && { message }) }, delayMs: 0 })
      return stubs
    },
    delay(model, op, ms) {
      delays.set(`${model}\u0000${op}`, ms)
      return stubs
    },
    reset() {
      rules.length = 0
      requests.length = 0
      queries.length = 0
      delays.clear()
    },
  }
  return stubs
}

function key(query: Query, op: string = query.op): string {
  return `${query.op === 'call' ? query.procedure : query.model}\u0000${op}`
}

/** Rows per line of a stubbed stream, as the executor sends them. */
const STREAM_BATCH = 1000

/**
 * A stream's answer as the executor gives it (`{ rows }` lines, then `{ done, rows }`),
 * or, for a failing stub, its refusal before any row.
 */
function streamOf(result: QueryResult, custom: ReturnType<typeof customTypesOf>): Response {
  if ('error' in result) {
    const code = result.error.code as ErrorCode
    return new HttpResponse(encode({ error: result.error }, custom), { status: ERROR_STATUS[code] ?? 500, headers: { 'content-type': 'application/json' } })
  }
  const rows = Array.isArray(result.data) ? result.data : [result.data]
  const lines: string[] = []
  for (let i = 0; i < rows.length; i += STREAM_BATCH) lines.push(encode({ rows: rows.slice(i, i + STREAM_BATCH) }, custom))
  lines.push(encode({ done: true, rows: rows.length }, custom))
  return new HttpResponse(lines.map((line) => `${line}\n`).join(''), { headers: { 'content-type': 'application/x-ndjson' } })
}

function json(text: string): Response {
  return new HttpResponse(text, { headers: { 'content-type': 'application/json' } })
}
