/**
 * The edge proxy: a Cloudflare Worker in front of one executor origin. It verifies the
 * caller's JWT at the edge, rate-limits per caller on a Durable Object, serves cacheable
 * reads from the Cache API (keyed by everything the executor's answer depends on: the
 * verified identity, the body, the URL, the origin and a global write version, with
 * stale-while-revalidate), and forwards everything else with a signed hop the executor
 * checks (`proxyAuth`). It never parses more of a request than the envelope.
 */
import { createRemoteJWKSet, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose'
import { ERROR_STATUS, type ErrorCode } from '../shared/error-codes.js'
import { IDEMPOTENCY_KEY_HEADER, signHop } from '../shared/hop-signature.js'
import { WAL_POSITION_HEADER } from '../shared/headers.js'

export { CacheVersion, RateLimiter } from './durable-objects.js'

interface DurableObjectNamespaceLike {
  idFromName(name: string): unknown
  get(id: unknown): { fetch(input: string, init?: RequestInit): Promise<Response> }
}

interface CacheLike {
  match(request: Request): Promise<Response | undefined>
  put(request: Request, response: Response): Promise<void>
}

interface ExecutionContextLike {
  waitUntil(promise: Promise<unknown>): void
}

export interface Env {
  /** The executor's URL, e.g. `https://api.internal.example.com/orm`. */
  readonly EXECUTOR_URL: string
  /** The HMAC secret shared with the executor's `proxyAuth`. */
  readonly HOP_SECRET: string
  /** A shared JWT secret (HS256…) or a JWKS URL; neither means every caller is anonymous. */
  readonly JWT_SECRET?: string
  readonly JWKS_URL?: string
  /** Accepted algorithms, comma-separated (default `HS256`, or `RS256` with a JWKS). */
  readonly JWT_ALGORITHMS?: string
  readonly JWT_AUDIENCE?: string
  readonly JWT_ISSUER?: string
  /** `false` accepts tokens without an `exp` claim; by default they are refused. */
  readonly JWT_REQUIRE_EXP?: string
  /**
   * Claims the read cache keys entries by, comma-separated (`sub,tenant`): every claim the
   * executor's `proxyAuth` context reads. Unset, entries are keyed by the whole verified
   * payload except `iat`, `exp`, `nbf` and `jti`.
   */
  readonly CACHE_KEY_CLAIMS?: string
  /** Requests per caller per window (default 120) and the window in seconds (default 60). */
  readonly RATE_LIMIT?: string
  readonly RATE_WINDOW_SECONDS?: string
  readonly MAX_BODY_BYTES?: string
  readonly ORIGIN_TIMEOUT_MS?: string
  readonly RATE_LIMITER: DurableObjectNamespaceLike
  readonly CACHE_VERSION: DurableObjectNamespaceLike
}

const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'content-length']
const READ_OPS = new Set(['select', 'first', 'page', 'count', 'exists', 'aggregate'])
const CACHE_HEADER = 'x-async-orm-cache'
const STORED_AT = 'x-async-orm-stored-at'
/** Part of every cache key, so entries written under an older key scheme are never read. */
const CACHE_KEY_SCHEME = 'async-orm-cache-v2'
/** Claims that differ between two tokens for the same identity and say nothing about it. */
const PER_ISSUANCE_CLAIMS = new Set(['iat', 'exp', 'nbf', 'jti'])
const JSON_CONTENT_TYPE = /^application\/json\s*(;|$)/i

function failure(code: ErrorCode, message: string, headers: Record<string, string> = {}, status: number = ERROR_STATUS[code]): Response {
  return new Response(JSON.stringify({ json: { error: { code, message } } }), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers },
  })
}

const keys = new Map<string, JWTVerifyGetKey>()

