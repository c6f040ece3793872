/**
 * Read replicas on real servers: a PostgreSQL primary of its own and a hot standby
 * streaming from it (`pg_basebackup -R`), both started here. Reads go to the standby,
 * writes to the primary; a write's WAL position, carried by its client, keeps that
 * client's reads on a database that has replayed it (read-your-writes), from either of
 * two executors; a standby that stops costs no read.
 */
import knexFactory, { type Knex } from 'knex'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient, type Client } from '../../client/index.js'
import * as v from 'valibot'
import { createExecutor, procedure, type Executor, type ExecutorOptions } from '../../executor/index.js'
import { api, procedures, type DemoApi, type DemoProcedures } from '../../examples/demo/api.js'
import { startPgCluster, type PgCluster } from '../support/pg-cluster.js'
import { startReplication, until, type Replication } from '../support/replication.js'
import { testAuth, tokenFor } from '../support/demo.js'
import { decode, encodeRequest } from '../../shared/wire.js'

let cluster: Replication
let primary: PgCluster
let standby: PgCluster
let primaryKnex: Knex
let standbyKnex: Knex
/** Statements each server ran, from knex's `query` events (the routing's own checks left out). */
const ran = { primary: [] as string[], standby: [] as string[] }
const opened: Knex[] = []
const logged: string[] = []

const CHECKS = /pg_current_wal_lsn|pg_current_wal_insert_lsn|pg_is_in_recovery/

function spy(knex: Knex, into: string[]): Knex {
  knex.on('query', (query: { sql: string }) => CHECKS.test(query.sql) || into.push(query.sql))
  return knex
}

function connect(cluster: PgCluster, into: string[]): Knex {
  const knex = spy(knexFactory({ client: 'pg', connection: cluster.url, pool: { min: 0, max: 4 } }), into)
  opened.push(knex)
  return knex
}

function executorOn(options: Partial<ExecutorOptions<unknown>> = {}): Executor {
  return createExecutor({
    knex: connect(primary, ran.primary),
    replicas: [connect(standby, ran.standby)],
    replication: { maxLagMs: 600_000, checkEveryMs: 20 },
    api,
    procedures,
    auth: testAuth,
    logger: { error: (message: string) => void logged.push(message), info: (message: string) => void logged.push(message) },
    ...options,
  } as ExecutorOptions<unknown>)
}

/** A client that sends its requests to each executor in turn, signed in as author 1. */
function clientOf(...executors: Executor[]): Client<DemoApi, DemoProcedures> {
  return sentBy(...executors).db
}

/** `clientOf`, with the requests it sent. */
function sentBy(...executors: Executor[]): { db: Client<DemoApi, DemoProcedures>; sent: Request[] } {
  const sent: Request[] = []
  let turn = 0
  const client = createClient<DemoApi, DemoProcedures>({
    url: 'http://test.local/orm',
    headers: async () => ({ authorization: `Bearer ${await tokenFor(1n)}` }),
    fetch: async (input, init) => {
      const request = new Request(input as string, init)
      sent.push(request.clone())
      return executors[turn++ % executors.length]!(request)
    },
  })
  return { db: client, sent }
}

/** Waits until `read` runs on `side` (what that side ran is cleared before each try). */
const untilServedBy = (side: keyof typeof ran, read: () => PromiseLike<unknown>, what: string) =>
  until(async () => {
    ran[side].length = 0
    await read()
    return ran[side].length > 0
  }, what)

const pause = () => cluster.pause()
const caughtUp = () => cluster.caughtUp()

beforeAll(async () => {
  cluster = await startReplication()
  ;({ primary, standby, primaryKnex, standbyKnex } = cluster)
}, 120_000)

afterAll(async () => {
  await Promise.all(opened.map((knex) => knex.destroy()))
  await cluster?.destroy()
})

