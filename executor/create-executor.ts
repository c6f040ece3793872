/**
 * The executor: `(Request) => Promise<Response>`. Decode → validate → authorize →
 * compile → run → encode, with every thrown value turned into a wire error in one place.
 */
import type { Knex } from 'knex'
import type { ApiShape } from '../shared/api-types.js'
import { ERROR_STATUS, type WireError } from '../shared/error-codes.js'
import { decodeRequestText, encode, PROTOCOL_VERSION, type QueryResult } from '../shared/wire.js'
import { buildApiMetadata } from './api-metadata.js'
import { ExecutorError, toWireError, type Logger } from './executor-error.js'
import { resolveLimits, type Limits } from './limits.js'
import { DbSession } from './db-session.js'
import { ReadScope } from './read-scope.js'
import { runRead } from './run-read.js'
import { QueryValidator, type CheckedRead } from './validate-query.js'

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
  readonly auth?: (request: Request) => Ctx | null | Promise<Ctx | null>
  readonly limits?: Partial<Limits>
  /** Receives unexpected errors (SQL included); defaults to `console`. */
  readonly logger?: Logger
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
  let compiled: Promise<QueryValidator> | undefined
  const validator = () => (compiled ??= buildApiMetadata(api, knex, limits).then((meta) => new QueryValidator(meta, limits)))

  async function handle(request: Request): Promise<Response> {
    const requestId = crypto.randomUUID()
    try {
      if (request.method !== 'POST') throw new ExecutorError('BAD_REQUEST', 'use POST')
      const contentType = request.headers.get('content-type') ?? ''
      if (!/^application\/json\s*(;|$)/i.test(contentType)) {
        throw new ExecutorError('BAD_REQUEST', 'content-type must be application/json')
      }
      const text = await readBody(request, limits.maxBodyBytes)
      const body = decodeRequestText(text, { maxDepth: limits.maxAstDepth, maxNodes: limits.maxAstNodes })
      const queries = checkEnvelope(body, limits)
      const ctx = await authenticate(request)
      const check = await validator()
      const checked = queries.map((query): CheckedRead | WireError => {
        try {
          return check.read(query)
        } catch (error) {
          return toWireError(error, requestId, logger)
        }
      })
      const results = await runBatch(knex, checked, new ReadScope(ctx), limits, requestId, logger)
      return new Response(encode({ results }), { status: 200, headers: RESPONSE_HEADERS })
    } catch (error) {
      const wire = toWireError(error, requestId, logger)
      return new Response(encode({ error: wire }), { status: ERROR_STATUS[wire.code], headers: RESPONSE_HEADERS })
    }
  }

  async function authenticate(request: Request): Promise<Ctx | null> {
    if (!auth) return null
    try {
      return (await auth(request)) ?? null
    } catch (error) {
      if (error instanceof ExecutorError) throw error
      throw new ExecutorError('UNAUTHENTICATED', 'authentication failed', { cause: error })
    }
  }

  return Object.assign(handle, { ready: async () => void (await validator()), limits })
}

function checkEnvelope(body: unknown, limits: Limits): readonly unknown[] {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ExecutorError('BAD_REQUEST', 'request must be { v, queries }')
  }
  const { v, queries, ...rest } = body as Record<string, unknown>
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
  return queries
}

/** Reads the body, refusing it as soon as it passes `max` bytes (whatever Content-Length says). */
async function readBody(request: Request, max: number): Promise<string> {
  const declared = Number(request.headers.get('content-length') ?? 0)
  if (declared > max) throw new ExecutorError('PAYLOAD_TOO_LARGE', `request body is larger than ${max} bytes`)
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
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    throw new ExecutorError('BAD_REQUEST', 'request body is not valid UTF-8')
  }
}

/**
 * Runs the valid queries in request order on one connection, inside a read-only
 * transaction with a `statement_timeout`. A failed query aborts the transaction, so the
 * queries after it continue in a fresh one: one failure does not fail its siblings.
 */
async function runBatch(
  knex: Knex,
  checked: readonly (CheckedRead | WireError)[],
  scope: ReadScope,
  limits: Limits,
  requestId: string,
  logger: Logger,
): Promise<QueryResult[]> {
  if (checked.every(isWireError)) return checked.map((error) => ({ error }))
  const session = await DbSession.start(knex, limits.statementTimeoutMs)
  try {
    const results: QueryResult[] = []
    for (const query of checked) {
      if (isWireError(query)) {
        results.push({ error: query })
        continue
      }
      try {
        results.push({ data: await runRead(session, query, scope, limits) })
      } catch (error) {
        results.push({ error: toWireError(error, requestId, logger) })
        await session.restart()
      }
    }
    return results
  } finally {
    await session.end()
  }
}

function isWireError(value: CheckedRead | WireError): value is WireError {
  return 'code' in value
}
