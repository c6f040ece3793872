/**
 * Regression: the edge proxy's read cache served one tenant's answer to another. Its key
 * was the token's `sub`, else the client IP, while the executor's policy context came
 * from other claims, so two tokens with the same `sub` (or none, behind one IP) but
 * different tenants shared entries. The key is now everything the answer depends on: the
 * whole verified identity (but the per-issuance `iat`, `exp`, `nbf`, `jti`) or the claims
 * `CACHE_KEY_CLAIMS` lists, the executor, the URL, the Origin and the body. Rate limits
 * stay per `sub`, else IP. Answers that are not a 200 without per-query errors are never
 * stored.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Miniflare } from 'miniflare'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, type DemoCtx } from '../../examples/demo/api.js'
import { Post } from '../../examples/demo/models.js'
import { expose } from '../../executor/index.js'
import { decode, encodeRequest } from '../../shared/wire.js'
import { bearer, HOP_SECRET, now, startEdge, type EdgeSetup, type ProxyAnswer } from '../support/edge-proxy.js'
import { bundleWorker } from '../support/workers.js'

// Posts are private to their tenant: the context's author comes from the `tenant` claim.
const tenantApi = {
  ...api,
  Post: expose(Post, {
    read: {
      allow: true,
      columns: ['id', 'authorId', 'title'],
      where: (ctx: DemoCtx | null) => {
        if (!ctx) throw new Error('tenants only')
        return { authorId: ctx.authorId }
      },
    },
  }),
}
const toCtx = (identity: Record<string, unknown>): DemoCtx => ({ authorId: BigInt(String(identity.tenant ?? identity.sub)) })

const posts = (marker: string) => ({
  v: 1,
  queries: [{ model: 'Post', op: 'select', select: ['id', 'authorId', 'title'], where: { kind: 'compare', column: 'title', op: '<>', value: marker }, orderBy: [{ column: 'id', direction: 'asc' }], limit: 3, cache: { ttl: 60 } }],
})
const tags = (marker: string) => ({
  v: 1,
  queries: [{ model: 'Tag', op: 'select', where: { kind: 'compare', column: 'name', op: '<>', value: marker }, orderBy: [{ column: 'id', direction: 'asc' }], limit: 5, cache: { ttl: 60 } }],
})
const authorsOf = (answer: { readonly body: Record<string, unknown> }): string[] => {
  const [result] = answer.body.results as { data?: { authorId: bigint }[] }[]
  return result!.data!.map((row) => String(row.authorId))
}

describe('edge cache keys by the identity the executor’s context is made from', () => {
  let edge: EdgeSetup
  let marker = 0
  // Each test uses bodies no other test sent, so entries never leak between tests.
  const fresh = () => `never-a-title-${++marker}`

  beforeAll(async () => {
    edge = await startEdge({ executor: { api: tenantApi }, context: toCtx })
  })
  afterAll(() => edge?.close())

  const state = (answer: ProxyAnswer) => answer.headers.get('x-async-orm-cache')
  /** Sends a cacheable read, then repeats it until the proxy answers from its cache. */
  const warm = async (body: unknown, headers: Record<string, string> = {}, path?: string): Promise<ProxyAnswer> => {
    const first = await edge.viaProxy(body, headers, path)
    expect(first.status).toBe(200)
    expect(state(first)).toBe('MISS')
    for (let attempt = 0; attempt < 200; attempt++) {
      const again = await edge.viaProxy(body, headers, path)
      if (state(again) === 'HIT') {
        expect(again.body).toEqual(first.body)
        return first
      }
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    throw new Error('the proxy never stored the answer')
  }

  it('does not share entries between tokens with the same sub and different tenant claims', async () => {
    const body = posts(fresh())
    const first = await warm(body, await bearer({ sub: 'alice', tenant: '1', exp: now() + 300 }))
    expect(authorsOf(first)).toEqual(['1', '1', '1'])
    const other = await edge.viaProxy(body, await bearer({ sub: 'alice', tenant: '2', exp: now() + 300 }))
    expect(state(other)).toBe('MISS')
    expect(authorsOf(other)).toEqual(['2', '2', '2'])
  })

  it('does not share entries between tokens without sub from one IP with different claims', async () => {
    const body = posts(fresh())
    const ip = { 'cf-connecting-ip': '203.0.113.7' }
    const first = await warm(body, { ...ip, ...(await bearer({ tenant: '3', exp: now() + 300 })) })
    expect(authorsOf(first)).toEqual(['3', '3', '3'])
    const other = await edge.viaProxy(body, { ...ip, ...(await bearer({ tenant: '4', exp: now() + 300 })) })
    expect(state(other)).toBe('MISS')
    expect(authorsOf(other)).toEqual(['4', '4', '4'])
  })

  it('does not share entries when any other claim differs, nested ones included', async () => {
    const body = posts(fresh())
    await warm(body, await bearer({ sub: 'bob', tenant: '5', org: { plan: 'free' }, exp: now() + 300 }))
    for (const claims of [{ org: { plan: 'paid' } }, { org: { plan: 'free', extra: true } }, { role: 'admin', org: { plan: 'free' } }, {}]) {
      const other = await edge.viaProxy(body, await bearer({ sub: 'bob', tenant: '5', ...claims, exp: now() + 300 }))
      expect(state(other), JSON.stringify(claims)).toBe('MISS')
    }
  })

  it('shares entries between tokens of one identity issued at different times, in any claim order', async () => {
    const body = posts(fresh())
    await warm(body, await bearer({ sub: 'carol', tenant: '6', org: { a: 1, b: 2 }, iat: now() - 100, exp: now() + 300, jti: 'one' }))
    const before = edge.received.length
    const reissued = await edge.viaProxy(body, await bearer({ org: { b: 2, a: 1 }, tenant: '6', sub: 'carol', iat: now(), nbf: now() - 5, exp: now() + 900, jti: 'two' }))
    expect(state(reissued)).toBe('HIT')
    expect(authorsOf(reissued)).toEqual(['6', '6', '6'])
    expect(edge.received.length).toBe(before)
  })

  it('never keys entries by the client IP: anonymous callers share, signed-in ones never see them', async () => {
    const body = tags(fresh())
    await warm(body, { 'cf-connecting-ip': '198.51.100.1' })
    expect(state(await edge.viaProxy(body, { 'cf-connecting-ip': '198.51.100.2' }))).toBe('HIT')
    expect(state(await edge.viaProxy(body))).toBe('HIT')
    const signedIn = await edge.viaProxy(body, { 'cf-connecting-ip': '198.51.100.1', ...(await bearer({ sub: '7', exp: now() + 300 })) })
    expect(state(signedIn)).toBe('MISS')
    // A token whose claims are all per-issuance is still not the anonymous caller.
    expect(state(await edge.viaProxy(body, await bearer({ exp: now() + 300 })))).toBe('MISS')
  })

  it('does not share entries between URL paths', async () => {
    const body = tags(fresh())
    await warm(body, {}, '/orm')
    expect(state(await edge.viaProxy(body, {}, '/other/orm'))).toBe('MISS')
  })

  it('does not answer a request with another Origin, or a body that is not JSON, from the cache', async () => {
    const body = tags(fresh())
    await warm(body)
    const foreign = await edge.viaProxy(body, { origin: 'https://evil.example' })
    expect(state(foreign)).toBe('MISS')
    expect(foreign.status).toBe(403)
    const plain = await edge.mf.dispatchFetch('http://edge.local/orm', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: encodeRequest(body as never) })
    expect(plain.headers.get('x-async-orm-cache')).toBeNull()
    expect(plain.status).toBe(400)
  })

  it('never stores an answer that is not a 200 or that carries a per-query error', async () => {
    const forbidden = posts(fresh()) // anonymous callers have no tenant: the read is refused
    const unsupported = { ...tags(fresh()), v: 99 }
    const mixed = { v: 1, queries: [...tags(fresh()).queries, ...posts(fresh()).queries] }
    for (const body of [forbidden, unsupported, mixed]) {
      const first = await edge.viaProxy(body)
      expect(first.status === 200 ? (first.body.results as object[]).some((result) => 'error' in result) : first.status).toBeTruthy()
      // An answer stored after the first one was: had the first been stored, it would be by now.
      await warm(tags(fresh()))
      const before = edge.received.length
      const again = await edge.viaProxy(body)
      expect(state(again)).toBe('MISS')
      expect(edge.received.length).toBe(before + 1)
    }
  })

  it('marks every answer no-store, from the cache or not', async () => {
    const body = tags(fresh())
    await warm(body)
    const hit = await edge.viaProxy(body)
    expect(state(hit)).toBe('HIT')
    expect(hit.headers.get('cache-control')).toBe('no-store')
    expect(hit.headers.get('x-async-orm-stored-at')).toBeNull()
    expect((await edge.viaProxy(tags(fresh()))).headers.get('cache-control')).toBe('no-store')
    expect((await edge.viaProxy({ v: 1, queries: [{ model: 'Tag', op: 'count' }] })).headers.get('cache-control')).toBe('no-store')
  })

  it('keys entries by the claims CACHE_KEY_CLAIMS lists, when set', async () => {
    const listed = await edge.proxy({ CACHE_KEY_CLAIMS: ' tenant ,' })
    const via = async (body: unknown, headers: Record<string, string>) => {
      const response = await listed.dispatchFetch('http://edge.local/orm', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: encodeRequest(body as never) })
      return { state: response.headers.get('x-async-orm-cache'), body: decode<Record<string, unknown>>(await response.text()) }
    }
    const body = posts(fresh())
    const first = await via(body, await bearer({ sub: 'dave', tenant: '8', exp: now() + 300 }))
    expect(first.state).toBe('MISS')
    let shared = 'MISS'
    for (let attempt = 0; attempt < 200 && shared !== 'HIT'; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 10))
      // Another subject and another unlisted claim, same tenant: the same context.
      shared = (await via(body, await bearer({ sub: 'erin', tenant: '8', role: 'x', exp: now() + 300 }))).state!
    }
    expect(shared).toBe('HIT')
    const other = await via(body, await bearer({ sub: 'dave', tenant: '9', exp: now() + 300 }))
    expect(other.state).toBe('MISS')
    expect(authorsOf(other)).toEqual(['9', '9', '9'])
  })

  it('keeps rate limits per subject, else per IP, whatever the other claims', async () => {
    const limited = await edge.proxy({ RATE_LIMIT: '3', RATE_WINDOW_SECONDS: '600' })
    const send = async (headers: Record<string, string>) =>
      (await limited.dispatchFetch('http://edge.local/orm', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: encodeRequest(tags(fresh()) as never) })).status
    const bySubject = [] as number[]
    for (const tenant of ['1', '2', '3', '4']) bySubject.push(await send(await bearer({ sub: 'frank', tenant, exp: now() + 300 })))
    expect(bySubject).toEqual([200, 200, 200, 429])
    const byIp = [] as number[]
    for (const tenant of ['1', '2', '3', '4']) byIp.push(await send({ 'cf-connecting-ip': '192.0.2.9', ...(await bearer({ tenant, exp: now() + 300 })) }))
    expect(byIp).toEqual([200, 200, 200, 429])
    expect(await send(await bearer({ sub: 'grace', tenant: '1', exp: now() + 300 }))).toBe(200)
  })
})