describe('read replicas', () => {
  it('the standby is one: it streams from the primary and refuses writes', async () => {
    const { rows } = (await standbyKnex.raw('select pg_is_in_recovery() as standby')) as { rows: { standby: boolean }[] }
    expect(rows[0]!.standby).toBe(true)
    await expect(standbyKnex.raw("insert into tags (name) values ('x')")).rejects.toThrow(/read-only transaction/)
  })

  it('sends reads to the replica and writes, atomic transactions and procedures to the primary', async () => {
    const executor = executorOn()
    await executor.ready()
    const db = clientOf(executor)
    ran.primary.length = 0
    ran.standby.length = 0
    const posts = await db.Post.query().where('authorId', 1n).orderBy('id').limit(3)
    expect(posts).toHaveLength(3)
    expect(await db.Post.query().where('authorId', 1n).stream().next()).toMatchObject({ done: false })
    expect(ran.standby.filter((sql) => /from "posts"/.test(sql)).length).toBeGreaterThanOrEqual(2)
    expect(ran.primary).toEqual([])

    ran.standby.length = 0
    const [inside] = await db.transaction((tx) => [tx.Post.query().findById(posts[0]!.id)])
    expect(inside).toMatchObject({ id: posts[0]!.id })
    const written = await db.Post.query().insert({ title: 'on the primary', body: '', published: true })
    expect(written.title).toBe('on the primary')
    expect(ran.standby).toEqual([])
    expect(ran.primary.some((sql) => /insert into "posts"/.test(sql))).toBe(true)
    expect(ran.primary.some((sql) => /from "posts"/.test(sql))).toBe(true)
  })

  it('answers every write request with the WAL position after its commit, on every write path, and reads with none', async () => {
    const LSN = /^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/
    const all: string[] = []
    const pooled = (cluster: PgCluster, connection: object = {}) => {
      const knex = knexFactory({ client: 'pg', connection: { connectionString: cluster.url, ...connection }, pool: { min: 0, max: 4 } })
      knex.on('query', (query: { sql: string }) => void all.push(query.sql))
      opened.push(knex)
      return knex
    }
    const setLocal = executorOn({ knex: pooled(primary), replicas: [pooled(standby)] })
    // Where the connection sets statement_timeout, a lone patch answered with a count runs with no transaction.
    const plain = executorOn({ knex: pooled(primary, { statement_timeout: 5000 }), replicas: [pooled(standby, { statement_timeout: 5000 })], statementTimeout: 'connection' })
    await Promise.all([setLocal.ready(), plain.ready()])
    const post = async (executor: Executor, body: unknown, headers: Record<string, string> = {}) =>
      executor(
        new Request('http://test.local/orm', {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${await tokenFor(1n)}`, ...headers },
          body: encodeRequest(body as never),
        }),
      )
    const [mine] = (await primaryKnex('posts').where({ author_id: 1 }).orderBy('id').limit(2).select('id')) as { id: number }[]
    const cases: [string, Executor, unknown, Record<string, string>?][] = [
      ["an insert written as the executor's own SQL", setLocal, { v: 1, queries: [{ model: 'Post', op: 'insert', rows: [{ title: 'lsn', body: '', published: true }], returning: 'first' }] }],
      ['a procedure, in a knex transaction', setLocal, { v: 1, queries: [{ op: 'call', procedure: 'moveViews', args: { from: mine!.id, to: mine!.id, views: 1 } }] }],
      ['a patch run as one statement with no transaction', plain, { v: 1, queries: [{ model: 'Author', op: 'patch', values: { bio: 'lsn' }, where: { kind: 'compare', column: 'id', op: '=', value: 1n }, returning: 'count' }] }],
      ['a write refused after an attempt that got no answer (CONFLICT)', setLocal, { v: 1, queries: [{ model: 'Tag', op: 'insert', rows: [{ name: 'lsn' }], returning: 'first' }] }, { 'idempotency-retry': '1', 'idempotency-key': 'k' }],
    ]
    for (const [name, executor, body, headers] of cases) {
      all.length = 0
      const response = await post(executor, body, headers)
      const position = response.headers.get('async-orm-lsn')
      expect(position, name).toMatch(LSN)
      const { rows } = (await primaryKnex.raw('select pg_current_wal_insert_lsn() >= ?::pg_lsn as past', [position])) as { rows: { past: boolean }[] }
      expect(rows[0]!.past, name).toBe(true)
      if (response.status === 200) {
        // Read in the commit's own round trip (or on its connection), not by a query of its own through the pool.
        expect(all.filter((sql) => /^select pg_current_wal_insert_lsn/.test(sql)).length, name).toBeLessThanOrEqual(executor === plain ? 1 : 0)
      } else expect(response.status, name).toBe(409)
    }
    const read = await post(setLocal, { v: 1, queries: [{ model: 'Post', op: 'select', limit: 1 }] })
    expect(read.status).toBe(200)
    expect(read.headers.get('async-orm-lsn')).toBeNull()
  })

  it('still tells a transaction that PostgreSQL rolled back at COMMIT (an error a procedure caught) from one that committed', async () => {
    const executor = executorOn({
      procedures: {
        caught: procedure({
          allow: true,
          args: v.object({}),
          run: async ({ trx }) => {
            await trx('tags').insert({ name: 'rolled back at commit' })
            await trx.raw('select 1 / 0').catch(() => undefined)
            return 'caught'
          },
        }),
      } as never,
    })
    await executor.ready()
    const response = await executor(
      new Request('http://test.local/orm', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${await tokenFor(1n)}` },
        body: encodeRequest({ v: 1, queries: [{ op: 'call', procedure: 'caught', args: {} }] } as never),
      }),
    )
    expect(response.status).toBe(500)
    expect(decode(await response.text())).toMatchObject({ error: { code: 'INTERNAL' } })
    // An answer that may follow a commit carries a position all the same.
    expect(response.headers.get('async-orm-lsn')).toMatch(/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/)
    expect(await primaryKnex('tags').where({ name: 'rolled back at commit' }).first()).toBeUndefined()
  })

  it("keeps a writer's reads on a database that has its write, from either executor, while the replica lags", async () => {
    const [a, b] = [executorOn(), executorOn()]
    await Promise.all([a.ready(), b.ready()])
    await caughtUp()
    const { db: writer, sent } = sentBy(a, b)
    const other = clientOf(b)
    await pause()
    try {
      // Through executor A; the read after it goes to executor B.
      const post = await writer.Post.query().insert({ title: 'read your writes', body: '', published: true })
      ran.primary.length = 0
      ran.standby.length = 0
      expect(await writer.Post.query().findById(post.id)).toMatchObject({ title: 'read your writes' })
      expect(sent.at(-1)!.headers.get('async-orm-lsn')).toMatch(/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/)
      expect(ran.primary.some((sql) => /from "posts"/.test(sql))).toBe(true)
      // Without the position, the lagging replica serves the read: the row is not there yet.
      ran.primary.length = 0
      expect(await other.Post.query().findById(post.id)).toBeUndefined()
      expect(ran.primary).toEqual([])
      expect(ran.standby.some((sql) => /from "posts"/.test(sql))).toBe(true)
    } finally {
      await cluster.resume()
    }
    await caughtUp()
    // Once the replica has replayed the write, it serves the writer's reads again.
    await untilServedBy('standby', () => writer.Post.query().where('authorId', 1n).limit(1), "the replica serves the writer's reads again")
  })

  it('serves reads from the primary while the replica is further behind than maxLagMs', async () => {
    const executor = executorOn({ replication: { maxLagMs: 200, checkEveryMs: 20 } })
    await executor.ready()
    await caughtUp()
    const db = clientOf(executor)
    await pause()
    try {
      await primaryKnex.raw("insert into tags (name) values ('lagging')")
      await untilServedBy('primary', () => db.Tag.query().limit(1), 'reads leave the lagging replica')
      expect(logged.some((line) => /replicas\[0\] serves no reads: it is more than 200 ms behind/.test(line))).toBe(true)
    } finally {
      await cluster.resume()
    }
    await untilServedBy('standby', () => db.Tag.query().limit(1), 'the replica serves reads again')
  })

  it('reads from the primary after an idle spell, until a new check has found the replica in bounds', async () => {
    const executor = executorOn()
    await executor.ready()
    const db = clientOf(executor)
    ran.standby.length = 0
    await db.Tag.query().limit(1)
    expect(ran.standby.some((sql) => /from "tags"/.test(sql))).toBe(true)
    // Longer than checkEveryMs plus a second: the last check says nothing of the lag now.
    await new Promise((resolve) => setTimeout(resolve, 1100))
    ran.primary.length = 0
    ran.standby.length = 0
    await db.Tag.query().limit(1)
    expect(ran.standby).toEqual([])
    expect(ran.primary.some((sql) => /from "tags"/.test(sql))).toBe(true)
    await untilServedBy('standby', () => db.Tag.query().limit(1), 'the replica serves reads again')
  })

  it('loses no read when the replica stops under load, and uses it again once it is back', async () => {
    const executor = executorOn()
    await executor.ready()
    const db = clientOf(executor)
    let stopped = false
    const failures: unknown[] = []
    let reads = 0
    const reader = async () => {
      while (!stopped) {
        try {
          const rows = await db.Post.query().where('authorId', 2n).orderBy('id').limit(5)
          if (rows.length !== 5) failures.push(new Error(`${rows.length} rows`))
          reads++
        } catch (error) {
          failures.push(error)
        }
      }
    }
    const readers = Array.from({ length: 6 }, reader)
    await until(() => reads > 30, 'reads run on the replica')
    await standby.stop('immediate')
    const afterStop = reads
    await until(() => reads > afterStop + 60, 'reads go on without the replica')
    stopped = true
    await Promise.all(readers)
    expect(failures).toEqual([])
    expect(logged.some((line) => /replicas\[0\] serves no reads/.test(line))).toBe(true)

    await standby.start()
    await untilServedBy('standby', () => db.Post.query().limit(1), 'the replica serves reads again')
    expect(logged.some((line) => /replicas\[0\] serves reads again/.test(line))).toBe(true)
  })

  it('starts with a replica that is down, and reads from the primary meanwhile', async () => {
    const knex = spy(knexFactory({ client: 'pg', connection: 'postgres://postgres@127.0.0.1:1/postgres', pool: { min: 0, max: 1 } }), [])
    opened.push(knex)
    const executor = executorOn({ replicas: [knex] })
    await executor.ready()
    ran.primary.length = 0
    expect(await clientOf(executor).Tag.query().limit(1)).toHaveLength(1)
    expect(ran.primary.some((sql) => /from "tags"/.test(sql))).toBe(true)
  })

  it('refuses replicas that are not knex instances, and replication bounds that are not positive', () => {
    expect(() => executorOn({ replicas: [{} as never] })).toThrow('replicas[0] must be a knex instance')
    expect(() => executorOn({ replicas: ['postgres://replica' as never] })).toThrow('replicas[0] must be a knex instance')
    expect(() => executorOn({ replication: { maxLagMs: 0 } })).toThrow('replication.maxLagMs must be a positive number of milliseconds')
    expect(() => executorOn({ replication: { checkEveryMs: Number.NaN } })).toThrow('replication.checkEveryMs must be a positive number of milliseconds')
  })

  it('refuses at ready() a replica that is not a standby', async () => {
    const executor = executorOn({ replicas: [connect(primary, [])] })
    await expect(executor.ready()).rejects.toThrow(/replicas\[0\]: it is not a standby \(pg_is_in_recovery\(\) is false\)/)
  })

  it('refuses at ready() a standby of another cluster (its system identifier is not the primary\'s)', async () => {
    const otherPrimary = await startPgCluster()
    const otherStandby = await startPgCluster({ standbyOf: otherPrimary })
    const other = knexFactory({ client: 'pg', connection: otherStandby.url, pool: { min: 0, max: 1 } })
    try {
      const executor = executorOn({ replicas: [other] })
      await expect(executor.ready()).rejects.toThrow(/replicas\[0\]: it is a standby of another cluster/)
    } finally {
      await other.destroy()
      await otherStandby.destroy()
      await otherPrimary.destroy()
    }
  }, 120_000)

  it('refuses a request whose async-orm-lsn is not a WAL position, before reading it', async () => {
    const executor = executorOn()
    for (const bad of ['latest', '1/2/3', '0x10/20', '123456789/0', "0/1'; select 1"]) {
      const response = await executor(
        new Request('http://test.local/orm', {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'async-orm-lsn': bad },
          body: encodeRequest({ v: 1, queries: [{ model: 'Tag', op: 'select' }] } as never),
        }),
      )
      expect(response.status).toBe(400)
      expect(await response.text()).toMatch(/async-orm-lsn must be a WAL position/)
    }
  })

  it('sends a read whose position no replica has reached to the primary', async () => {
    const executor = executorOn()
    await executor.ready()
    ran.primary.length = 0
    ran.standby.length = 0
    const response = await executor(
      new Request('http://test.local/orm', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'async-orm-lsn': 'FFFFFFFF/FFFFFFFF' },
        body: encodeRequest({ v: 1, queries: [{ model: 'Tag', op: 'select', limit: 1 }] } as never),
      }),
    )
    expect(response.status).toBe(200)
    // The replica looked at its replay position in the read's own session, and left the read.
    expect(ran.standby.filter((sql) => /from "tags"/.test(sql))).toEqual([])
    expect(ran.standby.some((sql) => /pg_last_wal_replay_lsn/.test(sql))).toBe(true)
    expect(ran.primary.some((sql) => /from "tags"/.test(sql))).toBe(true)
  })

  it("serves a writer's read from a replica that has replayed the write since its last check, found in the read's own session", async () => {
    // Checks far apart: the last one predates the write.
    const executor = executorOn({ replication: { maxLagMs: 600_000, checkEveryMs: 60_000 } })
    await executor.ready()
    const { db: writer, sent } = sentBy(executor)
    const post = await writer.Post.query().insert({ title: 'replayed since the check', body: '', published: true })
    await caughtUp()
    ran.primary.length = 0
    ran.standby.length = 0
    expect(await writer.Post.query().findById(post.id)).toMatchObject({ title: 'replayed since the check' })
    expect(sent.at(-1)!.headers.get('async-orm-lsn')).toMatch(/\//)
    expect(ran.standby.some((sql) => /pg_last_wal_replay_lsn/.test(sql))).toBe(true)
    expect(ran.standby.some((sql) => /from "posts"/.test(sql))).toBe(true)
    expect(ran.primary).toEqual([])
    // What the read found is kept: the next read needs no look of its own.
    ran.standby.length = 0
    await writer.Post.query().findById(post.id)
    expect(ran.standby.some((sql) => /pg_last_wal_replay_lsn/.test(sql))).toBe(false)
    expect(ran.standby.some((sql) => /from "posts"/.test(sql))).toBe(true)
  })
})
