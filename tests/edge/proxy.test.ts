/**
 * The edge proxy in workerd (Miniflare) in front of a real executor on 127.0.0.1 and
 * PostgreSQL: forwarding, auth at the edge, the signed hop, rate limits, the read cache
 * and its invalidation, and an origin that is down.
 */
import { Miniflare } from 'miniflare'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient } from '../../client/index.js'
import { api, type DemoApi, type DemoCtx } from '../../examples/demo/api.js'
import { createExecutor, proxyAuth } from '../../executor/index.js'
import { serve, type RunningServer } from '../../executor/adapters/node.js'
import { decode, encodeRequest } from '../../shared/wire.js'
import { openDemo, tokenFor, TEST_SECRET, type Demo } from '../support/demo.js'
import { bundleWorker } from '../support/workers.js'

const HOP_SECRET = 'a hop secret shared by proxy and executor, 32+ chars'

describe('edge proxy in workerd', () => {
  let demo: Demo
  let origin: RunningServer
  let mf: Miniflare
  let originRequests = 0

  beforeAll(async () => {
    demo = await openDemo('postgres')
    const executor = createExecutor({
      knex: demo.knex,
      api,
      logger: { error() {} },
      auth: proxyAuth<DemoCtx>({ secret: HOP_SECRET, context: (identity) => ({ authorId: BigInt(String(identity.sub)) }) }),
    })
    origin = await serve(
      Object.assign((request: Request) => (originRequests++, executor(request)), { ready: executor.ready }),
      { port: 0 },
    )
    mf = new Miniflare({
      modules: true,
      script: await bundleWorker('edge/worker.ts'),
      compatibilityDate: '2025-01-01',
      durableObjects: { RATE_LIMITER: 'RateLimiter', CACHE_VERSION: 'CacheVersion' },
      bindings: {
        EXECUTOR_URL: `${origin.url}/orm`,
        HOP_SECRET,
        JWT_SECRET: TEST_SECRET,
        JWT_AUDIENCE: 'async-orm-tests',
        RATE_LIMIT: '25',
        RATE_WINDOW_SECONDS: '60',
      },
    })
  })
  afterAll(async () => {
    await mf?.dispose()
    await origin?.close()
    await demo?.close()
  })

  const viaProxy = async (body: unknown, headers: Record<string, string> = {}) => {
    const response = await mf.dispatchFetch('http://edge.local/orm', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: encodeRequest(body as never),
    })
    return { status: response.status, headers: response.headers, body: decode<Record<string, unknown>>(await response.text()) }
  }
  const countTags = { v: 1, queries: [{ model: 'Tag', op: 'count' }] }

  it('forwards requests and streams the executor’s answer back', async () => {
    const { status, body } = await viaProxy(countTags)
    expect(status).toBe(200)
    expect(body).toEqual({ results: [{ data: 12 }] })
  })

  it('verifies tokens at the edge, refusing bad ones before any origin request', async () => {
    const before = originRequests
    const bad = await viaProxy(countTags, { authorization: `Bearer ${await tokenFor(1n, { secret: 'not the right secret at all, 32 chars' })}` })
    expect(bad.status).toBe(401)
    expect(bad.body).toEqual({ error: { code: 'UNAUTHENTICATED', message: 'the token is not valid' } })
    expect(originRequests).toBe(before)
    const good = await viaProxy({ v: 1, queries: [{ model: 'Tag', op: 'insert', rows: [{ name: 'edge-signed' }], returning: 'first' }] }, { authorization: `Bearer ${await tokenFor(1n)}` })
    expect(good.body).toMatchObject({ results: [{ data: { name: 'edge-signed' } }] })
  })

  it('lets the executor refuse requests that did not come through the proxy', async () => {
    const direct = await fetch(`${origin.url}/orm`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: encodeRequest(countTags as never) })
    expect(direct.status).toBe(401)
    const forged = await fetch(`${origin.url}/orm`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-async-orm-identity': 'eyJzdWIiOiIxIn0', 'x-async-orm-timestamp': String(Math.floor(Date.now() / 1000)), 'x-async-orm-signature': 'AAAA' },
      body: encodeRequest(countTags as never),
    })
    expect(forged.status).toBe(401)
  })

  it('serves cacheable reads from the cache and invalidates them on writes', async () => {
    const cached = { v: 1, queries: [{ model: 'Tag', op: 'select', orderBy: [{ column: 'id', direction: 'asc' }], limit: 100, cache: { ttl: 60 } }] }
    const token = { authorization: `Bearer ${await tokenFor(2n)}` }
    const first = await viaProxy(cached, token)
    expect(first.headers.get('x-async-orm-cache')).toBe('MISS')
    await new Promise((resolve) => setTimeout(resolve, 100))
    const before = originRequests
    const second = await viaProxy(cached, token)
    expect(second.headers.get('x-async-orm-cache')).toBe('HIT')
    expect(second.body).toEqual(first.body)
    expect(originRequests).toBe(before)
    // Another caller never sees this caller's cached answer.
    expect((await viaProxy(cached, { authorization: `Bearer ${await tokenFor(3n)}` })).headers.get('x-async-orm-cache')).toBe('MISS')
    await viaProxy({ v: 1, queries: [{ model: 'Tag', op: 'insert', rows: [{ name: 'edge-invalidates' }], returning: 'first' }] }, token)
    const third = await viaProxy(cached, token)
    expect(third.headers.get('x-async-orm-cache')).toBe('MISS')
    expect(JSON.stringify(third.body)).toContain('edge-invalidates')
  })

  it('bumps the cache only for writes that applied: refused ones cannot empty everyone\'s cache', async () => {
    const cached = { v: 1, queries: [{ model: 'Tag', op: 'select', orderBy: [{ column: 'id', direction: 'asc' }], limit: 75, cache: { ttl: 60 } }] }
    const token = { authorization: `Bearer ${await tokenFor(5n)}` }
    expect((await viaProxy(cached, token)).headers.get('x-async-orm-cache')).toBe('MISS')
    await new Promise((resolve) => setTimeout(resolve, 100))
    const refused = [
      // A column the grant does not allow, a model that does not exist, a delete only admins may make.
      { v: 1, queries: [{ model: 'Tag', op: 'insert', rows: [{ id: 1, name: 'x' }], returning: 'first' }] },
      { v: 1, queries: [{ model: 'Nope', op: 'insert', rows: [{ name: 'x' }], returning: 'first' }] },
      { v: 1, queries: [{ model: 'Tag', op: 'delete', where: { kind: 'compare', column: 'id', op: '=', value: 1 }, returning: 'count' }] },
      { v: 1, atomic: true, queries: [{ model: 'Tag', op: 'insert', rows: [{ name: 'rolled back' }], returning: 'first' }, { model: 'Tag', op: 'insert', rows: [{ id: 2 }], returning: 'first' }] },
    ]
    for (const write of refused) {
      const answer = await viaProxy(write, token)
      expect(answer.status).toBe(200)
      expect(JSON.stringify(answer.body)).toMatch(/"error"/)
      expect((await viaProxy(cached, token)).headers.get('x-async-orm-cache')).toBe('HIT')
    }
    // A batch with one write that applied bumps it.
    await viaProxy({ v: 1, queries: [{ model: 'Nope', op: 'select' }, { model: 'Tag', op: 'insert', rows: [{ name: 'edge-applied' }], returning: 'first' }] }, token)
    expect((await viaProxy(cached, token)).headers.get('x-async-orm-cache')).toBe('MISS')
  })

  it('passes the API description through: alone it bumps nothing, with cacheable reads it is cached with them for that caller', async () => {
    const cached = { v: 1, queries: [{ model: 'Tag', op: 'select', orderBy: [{ column: 'id', direction: 'asc' }], limit: 60, cache: { ttl: 60 } }], describe: true }
    const token = { authorization: `Bearer ${await tokenFor(6n)}` }
    const first = await viaProxy(cached, token)
    expect(first.headers.get('x-async-orm-cache')).toBe('MISS')
    expect(first.body.api).toEqual(expect.objectContaining({ models: expect.objectContaining({ Tag: expect.any(Object) }) }))
    await new Promise((resolve) => setTimeout(resolve, 100))
    // Asked alone, any number of times: it is answered and the cache stays.
    for (let i = 0; i < 3; i++) {
      const alone = await viaProxy({ v: 1, queries: [], describe: true }, token)
      expect(alone.status).toBe(200)
      expect(alone.body).toEqual({ results: [], api: first.body.api })
    }
    const second = await viaProxy(cached, token)
    expect(second.headers.get('x-async-orm-cache')).toBe('HIT')
    expect(second.body).toEqual(first.body)
    // Another caller is answered its own.
    expect((await viaProxy(cached, { authorization: `Bearer ${await tokenFor(7n)}` })).headers.get('x-async-orm-cache')).toBe('MISS')
  })

  it("never answers from the cache a read that must see its client's writes (async-orm-lsn), and passes the header on", async () => {
    const cached = { v: 1, queries: [{ model: 'Tag', op: 'select', orderBy: [{ column: 'id', direction: 'asc' }], limit: 50, cache: { ttl: 60 } }] }
    const token = { authorization: `Bearer ${await tokenFor(4n)}` }
    expect((await viaProxy(cached, token)).headers.get('x-async-orm-cache')).toBe('MISS')
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect((await viaProxy(cached, token)).headers.get('x-async-orm-cache')).toBe('HIT')
    for (let i = 0; i < 2; i++) {
      const before = originRequests
      const response = await viaProxy(cached, { ...token, 'async-orm-lsn': '0/1' })
      expect(response.status).toBe(200)
      expect(response.headers.get('x-async-orm-cache')).toBeNull()
      expect(originRequests).toBe(before + 1)
    }
    // The origin reads it: a malformed one is refused there.
    expect((await viaProxy(cached, { ...token, 'async-orm-lsn': 'latest' })).status).toBe(400)
  })

  it('passes a stream through as it comes, never from the cache', async () => {
    const stream = { v: 1, queries: [{ model: 'Tag', op: 'select', orderBy: [{ column: 'id', direction: 'asc' }], cache: { ttl: 60 } }], stream: true }
    for (let i = 0; i < 2; i++) {
      const before = originRequests
      const response = await mf.dispatchFetch('http://edge.local/orm', { method: 'POST', headers: { 'content-type': 'application/json' }, body: encodeRequest(stream as never) })
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toBe('application/x-ndjson; charset=utf-8')
      expect(response.headers.get('x-async-orm-cache')).toBeNull()
      const lines = (await response.text()).trim().split('\n').map((line) => decode<Record<string, unknown>>(line))
      expect(lines.at(-1)).toEqual({ done: true, rows: (lines[0]!.rows as unknown[]).length })
      expect(originRequests).toBe(before + 1)
    }
  })

  it('serves a stale entry while it refreshes it (stale-while-revalidate)', async () => {
    const query = { v: 1, queries: [{ model: 'Tag', op: 'count', cache: { ttl: 1, swr: 60 } }] }
    const token = { authorization: `Bearer ${await tokenFor(4n)}` }
    expect((await viaProxy(query, token)).headers.get('x-async-orm-cache')).toBe('MISS')
    await new Promise((resolve) => setTimeout(resolve, 1300))
    const before = originRequests
    expect((await viaProxy(query, token)).headers.get('x-async-orm-cache')).toBe('STALE')
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(originRequests).toBe(before + 1)
    expect((await viaProxy(query, token)).headers.get('x-async-orm-cache')).toBe('HIT')
  })

  it('runs the client unchanged inside a worker', async () => {
    const worker = new Miniflare({
      modules: true,
      script: await bundleWorker('tests/edge/client-worker.ts'),
      compatibilityDate: '2025-01-01',
      bindings: { ORM_URL: 'http://edge.local/orm' },
      serviceBindings: { PROXY: async (request: { url: string }) => mf.dispatchFetch(request.url, request as never) as never },
    })
    try {
      const response = await worker.dispatchFetch('http://worker.local/')
      const answer = (await response.json()) as { tags: number }
      expect(answer).toEqual({ tags: expect.any(Number), first: 'databases', idType: 'number', streamed: answer.tags, streamedFirst: 'databases' })
    } finally {
      await worker.dispose()
    }
  })

  it('rate-limits each caller with 429 and Retry-After', async () => {
    const token = { authorization: `Bearer ${await tokenFor(9n)}` }
    const statuses: number[] = []
    let retryAfter: string | null = null
    for (let i = 0; i < 30; i++) {
      const response = await viaProxy(countTags, token)
      statuses.push(response.status)
      if (response.status === 429) retryAfter = response.headers.get('retry-after')
    }
    expect(statuses.filter((s) => s === 200)).toHaveLength(25)
    expect(statuses.filter((s) => s === 429)).toHaveLength(5)
    expect(Number(retryAfter)).toBeGreaterThan(0)
  })

  it('answers TIMEOUT when the origin accepts but does not answer in ORIGIN_TIMEOUT_MS', async () => {
    const { createServer } = await import('node:net')
    const silent = createServer(() => {})
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    const port = (silent.address() as { port: number }).port
    const slow = new Miniflare({
      modules: true,
      script: await bundleWorker('edge/worker.ts'),
      compatibilityDate: '2025-01-01',
      durableObjects: { RATE_LIMITER: 'RateLimiter', CACHE_VERSION: 'CacheVersion' },
      bindings: { EXECUTOR_URL: `http://127.0.0.1:${port}/orm`, HOP_SECRET, ORIGIN_TIMEOUT_MS: '300' },
    })
    try {
      const response = await slow.dispatchFetch('http://edge.local/orm', { method: 'POST', headers: { 'content-type': 'application/json' }, body: encodeRequest(countTags as never) })
      expect(response.status).toBe(504)
      expect(decode(await response.text())).toEqual({ error: { code: 'TIMEOUT', message: 'the executor did not answer in time' } })
    } finally {
      await slow.dispose()
      silent.close()
    }
  })

  it('answers UNAVAILABLE when the origin is down, without hanging (502 for writes)', async () => {
    const down = new Miniflare({
      modules: true,
      script: await bundleWorker('edge/worker.ts'),
      compatibilityDate: '2025-01-01',
      durableObjects: { RATE_LIMITER: 'RateLimiter', CACHE_VERSION: 'CacheVersion' },
      bindings: { EXECUTOR_URL: 'http://127.0.0.1:9/orm', HOP_SECRET },
    })
    try {
      const response = await down.dispatchFetch('http://edge.local/orm', { method: 'POST', headers: { 'content-type': 'application/json' }, body: encodeRequest(countTags as never) })
      expect(response.status).toBe(503)
      expect(decode(await response.text())).toEqual({ error: { code: 'UNAVAILABLE', message: 'the executor cannot be reached' } })
      // A write whose request may have reached the origin is not promised "nothing applied":
      // 502, which clients do not retry.
      const write = encodeRequest({ v: 1, queries: [{ model: 'Tag', op: 'insert', rows: [{ name: 'lost' }], returning: 'first' }] })
      const unsure = await down.dispatchFetch('http://edge.local/orm', { method: 'POST', headers: { 'content-type': 'application/json' }, body: write })
      expect(unsure.status).toBe(502)
      expect(decode(await unsure.text())).toMatchObject({ error: { code: 'UNAVAILABLE', message: expect.stringContaining('may or may not have been applied') } })
    } finally {
      await down.dispose()
    }
  })
})

// The typed client is used inside the worker file below; this keeps the API type checked here too.
export type { DemoApi }
void createClient