describe('edge cache shared by two proxies in front of two executors', () => {
  let servers: Server[] = []
  let mf: Miniflare

  beforeAll(async () => {
    // Two origins that answer the same request differently; Miniflare gives both workers
    // one Cache API, as Cloudflare does for every Worker in a zone.
    servers = ['A', 'B'].map((tag) =>
      createServer((_request, response) => {
        response.writeHead(200, { 'content-type': 'application/json' })
        response.end(JSON.stringify({ json: { results: [{ data: tag }] } }))
      }),
    )
    for (const server of servers) await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const script = await bundleWorker('edge/worker.ts')
    const worker = (name: string, server: Server) => ({
      name,
      modules: true,
      script,
      compatibilityDate: '2025-01-01',
      durableObjects: { RATE_LIMITER: 'RateLimiter', CACHE_VERSION: 'CacheVersion' },
      bindings: { EXECUTOR_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/orm`, HOP_SECRET },
    })
    mf = new Miniflare({ workers: [worker('a', servers[0]!), worker('b', servers[1]!)] })
  })
  afterAll(async () => {
    await mf?.dispose()
    for (const server of servers) server.close()
  })

  it('does not answer one executor’s request with the other’s entry', async () => {
    const body = encodeRequest({ v: 1, queries: [{ model: 'Tag', op: 'count', cache: { ttl: 60 } }] } as never)
    const send = async (name: string) => {
      // Miniflare types workers with @cloudflare/workers-types, which this project does not install.
      const worker = (await mf.getWorker(name)) as unknown as { fetch(url: string, init: RequestInit): Promise<Response> }
      const response = await worker.fetch('http://edge.local/orm', { method: 'POST', headers: { 'content-type': 'application/json' }, body })
      return { state: response.headers.get('x-async-orm-cache'), data: decode<{ results: { data: string }[] }>(await response.text()).results[0]!.data }
    }
    expect(await send('a')).toEqual({ state: 'MISS', data: 'A' })
    let again = await send('a')
    for (let attempt = 0; attempt < 200 && again.state !== 'HIT'; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 10))
      again = await send('a')
    }
    expect(again).toEqual({ state: 'HIT', data: 'A' })
    expect(await send('b')).toEqual({ state: 'MISS', data: 'B' })
  })
})
