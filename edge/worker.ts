/**
 * The edge proxy: a Cloudflare Worker in front of one executor origin. It verifies the
 * caller's JWT at the edge, rate-limits per caller on a Durable Object, serves cacheable
 * reads from the Cache API (keyed by the request, the caller and a global write version,
 * with stale-while-revalidate), and forwards everything else with a signed hop the
 * executor checks (`proxyAuth`). It never parses more of a request than the envelope.
 */
import { createRemoteJWKSet, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose'
import { ERROR_STATUS, type ErrorCode } from '../shared/error-codes.js'
import { signHop } from '../shared/hop-signature.js'

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

function failure(code: ErrorCode, message: string, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ json: { error: { code, message } } }), {
    status: ERROR_STATUS[code],
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

async function rateLimited(env: Env, caller: string): Promise<Response | undefined> {
  const limiter = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(caller))
  const verdict = (await (
    await limiter.fetch('https://rate-limiter/', {
      method: 'POST',
      body: JSON.stringify({ limit: Number(env.RATE_LIMIT ?? 120), windowSeconds: Number(env.RATE_WINDOW_SECONDS ?? 60) }),
    })
  ).json()) as { allowed: boolean; retryAfter: number }
  return verdict.allowed ? undefined : failure('RATE_LIMITED', 'too many requests', { 'retry-after': String(verdict.retryAfter) })
}

/** The envelope, read without trusting it: which queries read, write, and ask for caching. */
function classify(body: string): { writes: boolean; cache?: { ttl: number; swr: number } } {
  let queries: unknown
  try {
    queries = (JSON.parse(body) as { json?: { queries?: unknown } }).json?.queries
  } catch {
    return { writes: false }
  }
  if (!Array.isArray(queries) || queries.length === 0) return { writes: false }
  const ops = queries.map((q) => (q !== null && typeof q === 'object' ? (q as { op?: unknown }).op : undefined))
  const writes = ops.some((op) => typeof op !== 'string' || !READ_OPS.has(op))
  if (writes) return { writes }
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

async function forward(request: Request, env: Env, body: string, identity: JWTPayload | null): Promise<Response> {
  const headers = new Headers()
  for (const [name, value] of request.headers) {
    const lower = name.toLowerCase()
    if (HOP_BY_HOP.includes(lower) || lower === 'authorization' || lower.startsWith('x-async-orm-') || lower.startsWith('cf-')) continue
    headers.set(name, value)
  }
  for (const [name, value] of Object.entries(await signHop(env.HOP_SECRET, identity, body))) headers.set(name, value)
  let upstream: Response
  try {
    upstream = await fetch(env.EXECUTOR_URL, {
      method: 'POST',
      headers,
      body,
      signal: AbortSignal.timeout(Number(env.ORIGIN_TIMEOUT_MS ?? 15_000)),
    })
  } catch (error) {
    return (error as Error)?.name === 'TimeoutError'
      ? failure('TIMEOUT', 'the executor did not answer in time')
      : failure('UNAVAILABLE', 'the executor cannot be reached')
  }
  const out = new Headers()
  for (const [name, value] of upstream.headers) if (!HOP_BY_HOP.includes(name.toLowerCase())) out.set(name, value)
  return new Response(upstream.body, { status: upstream.status, headers: out })
}

async function cacheVersion(env: Env, bump: boolean): Promise<number> {
  const stub = env.CACHE_VERSION.get(env.CACHE_VERSION.idFromName('global'))
  const response = await stub.fetch('https://cache-version/', { method: bump ? 'POST' : 'GET' })
  return ((await response.json()) as { version: number }).version
}

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContextLike): Promise<Response> {
    if (request.method !== 'POST') return failure('BAD_REQUEST', 'use POST')
    const identity = await identify(request, env)
    if (identity instanceof Response) return identity
    const caller = identity?.sub ? `user:${identity.sub}` : `ip:${request.headers.get('cf-connecting-ip') ?? 'unknown'}`
    const limited = await rateLimited(env, caller)
    if (limited) return limited
    const body = await readBody(request, Number(env.MAX_BODY_BYTES ?? 1024 * 1024))
    if (body instanceof Response) return body
    const { writes, cache } = classify(body)

    if (!cache) {
      const response = await forward(request, env, body, identity)
      if (writes && response.status === 200) await cacheVersion(env, true)
      return response
    }

    // Cached reads: one entry per request body, caller and write version.
    const version = await cacheVersion(env, false)
    const key = new Request(`https://async-orm.cache/${await sha256(`${caller}\n${version}\n${body}`)}`)
    const cached = await caches.default.match(key)
    const age = cached ? (Date.now() - Number(cached.headers.get(STORED_AT))) / 1000 : Infinity
    const store = async (response: Response) => {
      const copy = new Response(response.body, response)
      copy.headers.set(STORED_AT, String(Date.now()))
      // The key is private to this worker and includes the caller, so the entry may be stored.
      copy.headers.set('cache-control', `public, max-age=${Math.ceil(cache.ttl + cache.swr)}`)
      await caches.default.put(key, copy)
    }
    if (cached && age <= cache.ttl) return tagged(cached, 'HIT')
    if (cached && age <= cache.ttl + cache.swr) {
      ctx.waitUntil(
        forward(request, env, body, identity).then(async (fresh) => {
          const text = await fresh.text()
          if (fresh.status === 200 && !/"error":\{"code"/.test(text)) await store(new Response(text, fresh))
        }),
      )
      return tagged(cached, 'STALE')
    }
    const response = await forward(request, env, body, identity)
    if (response.status !== 200) return tagged(response, 'MISS')
    const text = await response.text()
    // Only answers where every query succeeded are kept.
    if (!/"error":\{"code"/.test(text)) ctx.waitUntil(store(new Response(text, response)))
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