async function identify(request: Request, env: Env): Promise<JWTPayload | null | Response> {
  const header = request.headers.get('authorization')
  if (header === null) return null
  if (!env.JWT_SECRET && !env.JWKS_URL) return failure('UNAUTHENTICATED', 'this proxy accepts no tokens')
  const match = /^Bearer\s+([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/.exec(header.trim())
  if (!match) return failure('UNAUTHENTICATED', 'the authorization header is not a bearer token')
  const algorithms = (env.JWT_ALGORITHMS ?? (env.JWKS_URL ? 'RS256' : 'HS256')).split(',').map((a) => a.trim()).filter((a) => a && a.toLowerCase() !== 'none')
  const options = {
    algorithms,
    ...(env.JWT_AUDIENCE && { audience: env.JWT_AUDIENCE }),
    ...(env.JWT_ISSUER && { issuer: env.JWT_ISSUER }),
    // A token without `exp` never expires: refused unless explicitly allowed.
    ...(env.JWT_REQUIRE_EXP?.trim().toLowerCase() !== 'false' && { requiredClaims: ['exp'] }),
  }
  try {
    if (env.JWT_SECRET) return (await jwtVerify(match[1]!, new TextEncoder().encode(env.JWT_SECRET), options)).payload
    let jwks = keys.get(env.JWKS_URL!)
    if (!jwks) keys.set(env.JWKS_URL!, (jwks = createRemoteJWKSet(new URL(env.JWKS_URL!))))
    return (await jwtVerify(match[1]!, jwks, options)).payload
  } catch {
    return failure('UNAUTHENTICATED', 'the token is not valid')
  }
}

/**
 * Who a rate limit counts against: the token's subject, else the client's IP. Limits are
 * about fairness, not confidentiality, so callers may share a counter; this key is never
 * used for the cache (see `cacheIdentity`).
 */
function rateLimitKey(identity: JWTPayload | null, request: Request): string {
  return identity?.sub ? `user:${identity.sub}` : `ip:${request.headers.get('cf-connecting-ip') ?? 'unknown'}`
}

async function rateLimited(env: Env, counter: string): Promise<Response | undefined> {
  const limiter = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(counter))
  const verdict = (await (
    await limiter.fetch('https://rate-limiter/', {
      method: 'POST',
      body: JSON.stringify({ limit: Number(env.RATE_LIMIT ?? 120), windowSeconds: Number(env.RATE_WINDOW_SECONDS ?? 60) }),
    })
  ).json()) as { allowed: boolean; retryAfter: number }
  return verdict.allowed ? undefined : failure('RATE_LIMITED', 'too many requests', { 'retry-after': String(verdict.retryAfter) })
}

/**
 * The envelope, read without trusting it: which queries read, write, and ask for caching.
 * Anything not recognisably a batch of reads counts as a write, so the cache is bumped
 * rather than left stale (the executor refuses a malformed envelope anyway).
 */
function classify(body: string): { writes: boolean; writeAt?: readonly number[]; cache?: { ttl: number; swr: number } } {
  let envelope: { queries?: unknown; stream?: unknown; describe?: unknown } | undefined
  try {
    envelope = (JSON.parse(body) as { json?: typeof envelope }).json
  } catch {
    return { writes: true }
  }
  const queries = envelope?.queries
  // A request for the API's description alone writes nothing (the executor refuses it with
  // anything but reads). With reads it may be cached: it depends only on the caller, whom
  // the cache key names.
  if (Array.isArray(queries) && queries.length === 0 && envelope?.describe === true) return { writes: false }
  if (!Array.isArray(queries) || queries.length === 0) return { writes: true }
  const ops = queries.map((q) => (q !== null && typeof q === 'object' ? (q as { op?: unknown }).op : undefined))
  const writeAt = ops.flatMap((op, index) => (typeof op !== 'string' || !READ_OPS.has(op) ? [index] : []))
  const writes = writeAt.length > 0
  if (writes) return { writes, writeAt }
  // A stream (`qs.stream()`) is passed through as it comes, never cached.
  if (envelope?.stream !== undefined) return { writes }
  let ttl = Infinity
  let swr = Infinity
  for (const query of queries as { cache?: { ttl?: unknown; swr?: unknown } }[]) {
    const hint = query.cache
    if (!hint || typeof hint.ttl !== 'number' || !(hint.ttl > 0)) return { writes }
    ttl = Math.min(ttl, hint.ttl)
    swr = Math.min(swr, typeof hint.swr === 'number' && hint.swr > 0 ? hint.swr : 0)
  }
  return { writes, cache: { ttl: Math.min(ttl, 86_400), swr: Math.min(swr, 86_400) } }
}

/**
 * The caller as far as the executor's answer can tell callers apart: the verified
 * identity the proxy signs and forwards, from which `proxyAuth`'s context is made. Two
 * tokens share entries only if every claim that could reach the context is equal: all of
 * them but those that change with each issuance, or the claims `CACHE_KEY_CLAIMS` lists.
 * Never the IP or the subject alone: one subject may hold tokens for several tenants, and
 * callers behind one address hold different tokens. Anonymous callers all have the same
 * context (none) and share entries (`null`).
 */
function cacheIdentity(identity: JWTPayload | null, env: Env): string | null {
  if (identity === null) return null
  const listed = env.CACHE_KEY_CLAIMS?.split(',').map((claim) => claim.trim()).filter(Boolean)
  const keep = listed?.length ? (claim: string) => listed.includes(claim) : (claim: string) => !PER_ISSUANCE_CLAIMS.has(claim)
  return canonicalObject(identity as Record<string, unknown>, keep)
}

/** JSON with object keys sorted at every level, so equal payloads give equal text. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (value !== null && typeof value === 'object') return canonicalObject(value as Record<string, unknown>, () => true)
  return JSON.stringify(value)
}

// Built from the keys directly: an own `__proto__` claim (JSON.parse makes one) is kept.
function canonicalObject(object: Record<string, unknown>, keep: (key: string) => boolean): string {
  const keys = Object.keys(object).filter(keep).sort()
  return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(object[key])}`).join(',')}}`
}

/**
 * One entry per everything the executor's answer depends on: the executor, the URL the
 * request came to (one worker may front several paths), its `Origin` (the executor's
 * CORS answer depends on it), the caller's identity, the write version and the body.
 */
async function cacheKey(request: Request, env: Env, identity: JWTPayload | null, version: number, body: string): Promise<Request> {
  const url = new URL(request.url)
  const parts = [
    CACHE_KEY_SCHEME,
    env.EXECUTOR_URL,
    `${url.origin}${url.pathname}`,
    request.headers.get('origin'),
    cacheIdentity(identity, env),
    version,
    body,
  ]
  return new Request(`https://async-orm.cache/${await sha256(JSON.stringify(parts))}`)
}

/** Write answers larger than this are not read to tell whether a write applied: the cache is bumped. */
const MAX_INSPECTED_ANSWER = 1024 * 1024

/**
 * Whether a write request's answer says a write may have been applied, so that cached
 * reads must go stale: a 200 with a write query (at `writeAt`) answered without an error.
 * A refused write bumps nothing, so callers cannot empty everyone's cache with writes
 * they may not make. An answer that cannot be read as one counts as applied.
 */
async function applied(response: Response, writeAt: readonly number[] | undefined): Promise<boolean> {
  if (response.status !== 200) return false
  if (writeAt === undefined || Number(response.headers.get('content-length') ?? 0) > MAX_INSPECTED_ANSWER) return true
  let results: unknown
  try {
    results = (JSON.parse(await response.clone().text()) as { json?: { results?: unknown } }).json?.results
  } catch {
    return true
  }
  if (!Array.isArray(results)) return true
  return writeAt.some((index) => {
    const result: unknown = results[index]
    return result === null || typeof result !== 'object' || !Object.hasOwn(result, 'error')
  })
}

/** Only a 200 whose every query succeeded is kept: errors may be transient or caller-specific. */
function storable(status: number, text: string): boolean {
  if (status !== 200) return false
  let results: unknown
  try {
    results = (JSON.parse(text) as { json?: { results?: unknown } }).json?.results
  } catch {
    return false
  }
  return Array.isArray(results) && results.every((result) => result !== null && typeof result === 'object' && !Object.hasOwn(result, 'error'))
}

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text))
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('')
}

