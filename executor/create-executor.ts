/**
 * The executor: `(Request) => Promise<Response>`. Decode → validate → authorize →
 * compile → run → encode, with every thrown value turned into a wire error in one place.
 */
import type { Knex } from 'knex'
import type { ApiShape } from '../shared/api-types.js'
import { ERROR_STATUS, type WireError } from '../shared/error-codes.js'
import { decodeRequestText, encode, encodeOwned, PROTOCOL_VERSION, type QueryResult, type ResponseBody } from '../shared/wire.js'
import { buildApiMetadata } from './api-metadata.js'
import { columnNames, ExecutorError, toWireError, type ColumnNames, type Logger } from './executor-error.js'
import { resolveLimits, type Limits } from './limits.js'
import { authorize, defaultRoles, type RolesOf } from './authorize.js'
import { DbSession } from './db-session.js'
import { IdempotencyStore, scopeOf, sha256, type IdempotencyOptions, type StoredAnswer } from './idempotency.js'
import { RequestScope } from './request-scope.js'
import { pointReadKey, runPointReads, runRead } from './run-read.js'
import { RequestValidator, type CheckedQuery } from './validate-write.js'
import type { CheckedRead } from './validate-query.js'
import { runCall, runDelete, runInsert, runUpdate } from './run-write.js'
import { assertNever } from './sql.js'
import { buildProcedures, type Procedure } from './procedures.js'

export interface ExecutorOptions<Ctx> {
  /** The knex instance queries run on (pg client). */
  readonly knex: Knex
  /** The exposed models, by the name clients use. */
  readonly api: ApiShape
  /**
   * Who is calling. Return the context policies receive, or `null` for an anonymous
   * caller; throw an `ExecutorError('UNAUTHENTICATED', …)` to refuse the request.
   * Without `auth` every caller is anonymous (`ctx` is `null`).
   */
  readonly auth?: (request: Request, info: { readonly body: string }) => Ctx | null | Promise<Ctx | null>
  readonly limits?: Partial<Limits>
  /**
   * Apply each write request carrying an `Idempotency-Key` once, replaying its answer to
   * retries (answers are kept in a table it creates). Off by default.
   */
  readonly idempotency?: boolean | IdempotencyOptions
  /** Server procedures clients call with `db.call(name, args)`. */
  readonly procedures?: Readonly<Record<string, Procedure<any, any, Ctx>>>
  /**
   * Origins other than the executor's own that browsers may call it from. Requests from
   * any other origin are refused (`FORBIDDEN`) before their body is read; default: none.
   */
  readonly cors?: CorsOptions
  /**
   * Where `statement_timeout` comes from. `'set-local'` (default): every request runs in
   * a transaction that sets it with `SET LOCAL` (reads pay `BEGIN` and `COMMIT`).
   * `'connection'` (faster; recommended in production): the pg connection sets it
   * already (knex `connection: { statement_timeout: 5000 }`, checked by `ready()`), so
   * read-only requests that are not atomic run without a transaction, one statement per
   * query, and other requests skip `SET LOCAL`.
   */
  readonly statementTimeout?: 'set-local' | 'connection'
  /** The roles `allow: ['admin', …]` grants compare with; default `ctx.roles` or `[ctx.role]`. */
  readonly roles?: (ctx: Ctx) => readonly string[]
  /** Receives unexpected errors (SQL included); defaults to `console`. */
  readonly logger?: Logger
}

export interface CorsOptions {
  /** Exact origins, e.g. `['https://app.example.com']`. */
  readonly origins: readonly string[]
  /** Let browsers send cookies (`Access-Control-Allow-Credentials`). Default false. */
  readonly credentials?: boolean
  /** How long browsers may cache a preflight, in seconds. Default 600. */
  readonly maxAge?: number
}

export interface Executor {
  (request: Request): Promise<Response>
  /** Resolves once the API is compiled (tables introspected); rejects on a bad API. */
  ready(): Promise<void>
  readonly limits: Limits
}

const RESPONSE_HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
}

