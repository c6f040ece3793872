/**
 * The executor: `(Request) => Promise<Response>`. Decode → validate → authorize →
 * compile → run → encode, with every thrown value turned into a wire error in one place.
 */
import type { Knex } from 'knex'
import type { ApiShape } from '../shared/api-types.js'
import { ERROR_STATUS } from '../shared/error-codes.js'
import SuperJSON from 'superjson'
import { customTypesOf, decode, decodeRequestText, encode, encodeOwned, type QueryResult, type SuperJSONCodec } from '../shared/wire.js'
import { buildApiMetadata, type ApiMetadata } from './api/api-metadata.js'
import { describeApi } from './session/describe-api.js'
import { columnNames, ExecutorError, toWireError, type ColumnNames, type Logger } from './executor-error.js'
import { OutageLog } from './outage.js'
import { resolveLimits, type Limits } from './limits.js'
import { authorize, defaultRoles, type RolesOf } from './validate/authorize.js'
import { IdempotencyStore, scopeOf, sha256, type IdempotencyOptions, type StoredAnswer } from './run/idempotency.js'
import { checkEnvelope, readBody } from './request-body.js'
import { assertAnswerSize } from './session/result-budget.js'
import { runStream, type StreamLine } from './run/run-stream.js'
import { CommitOutcomeUnknown, runBatch, writes, type Batch, type BatchEnvironment, type Checked } from './run/run-batch.js'
import { RequestValidator } from './validate/validate-write.js'
import { buildProcedures, type Procedure } from './api/procedures.js'
import { typeOverrides, type TypeOverrides } from './session/read-types.js'
import { ReadRouting, type ReplicationOptions } from './route/replicas.js'
import { assertPoolable, type Pooler } from './route/pooler.js'
import { requestedPosition } from './route/wal-position.js'
import { WAL_POSITION_HEADER } from '../shared/headers.js'

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
  /**
   * The SuperJSON instance of the app (the one its clients use): values of the custom
   * types registered on it (`registerCustom`) may be filter values, written values,
   * procedure arguments and results, and travel back in answers. Default: superjson's
   * default instance.
   */
  readonly superjson?: SuperJSONCodec
  /**
   * Parsers for PostgreSQL types pg reads as text, by type name, applied to every value
   * the executor reads or a write returns: `{ numeric: (text) => new Decimal(text) }`.
   * Register the type on `superjson` too, so that answers carry it.
   */
  readonly types?: Readonly<Record<string, (text: string) => unknown>>
  /**
   * Streaming standbys of the primary (`knex`), each a knex instance of its own. Read-only
   * requests (not `atomic`) and streams run on one of them, round robin, while it answers
   * and is no further behind than `replication.maxLagMs`; writes, atomic transactions and
   * procedure calls run on the primary. A read whose replica cannot be reached runs again
   * on the next one, then on the primary. With replicas, every answer to a request that
   * wrote carries the primary's WAL position after its commit (`async-orm-lsn` header);
   * the client sends the newest one back, and a read that carries one runs only on a
   * replica that has replayed past it, else on the primary (read-your-writes).
   */
  readonly replicas?: readonly Knex[]
  /** How far behind a replica may be, and how often that is checked (see `replicas`). */
  readonly replication?: ReplicationOptions
  /**
   * `'transaction'`: `knex` (and `replicas`) reach PostgreSQL through a pooler in
   * transaction mode (PgBouncer `pool_mode = transaction`, a provider's pooled URL).
   * `ready()` then refuses knex settings that set session state such a pooler does not
   * keep (`searchPath`, start-up parameters such as `statement_timeout`), naming what to
   * set instead. The executor itself keeps no session state. Default `'none'`.
   */
  readonly pooler?: Pooler
  /**
   * Whether a read-only request may ask for the API's description (`describe: true`): the
   * models the caller may read, their exposed relations into models it may read, and the
   * foreign keys between them; names only. `async-orm/tanstack-query` asks for it to
   * invalidate exactly the queries a write can change. `false` leaves it out of answers
   * (clients then invalidate more). Default `true`.
   */
  readonly describe?: boolean
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

/** knex's default pool size (`pool.max`), when the app's config gives none. */
const KNEX_POOL_MAX = 10

/** A stream's answer: one superjson document per line (`run-stream.ts`). */
const STREAM_HEADERS = { ...RESPONSE_HEADERS, 'content-type': 'application/x-ndjson; charset=utf-8' }

/**
 * Set by the client on a write it sends again after an attempt whose answer never came
 * (that attempt may have been applied). Without an idempotency store to tell, the
 * executor refuses such a retry instead of applying the write a second time.
 */
const RETRY_HEADER = 'idempotency-retry'

/** Refused origins logged, at most (each once). */
const MAX_LOGGED_ORIGINS = 100

