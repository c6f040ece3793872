/**
 * The edge proxy (edge/worker.ts) in workerd, in front of a real executor with
 * `proxyAuth` on PostgreSQL, for the tests that attack the proxy: every request the
 * executor receives is recorded as it arrived (signed headers and body), so a test can
 * replay it straight to the executor as an attacker who captured it would.
 */
import { Miniflare } from 'miniflare'
import { SignJWT, type JWTPayload } from 'jose'
import { createExecutor, proxyAuth, type ExecutorOptions } from '../../executor/index.js'
import { serve, type RunningServer } from '../../executor/adapters/node.js'
import { api } from '../../examples/demo/api.js'
import { decode, encodeRequest } from '../../shared/wire.js'
import { openDemo, TEST_SECRET, type Demo } from './demo.js'
import { bundleWorker } from './workers.js'

export const HOP_SECRET = 'a hop secret shared by proxy and executor, 32+ chars'
export const AUDIENCE = 'async-orm-tests'

export interface CapturedRequest {
  readonly headers: Headers
  readonly body: string
}

export interface ProxyAnswer {
  readonly status: number
  readonly headers: { get(name: string): string | null }
  readonly body: Record<string, unknown>
}

/** A Response from Node's fetch or from Miniflare's own (undici) classes. */
interface AnyResponse {
  readonly status: number
  readonly headers: { get(name: string): string | null }
  text(): Promise<string>
}

export interface EdgeSetup {
  readonly demo: Demo
  readonly origin: RunningServer
  readonly mf: Miniflare
  /** Every request the executor received, in order. */
  readonly received: CapturedRequest[]
  /** Posts a request body through the proxy (to `path`, default `/orm`). */
  viaProxy(body: unknown, headers?: Record<string, string>, path?: string): Promise<ProxyAnswer>
  /** Sends a captured request straight to the executor, with `headers` changed (`null` removes one). */
  replay(captured: CapturedRequest, headers?: Record<string, string | null>): Promise<ProxyAnswer>
  /** Starts another proxy in front of the same executor, with more bindings. */
  proxy(bindings: Record<string, string>): Promise<Miniflare>
  close(): Promise<void>
}

export interface EdgeOptions<Ctx> {
  /** Executor options besides knex, auth and logger (the demo API by default). */
  readonly executor?: Partial<ExecutorOptions<Ctx>>
  /** `proxyAuth`'s context. */
  readonly context: (identity: Record<string, unknown>) => Ctx
  /** Worker bindings besides the executor URL, the hop secret and the JWT settings. */
  readonly bindings?: Record<string, string>
}

export async function startEdge<Ctx>(options: EdgeOptions<Ctx>): Promise<EdgeSetup> {
  const demo = await openDemo('postgres')
  const executor = createExecutor<Ctx>({
    knex: demo.knex,
    api,
    logger: { error() {} },
    ...options.executor,
    auth: proxyAuth<Ctx>({ secret: HOP_SECRET, context: options.context }),
  } as ExecutorOptions<Ctx>)
  const received: CapturedRequest[] = []
  const origin = await serve(
    Object.assign(
      async (request: Request) => {
        received.push({ headers: new Headers(request.headers), body: await request.clone().text() })
        return executor(request)
      },
      { ready: executor.ready },
    ),
    { port: 0 },
  )
  const script = await bundleWorker('edge/worker.ts')
  const started: Miniflare[] = []
  const proxy = async (bindings: Record<string, string>) => {
    const mf = new Miniflare({
      modules: true,
      script,
      compatibilityDate: '2025-01-01',
      durableObjects: { RATE_LIMITER: 'RateLimiter', CACHE_VERSION: 'CacheVersion' },
      bindings: {
        EXECUTOR_URL: `${origin.url}/orm`,
        HOP_SECRET,
        JWT_SECRET: TEST_SECRET,
        JWT_AUDIENCE: AUDIENCE,
        RATE_LIMIT: '10000',
        ...bindings,
      },
    })
    started.push(mf)
    return mf
  }
  const mf = await proxy(options.bindings ?? {})
  const answer = async (response: AnyResponse): Promise<ProxyAnswer> => ({
    status: response.status,
    headers: response.headers,
    body: decode<Record<string, unknown>>(await response.text()),
  })
  return {
    demo,
    origin,
    mf,
    received,
    async viaProxy(body, headers = {}, path = '/orm') {
      return answer(
        await mf.dispatchFetch(`http://edge.local${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body: typeof body === 'string' ? body : encodeRequest(body as never),
        }),
      )
    },
    async replay(captured, changes = {}) {
      const headers = new Headers(captured.headers)
      for (const name of ['host', 'content-length', 'connection', 'transfer-encoding']) headers.delete(name)
      for (const [name, value] of Object.entries(changes)) value === null ? headers.delete(name) : headers.set(name, value)
      return answer(await fetch(`${origin.url}/orm`, { method: 'POST', headers, body: captured.body }))
    },
    proxy,
    async close() {
      for (const mf of started) await mf.dispose()
      await origin.close()
      await demo.close()
    },
  }
}

/** A token with exactly these claims (plus `aud`), signed with the test secret. */
export function signToken(claims: JWTPayload): Promise<string> {
  return new SignJWT({ aud: AUDIENCE, ...claims }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(TEST_SECRET))
}

export const bearer = async (claims: JWTPayload): Promise<Record<string, string>> => ({ authorization: `Bearer ${await signToken(claims)}` })

/** Seconds since the epoch, for `iat`/`exp` claims. */
export const now = (): number => Math.floor(Date.now() / 1000)
