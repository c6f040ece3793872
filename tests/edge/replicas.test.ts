/**
 * The edge proxy in workerd in front of an executor with a read replica (a primary and a
 * streaming standby of their own): a read that fills the cache after a write carries the
 * newest WAL position the writes answered, so the cache never keeps an answer from a
 * replica that had not replayed them.
 */
import knexFactory, { type Knex } from 'knex'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DemoCtx } from '../../examples/demo/api.js'
import { tokenFor } from '../support/demo.js'
import { startEdge, type EdgeSetup } from '../support/edge-proxy.js'
import { startReplication, type Replication } from '../support/replication.js'

describe('edge proxy cache in front of read replicas', () => {
  let cluster: Replication
  let knexes: Knex[] = []
  let edge: EdgeSetup

  beforeAll(async () => {
    cluster = await startReplication()
    knexes = [cluster.primary.url, cluster.standby.url].map((url) => knexFactory({ client: 'pg', connection: url, pool: { min: 0, max: 4 } }))
    edge = await startEdge<DemoCtx>({
      executor: {
        knex: knexes[0]!,
        replicas: [knexes[1]!],
        // The paused replica stays in bounds: only a position keeps reads off it.
        replication: { maxLagMs: 600_000, checkEveryMs: 20 },
      },
      context: (identity) => ({ authorId: BigInt(String(identity.sub)) }),
    })
  }, 120_000)
  afterAll(async () => {
    await edge?.close()
    await Promise.all(knexes.map((knex) => knex.destroy()))
    await cluster?.destroy()
  })

  const viaProxy = (body: unknown, headers: Record<string, string>) => edge.viaProxy(body, headers) as Promise<{ status: number; headers: { get(name: string): string | null }; body: { results: { data: unknown }[] } }>

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
      const forwarded = edge.received.length
      const after = await viaProxy(tags, reader)
      expect(after.headers.get('x-async-orm-cache')).toBe('MISS')
      expect(edge.received.slice(forwarded).map((request) => request.headers.get('async-orm-lsn'))).toEqual([position])
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