export function createExecutor<Ctx = unknown>(options: ExecutorOptions<Ctx>): Executor {
  const { knex, api, auth } = options
  const limits = resolveLimits(options.limits, (knex.client as { config?: { pool?: { max?: number } } }).config?.pool?.max ?? KNEX_POOL_MAX)
  /** Streams running now (at most `limits.maxStreams`). */
  let streams = 0
  const logger = new OutageLog(options.logger ?? console)
  const rolesOf = (options.roles as RolesOf | undefined) ?? defaultRoles
  const connectionTimeout = options.statementTimeout === 'connection'
  const procedures = buildProcedures(options.procedures as Readonly<Record<string, Procedure>> | undefined)
  const store = options.idempotency
    ? new IdempotencyStore(knex, options.idempotency === true ? {} : options.idempotency)
    : undefined
  const custom = customTypesOf(options.superjson ?? SuperJSON)
  const routing = options.replicas?.length ? new ReadRouting(knex, options.replicas, options.replication ?? {}, logger, connectionTimeout) : undefined
  let compiled: Promise<{ validator: RequestValidator; names: ColumnNames; types: TypeOverrides; meta: ApiMetadata }> | undefined
  const compile = () =>
    (compiled ??= (async () => {
      if (options.pooler === 'transaction') {
        for (const [name, pooled] of [['knex', knex] as const, ...(options.replicas ?? []).map((r, i) => [`replicas[${i}]`, r] as const)]) {
          assertPoolable(pooled, name, options.statementTimeout ?? 'set-local', logger)
        }
      }
      const meta = await buildApiMetadata(api, knex, limits)
      await store?.ensureTable()
      if (connectionTimeout) await assertConnectionTimeout(knex)
      await routing?.checkNow()
      const types = await typeOverrides(
        async (text, values) => ((await knex.raw(text.replace(/\$1/, '?'), values as Knex.RawBinding[])) as { rows: { oid: unknown; name: unknown }[] }).rows,
        options.types,
      )
      return { validator: new RequestValidator(meta, limits, procedures, custom), names: columnNames(meta), types, meta }
    })().catch((error: unknown) => {
      // A mistake in the API or the options stays (TypeError); anything else (the database
      // unreachable at start) is tried again by the next request or ready().
      if (!(error instanceof TypeError)) compiled = undefined
      throw error
    }))

  const corsOrigins = new Set(options.cors?.origins ?? [])

  async function handle(request: Request): Promise<Response> {
    const cross = crossOrigin(request)
    if (cross === false) return refuseOrigin(request)
    const response = await respond(request, cross)
    if (cross) {
      response.headers.set('access-control-allow-origin', cross)
      response.headers.append('vary', 'Origin')
      response.headers.set('access-control-expose-headers', `idempotent-replayed, ${WAL_POSITION_HEADER}`)
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

  /** Origins refused so far, each logged once (at most `MAX_LOGGED_ORIGINS`: a client choosing origins cannot fill the log). */
  const refusedOrigins = new Set<string>()

  /**
   * A request from an origin not on `cors.origins`, refused before its body is read. The
   * refusal itself carries that origin's CORS headers (its preflight is answered too), so
   * the page sees `FORBIDDEN` and why, rather than a bare network error; nothing else
   * of the executor is reachable from that origin.
   */
  function refuseOrigin(request: Request): Response {
    const origin = request.headers.get('origin')!
    const shown = origin.length > 100 ? `${origin.slice(0, 100)}…` : origin
    if (!refusedOrigins.has(origin) && refusedOrigins.size < MAX_LOGGED_ORIGINS) {
      refusedOrigins.add(origin)
      const log = logger.info ? logger.info.bind(logger) : logger.error.bind(logger)
      log(`async-orm executor: refused requests from origin ${shown}: it is not in cors.origins`, { origin: shown })
    }
    const headers = { 'access-control-allow-origin': origin, vary: 'Origin' }
    if (request.method === 'OPTIONS') {
      return new Response(null, { status: 204, headers: { ...headers, ...preflightHeaders(), 'access-control-max-age': '0' } })
    }
    const response = failure(new ExecutorError('FORBIDDEN', `requests from origin ${shown} are not allowed: list it in createExecutor({ cors: { origins } })`), crypto.randomUUID())
    for (const [name, value] of Object.entries(headers)) response.headers.set(name, value)
    return response
  }

  function preflightHeaders(): Record<string, string> {
    return { 'access-control-allow-methods': 'POST', 'access-control-allow-headers': `content-type, authorization, idempotency-key, ${RETRY_HEADER}, ${WAL_POSITION_HEADER}` }
  }

  function failure(error: unknown, requestId: string): Response {
    const wire = toWireError(error, requestId, logger)
    return new Response(encode({ error: wire }), { status: ERROR_STATUS[wire.code], headers: RESPONSE_HEADERS })
  }

  async function respond(request: Request, cross: string | undefined): Promise<Response> {
    const requestId = crypto.randomUUID()
    try {
      if (request.method === 'OPTIONS' && cross) {
        return new Response(null, { status: 204, headers: { ...preflightHeaders(), 'access-control-max-age': String(options.cors?.maxAge ?? 600) } })
      }
      if (request.method !== 'POST') throw new ExecutorError('BAD_REQUEST', 'use POST')
      const contentType = request.headers.get('content-type') ?? ''
      if (!/^application\/json\s*(;|$)/i.test(contentType)) {
        throw new ExecutorError('BAD_REQUEST', 'content-type must be application/json')
      }
      const after = requestedPosition(request)
      const text = await readBody(request, limits.maxBodyBytes)
      // Who is calling is settled before the body is parsed: parsing is what costs.
      const ctx = await authenticate(request, text)
      const body = decodeRequestText(text, { maxDepth: limits.maxAstDepth, maxNodes: limits.maxAstNodes, maxStringLength: limits.maxStringLength }, custom)
      const { queries, atomic, stream, describe } = checkEnvelope(body, limits)
      const { validator, names, types, meta } = await compile()
      const report = (error: unknown) => toWireError(error, requestId, logger, names)
      const roles = ctx === null ? [] : rolesOf(ctx)
      const env: BatchEnvironment = { knex, limits, connectionTimeout, report, signal: () => request.signal, types }
      if (stream) {
        const { read, capped } = validator.stream(queries[0])
        authorize(read, ctx, roles)
        // A batch of rows is this stream's own (encoded in place); other lines are small.
        const encodeLine = (line: StreamLine) => ('done' in line || 'error' in line ? encode(line, custom) : encodeOwned(line, custom))
        const lines = await onReplicas(
          after,
          (on) => {
            streams++
            return runStream({ read, capped, ctx, roles }, on, encodeLine, () => streams--)
          },
          env,
          // Before each attempt: a stream that moved to another database counts again.
          () => {
            if (streams >= limits.maxStreams) throw new ExecutorError('UNAVAILABLE', `${limits.maxStreams} streams are running already (maxStreams); try again shortly`)
          },
        )
        logger.available()
        return new Response(lines, { status: 200, headers: STREAM_HEADERS })
      }
      const checked = queries.map((query, index): Checked => {
        try {
          const valid = validator.query(query, index)
          authorize(valid, ctx, roles)
          return valid
        } catch (error) {
          return report(error)
        }
      })
      const batch: Batch = { ctx, roles, queries: checked, atomic }
      if (!checked.some(writes)) {
        // The description rides on a read-only answer (a client asks with its first reads).
        const api = describe && options.describe !== false ? { api: describeApi(meta, ctx, roles) } : undefined
        if (checked.length === 0) return answer(sized(encode({ results: [], ...api }, custom)))
        // A read-only answer holds only rows this request read: encoded in place, not copied.
        const read = (on: BatchEnvironment) => runBatch(batch, on, async (body) => sized(encodeOwned(api ? { ...body, ...api } : body, custom)))
        return answer(await (atomic ? read(env) : onReplicas(after, read, env)))
      }
      if (!routing) return await write(request, requestId, text, ctx, batch, env)
      // With replicas, every answer to a write request carries the primary's WAL position:
      // after its commit, or (a failure, which an earlier attempt may not have had) now.
      let position: string | undefined
      let response: Response
      try {
        response = await write(request, requestId, text, ctx, batch, { ...env, committedAt: (at) => (position = at) })
      } catch (error) {
        response = failure(error, requestId)
      }
      return await withPosition(response, position)
    } catch (error) {
      return failure(error, requestId)
    }
  }

  /** Runs a read-only request on a replica (see `ReadRouting.read`), or without replicas on the primary. */
  function onReplicas<T>(after: bigint | undefined, run: (env: BatchEnvironment) => Promise<T>, env: BatchEnvironment, before?: () => void): Promise<T> {
    if (routing) return routing.read(after, env, run, before)
    before?.()
    return run(env)
  }

  /** Runs a request that writes: once per `Idempotency-Key` with the store, else as it comes. */
  async function write(request: Request, requestId: string, text: string, ctx: Ctx | null, batch: Batch, env: BatchEnvironment): Promise<Response> {
    const key = request.headers.get('idempotency-key')
    const retry = request.headers.get(RETRY_HEADER) !== null
    if (!store || key === null) {
      if (retry) {
        throw new ExecutorError(
          'CONFLICT',
          'this write may have been applied already (an earlier attempt got no answer), and the executor keeps no idempotency store to tell; check before writing again',
        )
      }
      try {
        return answer(await runBatch(batch, env, async (body) => sized(encode(body, custom))))
      } catch (error) {
        if (!(error instanceof CommitOutcomeUnknown)) throw error
        // Not UNAVAILABLE: a client retries that, and the writes may have been applied.
        logger.error('async-orm executor: the database connection was lost before the writes were confirmed', { requestId, error: error.cause })
        throw new ExecutorError('INTERNAL', 'the database connection was lost before the writes were confirmed: they may or may not have been applied')
      }
    }
    const response = await once(store, IdempotencyStore.key(key), await sha256(scopeOf(ctx)), await sha256(text), batch, env)
    store.sweep((error) => logger.error('async-orm executor: sweeping the idempotency store failed', { error }))
    return response
  }

  /**
   * A write request's answer with the WAL position its client's reads must see next: the
   * one its commit reached, else (an answer that may follow a commit) the primary's now,
   * within `acquireTimeoutMs`.
   */
  async function withPosition(response: Response, committed: string | undefined): Promise<Response> {
    // Other failures (refused, out of time, no connection) committed nothing.
    if (committed === undefined && !POSITIONED_STATUSES.has(response.status)) return response
    try {
      response.headers.set(WAL_POSITION_HEADER, committed ?? (await routing!.position(limits.acquireTimeoutMs)))
    } catch (error) {
      // The answer stands without it: the client's next reads may then be served by a
      // replica that has not replayed this request's writes yet.
      logger.error('async-orm executor: reading the WAL position for a write request failed', { error })
    }
    return response
  }

  /** The answer's text, once it is known to be within `maxResponseBytes`. */
  function sized(text: string): string {
    assertAnswerSize(text, limits.maxResponseBytes)
    return text
  }

  /**
   * Runs a write request once per key: replays a saved answer (running its reads again),
   * or saves what its writes answered as it commits.
   */
  async function once(store: IdempotencyStore, key: string, scope: string, requestHash: string, batch: Batch, env: BatchEnvironment): Promise<Response> {
    const replay = async (saved: StoredAnswer) => {
      if (saved.requestHash !== requestHash) {
        throw new ExecutorError('CONFLICT', 'this Idempotency-Key was used for a different request')
      }
      const body = decode<SavedAnswer>(saved.response, custom)
      const known = new Map<number, QueryResult>()
      body.results.forEach((result, index) => result !== null && known.set(index, result))
      if (known.size === batch.queries.length) return answer(saved.response, true)
      return answer(await runBatch({ ...batch, saved: known }, env, async (answer) => sized(encode({ ...answer, ...(body.failed !== undefined && { failed: body.failed }) }, custom))), true)
    }
    const saved = await store.lookup(key, scope)
    if (saved) return replay(saved)
    try {
      return answer(
        await runBatch({ ...batch, keepsAnswer: true }, env, async (body, session) => {
          const text = sized(encode(body, custom))
          // Reads are not kept (they run again on a replay): only what the writes answered.
          const kept: SavedAnswer = { ...body, results: body.results.map((result, index) => (writes(batch.queries[index]!) || 'error' in result ? result : null)) }
          if (session) await store.save(session, key, scope, requestHash, kept.results.every((r) => r !== null) ? text : encode(kept, custom))
          return text
        }),
      )
    } catch (error) {
      // With the store a retry settles it (the answer was saved, or nothing was): UNAVAILABLE.
      if (error instanceof CommitOutcomeUnknown) throw error.cause
      if (!store.isDuplicate(error)) throw error
      // A concurrent request with this key committed first: answer as it did.
      const winner = await store.lookup(key, scope)
      if (!winner) throw error
      return replay(winner)
    }
  }

  function answer(text: string, replayed = false): Response {
    logger.available()
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

/**
 * Answers to a write request that may follow a commit: applied (200), of unknown outcome
 * (500), or a retry refused because an earlier attempt may have been applied (409).
 */
const POSITIONED_STATUSES: ReadonlySet<number> = new Set([200, 409, 500])

/** A saved answer: the results of its writes, `null` where a read ran (it runs again on a replay). */
interface SavedAnswer {
  readonly results: readonly (QueryResult | null)[]
  readonly failed?: number
}

/** `statementTimeout: 'connection'` is a promise about the pool: check it once. */
async function assertConnectionTimeout(knex: Knex): Promise<void> {
  const result = (await knex.raw('show statement_timeout')) as { rows: { statement_timeout: string }[] }
  const setting = result.rows[0]?.statement_timeout
  if (!setting || setting === '0') {
    throw new TypeError(
      "statementTimeout: 'connection' needs statement_timeout set for the pg connection: the knex connection option, or (behind a pooler) the role's or the database's setting (ALTER ROLE … SET statement_timeout = '5s'; PgBouncer's server connections opened before it keep the old value until they are replaced: RECONNECT on its admin console)",
    )
  }
}
