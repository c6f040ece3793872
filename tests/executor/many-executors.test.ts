/**
 * Many executors, as the README's *Scaling out* runs them: two processes of
 * `examples/quickstart/scaled.ts` behind one load balancer and one client, over a primary
 * reached through PgBouncer in transaction mode and its streaming replica (real servers,
 * real HTTP). Nothing depends on an executor being the only one: a write's idempotency key
 * is honoured by the other process, and a writer reads its own writes from either while
 * the replica lags.
 */
import knexFactory, { type Knex } from 'knex'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connect } from '../../examples/quickstart/client.js'
import { tokenFor } from '../../examples/quickstart/auth.js'
import { decode, encodeRequest } from '../../shared/wire.js'
import { startPgBouncer, type PgBouncer } from '../support/pgbouncer.js'
import { startApp, type StartedApp } from '../support/quickstart.js'
import { startReplication, type Replication } from '../support/replication.js'
import { startRoundRobin, type RoundRobin } from '../support/round-robin.js'

let cluster: Replication
let bouncer: PgBouncer
let quickstart: Knex
const apps: StartedApp[] = []
let balancer: RoundRobin

beforeAll(async () => {
  cluster = await startReplication()
  await cluster.primaryKnex.raw('create database quickstart')
  bouncer = await startPgBouncer({ host: '127.0.0.1', port: cluster.primary.port })
  const env = { DATABASE_URL: bouncer.url('quickstart'), REPLICA_URLS: cluster.standby.url.replace(/\/postgres$/, '/quickstart') }
  // Started together: the schema and the idempotency store are created once, by either.
  apps.push(...(await Promise.all([0, 1].map(() => startApp(['--import', 'tsx', 'examples/quickstart/scaled.ts'], env)))))
  quickstart = knexFactory({ client: 'pg', connection: cluster.primary.url.replace(/\/postgres$/, '/quickstart'), pool: { min: 0, max: 1 } })
  await quickstart('users').insert([{ orgId: 1, name: 'Ann', email: 'ann@example.com' }])
  balancer = await startRoundRobin(apps.map((app) => app.origin))
}, 120_000)

afterAll(async () => {
  await balancer?.close()
  await Promise.all(apps.map((app) => app.stop()))
  await quickstart?.destroy()
  await bouncer?.destroy()
  await cluster?.destroy()
})

const ann = () => tokenFor({ userId: 1, orgId: 1 })
const postsTitled = async (title: string) => Number(((await quickstart('posts').where({ title }).count({ n: '*' })) as [{ n: string }])[0].n)

describe('two executor processes behind one load balancer', () => {
  const insert = (title: string) => encodeRequest({ v: 1, queries: [{ model: 'Post', op: 'insert', rows: [{ title, body: '' }], returning: 'first' }] } as never)

  it('applies a write once when its retry reaches the other process', async () => {
    const headers = { 'content-type': 'application/json', 'idempotency-key': 'across-executors-1', authorization: `Bearer ${await ann()}` }
    const body = insert('retried across executors')
    const [first, retry] = [await fetch(`${apps[0]!.origin}/orm`, { method: 'POST', headers, body }), await fetch(`${apps[1]!.origin}/orm`, { method: 'POST', headers, body })]
    expect([first.status, retry.status]).toEqual([200, 200])
    expect(retry.headers.get('idempotent-replayed')).toBe('true')
    const answer = decode(await first.text())
    expect(answer).toMatchObject({ results: [{ data: { title: 'retried across executors', authorId: 1 } }] })
    expect(decode(await retry.text())).toEqual(answer)
    expect(await postsTitled('retried across executors')).toBe(1)
  })

  it('applies a write once when both processes receive it at the same time', async () => {
    const headers = { 'content-type': 'application/json', 'idempotency-key': 'across-executors-2', authorization: `Bearer ${await ann()}` }
    const body = insert('raced across executors')
    const answers = await Promise.all(apps.map((app) => fetch(`${app.origin}/orm`, { method: 'POST', headers, body })))
    expect(answers.map((a) => a.status)).toEqual([200, 200])
    const [a, b] = await Promise.all(answers.map(async (answer) => decode(await answer.text())))
    expect(a).toMatchObject({ results: [{ data: { title: 'raced across executors' } }] })
    expect(a).toEqual(b)
    expect(await postsTitled('raced across executors')).toBe(1)
  })

  it("reads a writer's writes from either process while the replica lags; a reader without its position reads the replica", async () => {
    const writer = connect(`${balancer.url}/orm`, ann)
    const other = connect(`${balancer.url}/orm`, ann)
    await cluster.caughtUp()
    await cluster.pause()
    try {
      const ids: number[] = []
      const sent = balancer.sentTo.length
      for (let i = 0; i < 6; i++) {
        const post = await writer.Post.query().insert({ title: `seen ${i}`, body: '' })
        // The balancer sends the read to the other process than the write.
        expect(await writer.Post.query().findById(post.id)).toMatchObject({ title: `seen ${i}` })
        ids.push(post.id)
      }
      expect(new Set(balancer.sentTo.slice(sent))).toEqual(new Set(apps.map((app) => app.origin)))
      expect(await writer.Post.query().whereIn('id', ids).count()).toBe(6)
      // The replica has replayed none of them.
      expect(await other.Post.query().whereIn('id', ids).count()).toBe(0)
    } finally {
      await cluster.resume()
    }
    await cluster.caughtUp()
  })
})
