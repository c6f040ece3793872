/**
 * `qs.stream()` end to end over real HTTP (the Node adapter), on PostgreSQL and PGlite:
 * the rows of a select read with a cursor in batches of 1,000 and sent as the client takes
 * them, the same rows `fetch()` answers, under the same policy; limits, refusals, and a
 * client that stops early or reads too slowly letting go of the connection.
 */
import knexFactory, { type Knex } from 'knex'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AsyncOrmError, createClient, type Client } from '../../client/index.js'
import type { DemoApi } from '../../examples/demo/api.js'
import { Post } from '../../examples/demo/models.js'
import { serve, type RunningServer } from '../../executor/adapters/node.js'
import { createExecutor, type ExecutorOptions } from '../../executor/index.js'
import { api, procedures } from '../../examples/demo/api.js'
import { encode } from '../../shared/wire.js'
import { DATABASE_KINDS } from '../support/databases.js'
import { openDemo, testAuth, tokenFor, type Demo } from '../support/demo.js'
import { plain } from '../support/compare.js'

/** Posts added to the demo's, so that a stream takes several batches. */
const EXTRA_POSTS = 2_400

interface Pool {
  numUsed(): number
}

describe.each([...DATABASE_KINDS, 'pgbouncer'] as const)('qs.stream() on %s', (kind) => {
  let demo: Demo
  let running: RunningServer
  let db: Client<DemoApi>
  const servers: RunningServer[] = []

  /** A server and an anonymous client over another executor on the same database. */
  async function withExecutor(options: Partial<ExecutorOptions<unknown>>): Promise<Client<DemoApi>> {
    const executor = createExecutor({ knex: demo.knex, api, procedures, auth: testAuth, logger: { error() {} }, ...options } as ExecutorOptions<unknown>)
    const server = await serve(executor, { port: 0 })
    servers.push(server)
    return createClient<DemoApi>({ url: server.url, retry: 0 })
  }

  const pool = () => (demo.knex.client as unknown as { pool: Pool }).pool
  const connectionsInUse = async () => {
    // A connection goes back to the pool a moment after its stream ends.
    for (let i = 0; i < 100 && pool().numUsed() > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20))
    return pool().numUsed()
  }

  beforeAll(async () => {
    demo = await openDemo(kind)
    const rows = Array.from({ length: EXTRA_POSTS }, (_, i) => ({
      author_id: (i % 60) + 1,
      title: `bulk ${i}`,
      body: 'x'.repeat(i % 50),
      published: i % 7 !== 0,
      views: i,
      created_at: new Date(Date.UTC(2024, 0, 1) + i * 60_000),
    }))
    for (let i = 0; i < rows.length; i += 500) await demo.knex('posts').insert(rows.slice(i, i + 500))
    running = await serve(demo.executor, { port: 0 })
    db = createClient<DemoApi>({ url: running.url, retry: 0 })
  })
  afterAll(async () => {
    for (const server of [running, ...servers]) await server?.close()
    await demo?.close()
  })

  async function collect<T>(rows: AsyncIterable<T>): Promise<T[]> {
    const out: T[] = []
    for await (const row of rows) out.push(row)
    return out
  }

  it('yields every row the policy lets the caller read, typed and in order, across batches', async () => {
    const rows = await collect(db.Post.query().orderBy('id').stream())
    const expected = await Post.query(demo.knex).where('published', true).orderBy('id')
    expect(rows.length).toBe(expected.length)
    expect(rows.length).toBeGreaterThan(2_000)
    expect(typeof rows[0]!.authorId).toBe('bigint')
    expect(rows[0]!.createdAt).toBeInstanceOf(Date)
    expect(plain(rows)).toEqual(plain(expected.map((p) => ({ id: p.id, authorId: p.authorId, title: p.title, body: p.body, published: p.published, views: p.views, createdAt: p.createdAt }))))
  })

  it('answers the rows fetch() answers for the same query, relations and filters included', async () => {
    const query = () =>
      db.Post.query()
        .where('views', '<', 900)
        .select('id', 'title', 'views', db.Post.relatedQuery('tags').count().as('tagCount'))
        .withGraphFetched({ author: true })
        .orderBy('views', 'desc')
        .orderBy('id')
        .limit(1000)
    const [streamed, fetched] = await Promise.all([collect(query().stream()), query()])
    expect(streamed.length).toBe(fetched.length)
    expect(streamed).toEqual(fetched)
    expect(streamed.some((post) => post.author !== null)).toBe(true)
  })

  it('streams relatedQuery(…).for(…) and the Django-style manager as fetch() answers them', async () => {
    const related = () => db.Author.relatedQuery('posts').for([1n, 2n, 3n]).orderBy('id')
    // fetch() takes the default limit (100) where a stream takes them all.
    const streamed = await collect(related().stream())
    expect(streamed.length).toBeGreaterThan(100)
    expect(streamed).toEqual(await related().limit(1000))
    const django = () => db.Post.objects.filter({ views__lt: 500 }).orderBy('-id')
    expect(await collect(django().stream())).toEqual(await django().query().limit(1000))
  })

  it('applies the read policy of the caller: an admin streams unpublished posts too', async () => {
    const admin = createClient<DemoApi>({ url: running.url, headers: async () => ({ authorization: `Bearer ${await tokenFor(1n, { role: 'admin' })}` }) })
    const all = await collect(admin.Post.query().orderBy('id').stream())
    const [{ count }] = (await demo.knex('posts').count({ count: '*' })) as [{ count: string | number }]
    expect(all.length).toBe(Number(count))
    expect(all.some((post) => !post.published)).toBe(true)
  })

  it('takes a limit up to maxStreamRows, and past it without one fails after the rows it sent', async () => {
    const small = await withExecutor({ limits: { maxStreamRows: 1_500 } })
    expect(await collect(small.Post.query().orderBy('id').limit(1_200).stream())).toHaveLength(1_200)
    const tooLarge = await collect(small.Post.query().limit(1_501).stream()).catch((error: unknown) => error)
    expect(tooLarge).toBeInstanceOf(AsyncOrmError)
    expect((tooLarge as AsyncOrmError).code).toBe('LIMIT_EXCEEDED')
    const seen: unknown[] = []
    const unbounded = await (async () => {
      for await (const row of small.Post.query().orderBy('id').stream()) seen.push(row)
    })().catch((error: unknown) => error)
    expect((unbounded as AsyncOrmError).code).toBe('LIMIT_EXCEEDED')
    expect((unbounded as AsyncOrmError).message).toContain('maxStreamRows')
    expect(seen).toHaveLength(1_000)
    expect(await connectionsInUse()).toBe(0)
  })

  it('refuses what it cannot stream with a status, before any row', async () => {
    const refused = async (body: unknown) => {
      const response = await fetch(running.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: encode(body) })
      return { status: response.status, type: response.headers.get('content-type') }
    }
    const select = { model: 'Post', op: 'select' }
    expect(await refused({ v: 1, queries: [{ model: 'Post', op: 'count' }], stream: true })).toEqual({ status: 400, type: expect.stringContaining('application/json') })
    expect((await refused({ v: 1, queries: [select, select], stream: true })).status).toBe(400)
    expect((await refused({ v: 1, queries: [select], stream: true, atomic: true })).status).toBe(400)
    expect((await refused({ v: 1, queries: [select], stream: 'yes' })).status).toBe(400)
    expect((await refused({ v: 1, queries: [{ model: 'Secret', op: 'select' }], stream: true })).status).toBe(400)
    const ok = await refused({ v: 1, queries: [select], stream: true })
    expect(ok).toEqual({ status: 200, type: 'application/x-ndjson; charset=utf-8' })

    // A query refused as fetch() would refuse it, with the same code.
    const hidden = () => db.Author.query().where('email' as never, 'a@example.com' as never)
    const fetched = await hidden().catch((error: unknown) => error)
    const streamed = await collect(hidden().stream()).catch((error: unknown) => error)
    expect(streamed).toBeInstanceOf(AsyncOrmError)
    expect((streamed as AsyncOrmError).code).toBe((fetched as AsyncOrmError).code)
    // A compile error as well: stream() is there only for querysets that answer rows.
    const counted = db.Post.query().count() as unknown as { stream(): AsyncIterable<unknown> }
    const notRows = await collect(counted.stream()).catch((error: unknown) => error)
    expect(notRows).toBeInstanceOf(TypeError)
  })

  it('lets go of the connection when the client stops early', async () => {
    for (let i = 0; i < 3; i++) {
      let taken = 0
      for await (const post of db.Post.query().orderBy('id').stream()) {
        expect(post.id).toBeDefined()
        if (++taken === 10) break
      }
      expect(taken).toBe(10)
    }
    const controller = new AbortController()
    const aborted = await (async () => {
      for await (const post of db.Post.query().stream({ signal: controller.signal })) if (post) controller.abort()
    })().catch((error: unknown) => error)
    expect((aborted as AsyncOrmError).code).toBe('ABORTED')
    expect(await connectionsInUse()).toBe(0)
    // And the database is free for the next request (PGlite has one connection).
    expect(await db.Post.query().findById(1)).toBeDefined()
  })

  /** A stream request to `executor` in process, and a reader of its body (no socket buffers between). */
  const open = async (executor: (request: Request) => Promise<Response>, query: object) => {
    const response = await executor(
      new Request('http://test.local/orm', { method: 'POST', headers: { 'content-type': 'application/json' }, body: encode({ v: 1, queries: [query], stream: true }) }),
    )
    return { response, reader: response.status === 200 ? response.body!.getReader() : undefined }
  }
  const byId = { model: 'Post', op: 'select', orderBy: [{ column: 'id', direction: 'asc' }] }

  it('never cancels a statement on a connection it has given back, when its client hangs up after it ended', async () => {
    // A pool of one connection, so the next statement runs on the stream's connection.
    const single = kind === 'pglite' ? demo.knex : knexFactory({ ...(demo.knex.client.config as Knex.Config), pool: { min: 0, max: 1 } })
    try {
      const executor = createExecutor({ knex: single, api, procedures, logger: { error() {} } } as ExecutorOptions<unknown>)
      // Two batches: the second closes the stream (and gives the connection back) while its
      // last line is still unread; the client hangs up only then.
      const { reader } = await open(executor, { ...byId, limit: 1_999 })
      await reader!.read()
      await reader!.read()
      // Another request's statement on that same connection.
      const victim = single.raw('select pg_sleep(0.3) as slept').then((result: { rows: unknown[] }) => result.rows)
      await new Promise((resolve) => setTimeout(resolve, 100))
      await reader!.cancel()
      await expect(victim).resolves.toBeDefined()
    } finally {
      if (single !== demo.knex) await single.destroy()
    }
  })

  it('runs at most maxStreams streams at once, answering more with 503, and counts a stream out when it ends', async () => {
    const executor = createExecutor({ knex: demo.knex, api, procedures, logger: { error() {} }, limits: { maxStreams: 1 } } as ExecutorOptions<unknown>)
    const first = await open(executor, byId)
    expect(first.response.status).toBe(200)
    const second = await open(executor, byId)
    expect(second.response.status).toBe(503)
    expect(await second.response.json()).toMatchObject({ json: { error: { code: 'UNAVAILABLE', message: expect.stringContaining('maxStreams') } } })
    // Plain requests are not streams: they still run, on the rest of the pool (PGlite's has one connection).
    if (kind === 'postgres') expect((await executor(new Request('http://test.local/orm', { method: 'POST', headers: { 'content-type': 'application/json' }, body: encode({ v: 1, queries: [{ model: 'Tag', op: 'count' }] }) }))).status).toBe(200)
    await first.reader!.cancel()
    const third = await open(executor, { ...byId, limit: 3 })
    expect(third.response.status).toBe(200)
    while (!(await third.reader!.read()).done);
    // The default takes only part of the pool.
    expect(createExecutor({ knex: demo.knex, api }).limits.maxStreams).toBe(kind === 'pglite' ? 1 : 2)
  })

  it('holds each line to maxResponseBytes: a first batch too large refuses the stream with 422', async () => {
    const executor = createExecutor({ knex: demo.knex, api, procedures, logger: { error() {} }, limits: { maxResponseBytes: 60_000 } } as ExecutorOptions<unknown>)
    const { response } = await open(executor, byId)
    expect(response.status).toBe(422)
    expect(await response.json()).toMatchObject({ json: { error: { code: 'LIMIT_EXCEEDED' } } })
    expect(await connectionsInUse()).toBe(0)
  })

  it('stops at once on abort, and gives the connection back to the pool for reuse, not closed', async () => {
    const single = kind === 'pglite' ? demo.knex : knexFactory({ ...(demo.knex.client.config as Knex.Config), pool: { min: 0, max: 1 } })
    const server = await serve(createExecutor({ knex: single, api, procedures, logger: { error() {} } } as ExecutorOptions<unknown>), { port: 0 })
    try {
      // With one connection there is one stream at a time: a stream started the moment the
      // last was dropped may find it still counted (the hang-up is still on its way), and is
      // retried as a 503 is.
      const client = createClient<DemoApi>({ url: server.url, retryDelay: 50 })
      // The pooled connection a statement runs on (behind PgBouncer the server backend may
      // change from one transaction to the next; the pool's connection does not).
      const connection = async () => {
        let used: unknown
        const listener = (query: { __knexUid?: unknown }) => (used = query.__knexUid)
        single.on('query', listener)
        await single.raw('select 1')
        single.off('query', listener)
        return used
      }
      const before = await connection()
      expect(before).toBeDefined()
      const controller = new AbortController()
      let seen = 0
      const aborted = await (async () => {
        for await (const post of client.Post.query().orderBy('id').stream({ signal: controller.signal })) {
          if (post && ++seen === 10) controller.abort()
        }
      })().catch((error: unknown) => error)
      expect((aborted as AsyncOrmError).code).toBe('ABORTED')
      expect(seen).toBe(10)
      for (let i = 0; i < 3; i++) {
        for await (const post of client.Post.query().orderBy('id').stream()) if (post) break
      }
      // The same connection: it went back to the pool after each stream.
      expect(await connection()).toBe(before)
    } finally {
      await server.close()
      if (single !== demo.knex) await single.destroy()
    }
  })

  it('reads a batch only when the last one is taken, and ends a stream read too slowly at transactionTimeoutMs', async () => {
    // In process, with no socket buffers between: what the executor reads is what is taken.
    const slow = createExecutor({ knex: demo.knex, api, procedures, logger: { error() {} }, limits: { transactionTimeoutMs: 300 } } as ExecutorOptions<unknown>)
    const response = await slow(
      new Request('http://test.local/orm', { method: 'POST', headers: { 'content-type': 'application/json' }, body: encode({ v: 1, queries: [{ model: 'Post', op: 'select', orderBy: [{ column: 'id', direction: 'asc' }] }], stream: true }) }),
    )
    expect(response.status).toBe(200)
    // Read straight from the body: a pipe would read ahead.
    const reader = response.body!.getReader()
    const decoder = new TextDecoder()
    let text = decoder.decode((await reader.read()).value!, { stream: true })
    demo.sql.length = 0
    await new Promise((resolve) => setTimeout(resolve, 600))
    // Nothing was read while the client held its batch, and the deadline let go of the connection.
    expect(demo.sql.filter((statement) => statement.startsWith('fetch'))).toEqual([])
    expect(pool().numUsed()).toBe(0)
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += decoder.decode(chunk.value, { stream: true })
    const lines = text.trim().split('\n').map((line) => JSON.parse(line) as { json: { rows?: unknown[]; error?: { code: string } } })
    expect(lines).toHaveLength(2)
    expect(lines[0]!.json.rows).toHaveLength(1000)
    expect(lines[1]!.json.error?.code).toBe('TIMEOUT')
  })
})