async function readBody(request: Request, max: number): Promise<string | Response> {
  const declared = Number(request.headers.get('content-length') ?? 0)
  if (declared > max) return failure('PAYLOAD_TOO_LARGE', `request body is larger than ${max} bytes`)
  const buffer = await request.arrayBuffer()
  if (buffer.byteLength > max) return failure('PAYLOAD_TOO_LARGE', `request body is larger than ${max} bytes`)
  return new TextDecoder().decode(buffer)
}

/** `position`: the WAL position the executor's answer must reflect (a read that fills the cache). */
async function forward(request: Request, env: Env, body: string, identity: JWTPayload | null, writes: boolean, position?: string): Promise<Response> {
  const headers = new Headers()
  for (const [name, value] of request.headers) {
    const lower = name.toLowerCase()
    if (HOP_BY_HOP.includes(lower) || lower === 'authorization' || lower.startsWith('x-async-orm-') || lower.startsWith('cf-')) continue
    headers.set(name, value)
  }
  if (position !== undefined) headers.set(WAL_POSITION_HEADER, position)
  // Every request gets a key, reads too (the executor ignores it on reads), so replay
  // protection does not depend on `classify` judging writes as the executor does.
  if (!headers.has(IDEMPOTENCY_KEY_HEADER)) headers.set(IDEMPOTENCY_KEY_HEADER, crypto.randomUUID())
  const hop = { identity, body, idempotencyKey: headers.get(IDEMPOTENCY_KEY_HEADER) }
  for (const [name, value] of Object.entries(await signHop(env.HOP_SECRET, hop))) headers.set(name, value)
  let upstream: Response
  try {
    upstream = await fetch(env.EXECUTOR_URL, {
      method: 'POST',
      headers,
      body,
      signal: AbortSignal.timeout(Number(env.ORIGIN_TIMEOUT_MS ?? 15_000)),
    })
  } catch (error) {
    if ((error as Error)?.name === 'TimeoutError') return failure('TIMEOUT', 'the executor did not answer in time')
    // A failed fetch may have delivered the request: clients retry a 503, which promises
    // that nothing was applied, so a write whose fate is unknown answers 502 instead.
    return writes
      ? failure('UNAVAILABLE', 'the executor could not be reached or its answer was lost: the writes may or may not have been applied', {}, 502)
      : failure('UNAVAILABLE', 'the executor cannot be reached')
  }
  const out = new Headers()
  for (const [name, value] of upstream.headers) if (!HOP_BY_HOP.includes(name.toLowerCase())) out.set(name, value)
  out.set('cache-control', 'no-store')
  return new Response(upstream.body, { status: upstream.status, headers: out })
}