export function createExecutor<Ctx = unknown>(options: ExecutorOptions<Ctx>): Executor {
  const { knex, api, auth } = options
  const limits = resolveLimits(options.limits)
  const logger = options.logger ?? console
  const rolesOf = (options.roles as RolesOf | undefined) ?? defaultRoles
  const plainReads = options.statementTimeout === 'connection'
  const procedures = buildProcedures(options.procedures as Readonly<Record<string, Procedure>> | undefined)
  const store = options.idempotency
    ? new IdempotencyStore(knex, options.idempotency === true ? {} : options.idempotency)
    : undefined
  let compiled: Promise<{ validator: RequestValidator; names: ColumnNames }> | undefined
  const compile = () =>
    (compiled ??= (async () => {
      const meta = await buildApiMetadata(api, knex, limits)
      await store?.ensureTable()
      if (plainReads) await assertConnectionTimeout(knex)
      return { validator: new RequestValidator(meta, limits, procedures), names: columnNames(meta) }
    })())

  const corsOrigins = new Set(options.cors?.origins ?? [])

  async function handle(request: Request): Promise<Response> {
    const cross = crossOrigin(request)
    if (cross === false) return failure(new ExecutorError('FORBIDDEN', 'requests from this origin are not allowed'), crypto.randomUUID())
    const response = await respond(request, cross)
    if (cross) {
      response.headers.set('access-control-allow-origin', cross)
      response.headers.append('vary', 'Origin')
      if (options.cors?.credentials) response.headers.set('access-control-allow-credentials', 'true')
    }
    return response
  }

  /**
   * `undefined` for a same-origin or non-browser request, the origin for an allowed
   * cross-origin one, `false` for any other: the CSRF and CORS gate.
   */
  function crossOrigin(request: Request): string | false | undefined {
    const origin = request.headers.get('origin')
    if (origin === null) return undefined
    let own: string | undefined
    try {
      own = new URL(request.url).origin
    } catch {
      own = undefined
    }
    if (origin === own) return undefined
    return corsOrigins.has(origin) ? origin : false
  }

  function failure(error: unknown, requestId: string): Response {
    const wire = toWireError(error, requestId, logger)
    return new Response(encode({ error: wire }), { status: ERROR_STATUS[wire.code], headers: RESPONSE_HEADERS })
  }

  async function respond(request: Request, cross: string | undefined): Promise<Response> {
    const requestId = crypto.randomUUID()
    try {
      if (request.method === 'OPTIONS' && cross) {
        return new Response(null, {
          status: 204,
          headers: {
            'access-control-allow-methods': 'POST',
            'access-control-allow-headers': 'content-type, authorization, idempotency-key',
            'access-control-max-age': String(options.cors?.maxAge ?? 600),
          },
        })
      }
      if (request.method !== 'POST') throw new ExecutorError('BAD_REQUEST', 'use POST')
      const contentType = request.headers.get('content-type') ?? ''
      if (!/^application\/json\s*(;|$)/i.test(contentType)) {
        throw new ExecutorError('BAD_REQUEST', 'content-type must be application/json')
      }
      const text = await readBody(request, limits.maxBodyBytes)
      const body = decodeRequestText(text, { maxDepth: limits.maxAstDepth, maxNodes: limits.maxAstNodes })
      const { queries, atomic } = checkEnvelope(body, limits)
      const ctx = await authenticate(request, text)
      const { validator, names } = await compile()
      const report = (error: unknown) => toWireError(error, requestId, logger, names)
      const roles = ctx === null ? [] : rolesOf(ctx)
      const checked = queries.map((query, index): CheckedQuery | WireError => {
        try {
          const valid = validator.query(query, index)
          authorize(valid, ctx, roles)
          return valid
        } catch (error) {
          return report(error)
        }
      })
      const run = (beforeCommit?: BeforeCommit) =>
        runBatch(knex, checked, atomic, plainReads, new RequestScope(ctx), limits, report, beforeCommit)
      const key = request.headers.get('idempotency-key')
      const writes = checked.some((query) => !isWireError(query) && query.kind !== 'read')
      // A read-only answer holds only rows this request read: encoded in place, not copied.
      if (!writes) return answer(encodeOwned(await run()))
      if (!store || key === null) return answer(encode(await run()))
      return await once(store, IdempotencyStore.key(key), await sha256(scopeOf(ctx)), await sha256(text), run)
    } catch (error) {
      return failure(error, requestId)
    }
  }

  /** Runs a write request once per key: replays a saved answer, or saves this one as it commits. */
  async function once(
    store: IdempotencyStore,
    key: string,
    scope: string,
    requestHash: string,
    run: (beforeCommit?: BeforeCommit) => Promise<ResponseBody>,
  ): Promise<Response> {
    const replay = (saved: StoredAnswer) => {
      if (saved.requestHash !== requestHash) {
        throw new ExecutorError('CONFLICT', 'this Idempotency-Key was used for a different request')
      }
      return answer(saved.response, true)
    }
    const saved = await store.lookup(key, scope)
    if (saved) return replay(saved)
    let text = ''
    try {
      await run(async (body, session) => {
        text = encode(body)
        await store.save(session, key, scope, requestHash, text)
      })
      return answer(text)
    } catch (error) {
      if (!store.isDuplicate(error)) throw error
      // A concurrent request with this key committed first: answer as it did.
      const winner = await store.lookup(key, scope)
      if (!winner) throw error
      return replay(winner)
    }
  }

  function answer(text: string, replayed = false): Response {
    return new Response(text, { status: 200, headers: replayed ? { ...RESPONSE_HEADERS, 'idempotent-replayed': 'true' } : RESPONSE_HEADERS })
  }


  async function authenticate(request: Request, body: string): Promise<Ctx | null> {
    if (!auth) return null
    try {
      return (await auth(request, { body })) ?? null
    } catch (error) {
      if (error instanceof ExecutorError) throw error
      throw new ExecutorError('UNAUTHENTICATED', 'authentication failed', { cause: error })
    }
  }

  return Object.assign(handle, { ready: async () => void (await compile()), limits })
}

