/**
 * The edge proxy in workerd in front of an executor with a read replica (a primary and a
 * streaming standby of their own): a read that fills the cache after a write carries the
 * newest WAL position the writes answered, so the cache never keeps an answer from a
 * replica that had not replayed them.
 */
import { Miniflare } from 'miniflare'
import knexFactory, { type Knex } from 'knex'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, type DemoCtx } from '../../examples/demo/api.js'
import { createExecutor, proxyAuth } from '../../executor/index.js'
import { serve, type RunningServer } from '../../executor/adapters/node.js'
import { decode, encodeRequest } from '../../shared/wire.js'
import { tokenFor, TEST_SECRET } from '../support/demo.js'
import { startReplication, type Replication } from '../support/replication.js'
import { bundleWorker } from '../support/workers.js'

const HOP_SECRET = 'a hop secret shared by proxy and executor, 32+ chars'

describe('edge proxy cache in front of read replicas', () => {
  let cluster: Replication
  let knexes: Knex[] = []
  let origin: RunningServer
  let mf: Miniflare
  const forwardedPositions: (string | null)[] = []

  beforeAll(async () => {
    cluster = await startReplication()
    knexes = [cluster.primary.url, cluster.standby.url].map((url) => knexFactory({ client: 'pg', connection: url, pool: { min: 0, max: 4 } }))
    const executor = createExecutor({
      knex: knexes[0]!,
      replicas: [knexes[1]!],
      // The paused replica stays in bounds: only a position keeps reads off it.
      replication: { maxLagMs: 600_000, checkEveryMs: 20 },
      api,
      logger: { error() {} },
      auth: proxyAuth<DemoCtx>({ secret: HOP_SECRET, context: (identity) => ({ authorId: BigInt(String(identity.sub)) }) }),
    })
    origin = await serve(
      Object.assign(
        (request: Request) => {
          forwardedPositions.push(request.headers.get('async-orm-lsn'))
          return executor(request)
        },
        { ready: executor.ready },
      ),
      { port: 0 },
    )
    mf = new Miniflare({
      modules: true,
      script: await bundleWorker('edge/worker.ts'),
      compatibilityDate: '2025-01-01',
      durableObjects: { RATE_LIMITER: 'RateLimiter', CACHE_VERSION: 'CacheVersion' },
      bindings: { EXECUTOR_URL: `${origin.url}/orm`, HOP_SECRET, JWT_SECRET: TEST_SECRET, JWT_AUDIENCE: 'async-orm-tests', RATE_LIMIT: '1000', RATE_WINDOW_SECONDS: '60' },
    })
  }, 120_000)
  afterAll(async () => {
    await mf?.dispose()
    await origin?.close()
    await Promise.all(knexes.map((knex) => knex.destroy()))
    await cluster?.destroy()
  })

  const viaProxy = async (body: unknown, headers: Record<string, string> = {}) => {
    const response = await mf.dispatchFetch('http://edge.local/orm', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: encodeRequest(body as never) })
    return { status: response.status, headers: response.headers, body: decode<{ results: { data: unknown }[] }>(await response.text()) }
  }

  it("fills the cache after a write from a database that has it, while the replica lags: another caller's cached read shows the write", async () => {
    const tags = { v: 1, queries: [{ model: 'Tag', op: 'select', orderBy: [{ column: 'id', direction: 'asc' }], limit: 200, cache: { ttl: 600 } }] }
    const reader = { authorization: `Bearer ${await tokenFor(2n)}` }
    const writer = { authorization: `Bearer ${await tokenFor(1n)}` }
    const names = (answer: { body: { results: { data: unknown }[] } }) => (answer.body.results[0]!.data as { name: string }[]).map((tag) => tag.name)
    const first = await viaProxy(tags, reader)
    expect(first.headers.get('x-async-orm-cache')).toBe('MISS')
    await cluster.caughtUp()
    await cluster.pause()
    try {
      const written = await viaProxy({ v: 1, queries: [{ model: 'Tag', op: 'insert', rows: [{ name: 'written at the edge' }], returning: 'first' }] }, writer)
      expect(written.status).toBe(200)
      const position = written.headers.get('async-orm-lsn')
      expect(position).toMatch(/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/)
      // The reader has written nothing: it sends no position, yet the read that refills the
      // cache carries the write's, and is served from the primary.
      forwardedPositions.length = 0
      const after = await viaProxy(tags, reader)
      expect(after.headers.get('x-async-orm-cache')).toBe('MISS')
      expect(forwardedPositions).toEqual([position])
      expect(names(after)).toContain('written at the edge')
      await new Promise((resolve) => setTimeout(resolve, 100))
      const cached = await viaProxy(tags, reader)
      expect(cached.headers.get('x-async-orm-cache')).toBe('HIT')
      expect(names(cached)).toContain('written at the edge')
    } finally {
      await cluster.resume()
    }
  })
})