/**
 * The cache's version, bumped by a write (`bump`), and the newest WAL position the writes
 * answered (executors with read replicas): reads that fill the cache carry it, so the
 * executor serves them from a database that has those writes.
 */
async function cacheVersion(env: Env, bump: false | { position: string | null }): Promise<{ version: number; position?: string }> {
  const stub = env.CACHE_VERSION.get(env.CACHE_VERSION.idFromName('global'))
  const response = await stub.fetch('https://cache-version/', bump ? { method: 'POST', body: JSON.stringify({ position: bump.position ?? undefined }) } : { method: 'GET' })
  return (await response.json()) as { version: number; position?: string }
}

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContextLike): Promise<Response> {
    if (request.method !== 'POST') return failure('BAD_REQUEST', 'use POST')
    const identity = await identify(request, env)
    if (identity instanceof Response) return identity
    const limited = await rateLimited(env, rateLimitKey(identity, request))
    if (limited) return limited
    const body = await readBody(request, Number(env.MAX_BODY_BYTES ?? 1024 * 1024))
    if (body instanceof Response) return body
    const { writes, writeAt, cache } = classify(body)

    // A request the executor would refuse for its content type is never answered from the
    // cache, nor one that must see its client's writes (a cached answer may come from a
    // replica that had not replayed them).
    if (!cache || !JSON_CONTENT_TYPE.test(request.headers.get('content-type') ?? '') || request.headers.has(WAL_POSITION_HEADER)) {
      const response = await forward(request, env, body, identity, writes)
      if (writes && (await applied(response, writeAt))) await cacheVersion(env, { position: response.headers.get(WAL_POSITION_HEADER) })
      return response
    }

    const { version, position } = await cacheVersion(env, false)
    // What fills the cache must hold every write the cache's version counts.
    const fill = () => forward(request, env, body, identity, writes, position)
    const key = await cacheKey(request, env, identity, version, body)
    const cached = await caches.default.match(key)
    const age = cached ? (Date.now() - Number(cached.headers.get(STORED_AT))) / 1000 : Infinity
    const store = async (response: Response) => {
      const copy = new Response(response.body, response)
      copy.headers.set(STORED_AT, String(Date.now()))
      // The key is private to this worker and includes the caller's identity, so the entry may be stored.
      copy.headers.set('cache-control', `public, max-age=${Math.ceil(cache.ttl + cache.swr)}`)
      await caches.default.put(key, copy)
    }
    if (cached && age <= cache.ttl) return tagged(cached, 'HIT')
    if (cached && age <= cache.ttl + cache.swr) {
      ctx.waitUntil(
        fill().then(async (fresh) => {
          const text = await fresh.text()
          if (storable(fresh.status, text)) await store(new Response(text, fresh))
        }),
      )
      return tagged(cached, 'STALE')
    }
    const response = await fill()
    if (response.status !== 200) return tagged(response, 'MISS')
    const text = await response.text()
    if (storable(response.status, text)) ctx.waitUntil(store(new Response(text, response)))
    return tagged(new Response(text, response), 'MISS')
  },
}

declare const caches: { readonly default: CacheLike }

function tagged(response: Response, state: 'HIT' | 'MISS' | 'STALE'): Response {
  const out = new Response(response.body, response)
  out.headers.set(CACHE_HEADER, state)
  out.headers.delete(STORED_AT)
  out.headers.set('cache-control', 'no-store')
  return out
}