/** `statementTimeout: 'connection'` is a promise about the pool: check it once. */
async function assertConnectionTimeout(knex: Knex): Promise<void> {
  const result = (await knex.raw('show statement_timeout')) as { rows: { statement_timeout: string }[] }
  const setting = result.rows[0]?.statement_timeout
  if (!setting || setting === '0') {
    throw new TypeError("statementTimeout: 'connection' needs statement_timeout set on the pg connection (knex connection option)")
  }
}

function checkEnvelope(body: unknown, limits: Limits): { queries: readonly unknown[]; atomic: boolean } {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ExecutorError('BAD_REQUEST', 'request must be { v, queries }')
  }
  const { v, queries, atomic, ...rest } = body as Record<string, unknown>
  if (v !== PROTOCOL_VERSION) {
    throw new ExecutorError('UNSUPPORTED_VERSION', `protocol version ${String(v)} is not supported; this executor speaks ${PROTOCOL_VERSION}`)
  }
  const extra = Object.keys(rest)[0]
  if (extra !== undefined) throw new ExecutorError('BAD_REQUEST', `unknown field "${extra.slice(0, 40)}" in request`)
  if (!Array.isArray(queries) || queries.length === 0) {
    throw new ExecutorError('BAD_REQUEST', 'queries must be a non-empty array')
  }
  if (queries.length > limits.maxBatch) {
    throw new ExecutorError('LIMIT_EXCEEDED', `a request may carry at most ${limits.maxBatch} queries`)
  }
  if (atomic !== undefined && typeof atomic !== 'boolean') throw new ExecutorError('BAD_REQUEST', 'atomic must be a boolean')
  return { queries, atomic: atomic === true }
}

/** Reads the body, refusing it as soon as it passes `max` bytes (whatever Content-Length says). */
async function readBody(request: Request, max: number): Promise<string> {
  const length = request.headers.get('content-length')
  const declared = Number(length ?? 0)
  if (declared > max) throw new ExecutorError('PAYLOAD_TOO_LARGE', `request body is larger than ${max} bytes`)
  // With a declared length, the runtime reads no more than it (Node's HTTP parser, and
  // fetch, enforce it): read it whole, which adapters do without building a web stream.
  if (length !== null && /^\d+$/.test(length)) return decodeUtf8(new Uint8Array(await request.arrayBuffer()))
  if (!request.body) return ''
  const reader = request.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > max) {
      await reader.cancel()
      throw new ExecutorError('PAYLOAD_TOO_LARGE', `request body is larger than ${max} bytes`)
    }
    chunks.push(value)
  }
  const bytes = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    bytes.set(chunk, offset)
    offset += chunk.byteLength
  }
  return decodeUtf8(bytes)
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes)
  } catch {
    throw new ExecutorError('BAD_REQUEST', 'request body is not valid UTF-8')
  }
}

/**
 * Runs the valid queries in request order in one transaction with a
 * `statement_timeout`. Atomic requests stop at the first failure and roll back. Otherwise
 * a failure undoes only its own query: reads restart their read-only transaction, and
 * in a request that writes each query runs under a savepoint.
 */
async function runBatch(
  knex: Knex,
  checked: readonly (CheckedQuery | WireError)[],
  atomic: boolean,
  connectionTimeout: boolean,
  scope: RequestScope,
  limits: Limits,
  report: (error: unknown) => WireError,
  beforeCommit?: BeforeCommit,
): Promise<ResponseBody> {
  const invalid = checked.findIndex(isWireError)
  if (atomic && invalid !== -1) return rolledBack(checked.length, invalid, checked[invalid] as WireError)
  if (invalid !== -1 && checked.every(isWireError)) return { results: checked.map((error) => ({ error: error as WireError })) }
  const writes = checked.some((query) => !isWireError(query) && query.kind !== 'read')
  const session = await DbSession.start(knex, {
    readOnly: !writes,
    single: !atomic,
    connectionTimeout,
    statementTimeoutMs: limits.statementTimeoutMs,
    acquireTimeoutMs: limits.acquireTimeoutMs,
  })
  let commit = true
  try {
    const results: QueryResult[] = []
    const coalesced = writes || checked.length < 2 ? NOTHING_COALESCED : await coalescePointReads(session, checked, scope, report)
    for (const [index, query] of checked.entries()) {
      if (isWireError(query)) {
        results.push({ error: query })
        continue
      }
      if (coalesced.has(index)) {
        const outcome = coalesced.get(index)
        results.push(outcome instanceof PointReadFailure ? { error: outcome.error } : { data: outcome })
        continue
      }
      const run = () => runQuery(session, query, scope, limits)
      try {
        const data = atomic || !writes ? await run() : await session.isolated(run)
        scope.results[index] = data
        results.push({ data })
      } catch (error) {
        const wire = report(error)
        if (atomic) {
          commit = false
          return rolledBack(checked.length, index, wire)
        }
        results.push({ error: wire })
        if (!writes) await session.restart()
      }
    }
    await beforeCommit?.({ results }, session)
    return { results }
  } catch (error) {
    commit = false
    throw error
  } finally {
    await session.end(commit)
  }
}

const NOTHING_COALESCED: ReadonlyMap<number, unknown> = new Map()

/** A coalesced point read's failure, shared by every read in its group. */
class PointReadFailure {
  constructor(readonly error: WireError) {}
}

/**
 * In a read-only request, point reads of the same model and columns run as one
 * `where id in (…)` query (DataLoader-style), so twenty `findById`s cost one statement.
 */
async function coalescePointReads(
  session: DbSession,
  checked: readonly (CheckedQuery | WireError)[],
  scope: RequestScope,
  report: (error: unknown) => WireError,
): Promise<Map<number, unknown>> {
  const groups = new Map<string, { indices: number[]; ids: unknown[] }>()
  checked.forEach((query, index) => {
    if (isWireError(query) || query.kind !== 'read') return
    const key = pointReadKey(query)
    if (!key) return
    const group = groups.get(key.group) ?? { indices: [], ids: [] }
    group.indices.push(index)
    group.ids.push(key.id)
    groups.set(key.group, group)
  })
  const outcomes = new Map<number, unknown>()
  for (const { indices, ids } of groups.values()) {
    if (indices.length < 2) continue
    try {
      const rows = await runPointReads(session, indices.map((i) => checked[i] as CheckedRead), ids, scope)
      indices.forEach((index, k) => outcomes.set(index, rows[k]))
    } catch (error) {
      const failure = new PointReadFailure(report(error))
      for (const index of indices) outcomes.set(index, failure)
      await session.restart()
    }
  }
  for (const [index, outcome] of outcomes) if (!(outcome instanceof PointReadFailure)) scope.results[index] = outcome
  return outcomes
}

function runQuery(session: DbSession, query: CheckedQuery, scope: RequestScope, limits: Limits): Promise<unknown> {
  switch (query.kind) {
    case 'read':
      return runRead(session, query, scope, limits)
    case 'insert':
      return runInsert(session, query, scope)
    case 'update':
      return runUpdate(session, query, scope)
    case 'delete':
      return runDelete(session, query, scope)
    case 'call':
      return runCall(session, query, scope)
    default:
      return assertNever(query)
  }
}

/** Called with the answer just before a write request's transaction commits. */
type BeforeCommit = (answer: ResponseBody, session: DbSession) => Promise<void>

/** An atomic request's answer when query `failed` failed: it says why, the others that nothing was applied. */
function rolledBack(count: number, failed: number, error: WireError): ResponseBody {
  const results = Array.from({ length: count }, (_, i): QueryResult =>
    i === failed ? { error } : { error: { code: error.code, message: `not applied: query ${failed} of the transaction failed` } },
  )
  return { results, failed }
}

function isWireError(value: CheckedQuery | WireError): value is WireError {
  return 'code' in value
}
