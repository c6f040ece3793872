/**
 * A database outage is `UNAVAILABLE` (503), which clients retry, never `INTERNAL`; it is
 * logged once, not once per request; and the pool heals when the server is back. Run on
 * an ephemeral PostgreSQL server of its own that the tests restart, stop and whose
 * backends they kill, with the executor behind a real HTTP server and real clients.
 * Outcomes are counted from what clients report, never timed.
 */
import knexFactory, { type Knex } from 'knex'
import * as v from 'valibot'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { AsyncOrmError, createClient, type Client } from '../../client/index.js'
import { api, procedures, type DemoApi } from '../../examples/demo/api.js'
import { migrate, seed } from '../../examples/demo/schema.js'
import { toWireError } from '../../executor/executor-error.js'
import { createExecutor, procedure } from '../../executor/index.js'
import { serve, type RunningServer } from '../../executor/adapters/node.js'
import { DATABASE_UNAVAILABLE, isConnectionFailure, OutageLog } from '../../executor/outage.js'
import { decode, encodeRequest } from '../../shared/wire.js'
import { TEST_SIZE, testAuth, tokenFor } from '../support/demo.js'
import { answers, startPgCluster, type PgCluster } from '../support/pg-cluster.js'
import { startPgBouncer, type PgBouncer } from '../support/pgbouncer.js'

/** The cluster's own admin connection, which kills backends (set in `beforeAll`). */
let admin: Knex

const faultProcedures = {
  ...procedures,
  /** Holds a transaction open on the server, for its backend to be killed. */
  sleep: procedure({
    allow: true,
    args: v.object({ seconds: v.number() }),
    run: async ({ trx, args }) => {
      await trx.raw('select pg_sleep(?)', [args.seconds])
      return 'slept'
    },
  }),
  /** Has its own backend terminated (and waits until it has exited): the COMMIT after it cannot arrive. */
  dropConnection: procedure({
    allow: true,
    args: v.object({}),
    run: async ({ trx }) => {
      const { rows } = (await trx.raw('select pg_backend_pid() as pid')) as { rows: { pid: number }[] }
      await admin.raw('select pg_terminate_backend(?, 10000)', [rows[0]!.pid])
      return 'dropped'
    },
  }),
}

type FaultClient = Client<DemoApi, typeof faultProcedures>

interface LogLine {
  readonly message: string
  readonly details: Record<string, unknown>
}

const UNAVAILABLE_LINE = 'async-orm executor: database unavailable'
const AVAILABLE_LINE = 'async-orm executor: database available again'

/** An executor on its own pool behind a real HTTP server, with what it logged and answered. */
interface Served {
  readonly url: string
  readonly knex: Knex
  readonly server: RunningServer
  readonly lines: LogLine[]
  /** The HTTP status of every answer the executor gave. */
  readonly statuses: number[]
  linesSaying(message: string): LogLine[]
  /** Forgets what was logged and answered so far. */
  reset(): void
}

/** How the executor reaches the server: its timeout setting, or through PgBouncer (transaction mode). */
type StatementTimeout = 'set-local' | 'connection' | 'pgbouncer'

describe('database outage (ephemeral PostgreSQL, real HTTP, real clients)', { timeout: 120_000 }, () => {
  let cluster: PgCluster
  let bouncer: PgBouncer
  const served = new Map<StatementTimeout, Served>()
  const tokens = new Map<bigint, string>()
  /** A published post, which comments may refer to. */
  let postId: number
  // knex warns on every failed acquire through its own logger; the executor's is the one under test.
  const quiet = { warn() {}, error() {}, deprecate() {}, debug() {} }

  async function serveExecutor(mode: StatementTimeout): Promise<Served> {
    const statementTimeout = mode === 'connection' ? 'connection' : 'set-local'
    const connection = mode === 'connection' ? { connectionString: cluster.url, statement_timeout: 30_000 } : mode === 'pgbouncer' ? bouncer.url('postgres') : cluster.url
    const knex = knexFactory({ client: 'pg', connection, pool: { min: 0, max: 8 }, log: quiet })
    const lines: LogLine[] = []
    const statuses: number[] = []
    const record = (message: string, details: Record<string, unknown>) => void lines.push({ message, details })
    const executor = createExecutor({
      knex,
      api,
      procedures: faultProcedures,
      auth: testAuth,
      idempotency: true,
      statementTimeout,
      ...(mode === 'pgbouncer' && { pooler: 'transaction' as const }),
      // Small, so a request waiting for a connection during an outage answers soon.
      limits: { acquireTimeoutMs: 500, statementTimeoutMs: 30_000 },
      logger: { error: record, info: record },
    })
    const counted = Object.assign(
      async (request: Request) => {
        const response = await executor(request)
        statuses.push(response.status)
        return response
      },
      { ready: () => executor.ready() },
    )
    const server = await serve(counted, { port: 0 })
    return {
      url: `${server.url}/orm`,
      knex,
      server,
      lines,
      statuses,
      linesSaying: (message) => lines.filter((line) => line.message === message),
      reset() {
        lines.length = 0
        statuses.length = 0
      },
    }
  }

  beforeAll(async () => {
    cluster = await startPgCluster()
    admin = knexFactory({ client: 'pg', connection: cluster.url, pool: { min: 0, max: 1 }, log: quiet })
    await migrate(admin)
    await seed(admin, TEST_SIZE)
    bouncer = await startPgBouncer({ host: '127.0.0.1', port: cluster.port })
    for (const mode of ['set-local', 'connection', 'pgbouncer'] as const) served.set(mode, await serveExecutor(mode))
    postId = ((await admin('posts').where({ published: true }).orderBy('id').first('id')) as { id: number }).id
    for (const id of [1n, 2n, 3n]) tokens.set(id, await tokenFor(id, { expiresIn: '30m' }))
  })

  // A failed test stops its callers too, so the server can close.
  afterEach(() => Promise.all([...runningLoads].map((load) => load.stop())))

  afterAll(async () => {
    for (const { server, knex } of served.values()) {
      await server.close()
      await knex.destroy()
    }
    await admin?.destroy()
    await bouncer?.destroy()
    await cluster?.destroy()
  })

  const executorFor = (mode: StatementTimeout = 'set-local'): Served => served.get(mode)!

  const clientFor = (target: Served, options: { authorId?: bigint; retry: number }): FaultClient => {
    const token = options.authorId === undefined ? undefined : tokens.get(options.authorId)
    return createClient<DemoApi, typeof faultProcedures>({
      url: target.url,
      retry: options.retry,
      retryDelay: 50,
      ...(token !== undefined && { headers: { authorization: `Bearer ${token}` } }),
    })
  }

  /** Comment bodies that start with `prefix`, with how many rows hold each. */
  async function commentsLike(prefix: string): Promise<Map<string, number>> {
    const rows = (await admin('comments').where('body', 'like', `${prefix}%`).groupBy('body').select('body').count({ n: '*' })) as { body: string; n: string }[]
    return new Map(rows.map((row) => [row.body, Number(row.n)]))
  }

  /**
   * The outage was logged in a line or a few, not once per failed request. An answer
   * already under way when the outage began may end it in the log (a query did succeed),
   * so the next failure starts another: a few lines at most, whatever the traffic.
   */
  function expectLoggedOnce(target: Served): void {
    expect(target.lines.filter((line) => line.message !== UNAVAILABLE_LINE && line.message !== AVAILABLE_LINE)).toEqual([])
    const down = target.linesSaying(UNAVAILABLE_LINE).length
    expect(down).toBeGreaterThanOrEqual(1)
    expect(down).toBeLessThanOrEqual(3)
    expect(down).toBeLessThan(target.statuses.filter((status) => status === 503).length)
    expect(target.linesSaying(AVAILABLE_LINE).length).toBeGreaterThanOrEqual(1)
  }

  it.each([
    ['set-local', 'fast'],
    ['connection', 'fast'],
    ['set-local', 'immediate'],
    // PgBouncer answers its own errors (08P01) while it has no server: UNAVAILABLE too.
    ['pgbouncer', 'immediate'],
  ] as const)(
    'answers UNAVAILABLE while PostgreSQL restarts under load; reads ride through on retries (statementTimeout %s, %s shutdown)',
    async (mode, shutdown) => {
      const target = executorFor(mode)
      target.reset()
      // Enough retries for the client's backoff (at least 25 s in all) to outlast a restart.
      const load = startLoad({
        prefix: `restart-${mode}-${shutdown}-${process.pid}-`,
        readers: 4,
        writers: 2,
        postId,
        client: (writer) => clientFor(target, { retry: 10, ...(writer && { authorId: 1n }) }),
      })
      await until('requests succeed before the restart', () => load.succeeded() >= 40)
      const before = target.statuses.length
      await cluster.restart(shutdown)
      const restarted = load.outcomes.length
      await until('every caller succeeds again after the restart', () => load.everyCallerSucceededSince(restarted, 5))
      await load.stop()

      expectLoggedOnce(target)
      // The outage reached requests, and every one it reached was answered 503.
      expect(target.statuses.slice(before).filter((status) => status === 503).length).toBeGreaterThan(0)
      expect(target.statuses.filter((status) => status !== 200 && status !== 503)).toEqual([])
      expect(load.failures().filter((failure) => failure.code !== 'UNAVAILABLE')).toEqual([])
      expect(load.failures().filter((failure) => failure.kind === 'read')).toEqual([])
      await expectWritesOnce(load)
    },
  )

  it('answers UNAVAILABLE while PostgreSQL is stopped, and heals when it starts again', async () => {
    const target = executorFor()
    target.reset()
    // One retry: callers see the outage's answers themselves.
    const load = startLoad({
      prefix: `stop-${process.pid}-`,
      readers: 4,
      writers: 2,
      postId,
      client: (writer) => clientFor(target, { retry: 1, ...(writer && { authorId: 2n }) }),
    })
    await until('requests succeed before the stop', () => load.succeeded() >= 40)
    await cluster.stop('fast')
    const stopped = target.statuses.length
    // Requests keep being answered while the server is down (none waits for it to return).
    await until('the executor answers during the outage', () => target.statuses.slice(stopped).filter((status) => status === 503).length >= 60)
    await cluster.start()
    const started = load.outcomes.length
    await until('every caller succeeds again after the start', () => load.everyCallerSucceededSince(started, 5))
    await load.stop()

    expectLoggedOnce(target)
    expect(target.statuses.filter((status) => status !== 200 && status !== 503)).toEqual([])
    expect(load.failures().length).toBeGreaterThan(0)
    expect(load.failures().filter((failure) => failure.code !== 'UNAVAILABLE')).toEqual([])
    // The fixed message, never the driver's (which names the server's address).
    for (const failure of load.failures()) expect(failure.message).toContain(DATABASE_UNAVAILABLE)
    await expectWritesOnce(load)
  })

  it('starts while PostgreSQL is down, answers UNAVAILABLE, and compiles its API once it is up', async () => {
    await cluster.stop('fast')
    const knex = knexFactory({ client: 'pg', connection: cluster.url, pool: { min: 0, max: 2 }, log: quiet })
    try {
      const executor = createExecutor({ knex, api, procedures, auth: testAuth, idempotency: true, logger: { error() {} } })
      const count = () =>
        executor(new Request('http://test.local/orm', { method: 'POST', headers: { 'content-type': 'application/json' }, body: encodeRequest({ v: 1, queries: [{ model: 'Tag', op: 'count' }] } as never) }))
      await expect(executor.ready()).rejects.toSatisfy(isConnectionFailure)
      const down = await count()
      expect(down.status).toBe(503)
      expect(await down.text()).toContain(DATABASE_UNAVAILABLE)
      await cluster.start()
      const up = await count()
      expect(up.status).toBe(200)
      expect(decode(await up.text())).toEqual({ results: [{ data: expect.any(Number) }] })
      await executor.ready()
    } finally {
      if (!(await answers('127.0.0.1', cluster.port))) await cluster.start()
      await knex.destroy()
    }
  })

  it('replaces pooled connections the server closed while they were idle', async () => {
    const target = executorFor()
    const db = clientFor(target, { retry: 10 })
    expect(await db.Tag.query().orderBy('id').limit(2)).toHaveLength(2)
    target.reset()
    await admin.raw("select pg_terminate_backend(pid) from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid()")
    const reads = await Promise.all(Array.from({ length: 12 }, (_, i) => db.Post.query().where('authorId', BigInt(i + 1)).orderBy('id').limit(3)))
    expect(reads.every((rows) => rows.length > 0)).toBe(true)
    expect(target.statuses.filter((status) => status !== 200 && status !== 503)).toEqual([])
    expect(target.linesSaying(UNAVAILABLE_LINE).length).toBeLessThanOrEqual(1)
  })

  describe('a connection killed mid-transaction', () => {
    /** Runs `work`, kills the backend sleeping in it once it sleeps, and returns how it ended. */
    async function killedDuring(work: Promise<unknown>): Promise<unknown> {
      const settled = work.then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      )
      let pid: number | undefined
      await until('the transaction is sleeping on the server', async () => {
        const { rows } = (await admin.raw("select pid from pg_stat_activity where state = 'active' and query like 'select pg_sleep(%'")) as { rows: { pid: number }[] }
        pid = rows[0]?.pid
        return pid !== undefined
      })
      await admin.raw('select pg_terminate_backend(?)', [pid!])
      const outcome = await settled
      if ('value' in outcome) throw new Error(`the killed transaction answered ${JSON.stringify(outcome.value)}`)
      return outcome.error
    }

    it('answers a procedure call 503 and logs it once', async () => {
      const target = executorFor()
      target.reset()
      const db = clientFor(target, { retry: 0 })
      const error = await killedDuring(db.call('sleep', { seconds: 20 }).fetch())
      expect(error).toBeInstanceOf(AsyncOrmError)
      expect(error).toMatchObject({ code: 'UNAVAILABLE', status: 503, message: expect.stringContaining(DATABASE_UNAVAILABLE) })
      // What the executor said, after the client's `[POST url] 503 UNAVAILABLE:` prefix.
      const said = (error as Error).message.slice((error as Error).message.indexOf('UNAVAILABLE:'))
      expect(said).not.toMatch(/terminat|administrator|ECONN|127\.0\.0\.1|pg_sleep/)
      expect(target.linesSaying(UNAVAILABLE_LINE)).toHaveLength(1)
      expect(isConnectionFailure(target.linesSaying(UNAVAILABLE_LINE)[0]!.details.error)).toBe(true)
      // The next request heals the pool and ends the outage in the log.
      expect(await db.Tag.query().orderBy('id').limit(1)).toHaveLength(1)
      expect(target.linesSaying(AVAILABLE_LINE)).toHaveLength(1)
      expect(target.lines).toHaveLength(2)
    })

    it('rolls back an atomic transaction whose connection was killed, answering 503 once', async () => {
      const target = executorFor()
      target.reset()
      const db = clientFor(target, { retry: 0, authorId: 3n })
      const marker = `killed-${process.pid}-atomic`
      const error = await killedDuring(db.transaction((t) => [t.Comment.query().insert({ postId, body: marker }), t.call('sleep', { seconds: 20 })]))
      expect(error).toMatchObject({ code: 'UNAVAILABLE', status: 503 })
      expect(await commentsLike(marker)).toEqual(new Map())
      expect(target.linesSaying(UNAVAILABLE_LINE)).toHaveLength(1)
      expect(await db.Comment.query().where('body', marker)).toEqual([])
      expect(target.linesSaying(AVAILABLE_LINE)).toHaveLength(1)
    })

    it('never answers success for a write whose COMMIT could not reach the server', async () => {
      const target = executorFor()
      target.reset()
      const marker = `killed-${process.pid}-commit`
      // No Idempotency-Key: nothing is written between the last query and COMMIT, and no
      // store can tell a retry what happened, so the answer must say the outcome is unknown.
      const response = await fetch(target.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens.get(3n)}` },
        body: encodeRequest({
          v: 1,
          atomic: true,
          queries: [
            { model: 'Comment', op: 'insert', rows: [{ postId, body: marker }], returning: 'first' },
            { op: 'call', procedure: 'dropConnection', args: {} },
          ],
        } as never),
      })
      const body = decode<{ error?: { code: string; message: string } }>(await response.text())
      expect(await commentsLike(marker)).toEqual(new Map())
      expect(response.status).not.toBe(200)
      expect(body.error?.message).toBeTypeOf('string')
      expect(body.error!.message).not.toMatch(/terminat|administrator|ECONN|127\.0\.0\.1|not queryable/)
    })
  })

  it("answers a lone write that ran with no transaction around it (statementTimeout 'connection') as of unknown outcome when its connection is lost, not 503", async () => {
    const target = executorFor('connection')
    // The author's row is locked, so the update waits in the server while its backend is ended.
    const locker = knexFactory({ client: 'pg', connection: cluster.url, pool: { min: 0, max: 1 }, log: quiet })
    const lock = await locker.transaction()
    try {
      await lock.raw('select id from authors where id = 3 for update')
      const answer = fetch(target.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens.get(3n)}` },
        body: encodeRequest({ v: 1, queries: [{ model: 'Author', op: 'patch', values: { bio: 'outcome unknown' }, where: { kind: 'compare', column: 'id', op: '=', value: 3n }, returning: 'count' }] } as never),
      })
      let waiting: number | undefined
      for (let i = 0; i < 200 && waiting === undefined; i++) {
        const { rows } = (await admin.raw(`select pid from pg_stat_activity where wait_event_type = 'Lock' and query like 'update "authors"%'`)) as { rows: { pid: number }[] }
        waiting = rows[0]?.pid
        if (waiting === undefined) await new Promise((resolve) => setTimeout(resolve, 25))
      }
      expect(waiting).toBeDefined()
      await admin.raw('select pg_terminate_backend(?)', [waiting!])
      const response = await answer
      const body = decode<{ error?: { code: string; message: string } }>(await response.text())
      // A 503 says "nothing applied, retry": that is not known here.
      expect(response.status).toBe(500)
      expect(body.error).toEqual({ code: 'INTERNAL', message: expect.stringContaining('may or may not have been applied') })
    } finally {
      await lock.rollback()
      await locker.destroy()
    }
  })

  /** Every insert a client reported is in the table once; none is there twice; nothing else is. */
  async function expectWritesOnce(load: Load): Promise<void> {
    const rows = await commentsLike(load.prefix)
    const reported = load.outcomes.filter((outcome) => outcome.kind === 'insert' && outcome.ok).map((outcome) => outcome.marker)
    const attempted = new Set(load.outcomes.filter((outcome) => outcome.kind === 'insert').map((outcome) => outcome.marker))
    expect(reported.length).toBeGreaterThan(0)
    expect([...rows.entries()].filter(([, count]) => count !== 1)).toEqual([])
    expect(reported.filter((marker) => !rows.has(marker!))).toEqual([])
    expect([...rows.keys()].filter((marker) => !attempted.has(marker))).toEqual([])
  }
})

describe('connection failures are told apart from other errors', () => {
  const sample = (message: string, fields: Record<string, unknown> = {}) => Object.assign(new Error(message), fields)
  const failures: [string, unknown][] = [
    ['connection refused', sample('connect ECONNREFUSED 10.0.0.5:5432', { code: 'ECONNREFUSED', syscall: 'connect' })],
    ['connection reset', sample('read ECONNRESET', { code: 'ECONNRESET' })],
    ['host unreachable', sample('connect EHOSTUNREACH', { code: 'EHOSTUNREACH' })],
    ['timed out', sample('connect ETIMEDOUT', { code: 'ETIMEDOUT' })],
    ['broken pipe', sample('write EPIPE', { code: 'EPIPE' })],
    ['every address refused', new AggregateError([sample('connect ECONNREFUSED ::1:5432', { code: 'ECONNREFUSED' })], 'connect failed')],
    ['admin shutdown', sample('select 1 - terminating connection due to administrator command', { code: '57P01', severity: 'FATAL' })],
    ['crash shutdown', sample('terminating connection because of crash of another server process', { code: '57P02' })],
    ['starting up', sample('the database system is starting up', { code: '57P03' })],
    ['connection exception', sample('connection failure', { code: '08006' })],
    ['terminated mid-query (knex prefixes the SQL)', sample('select * from "posts" - Connection terminated unexpectedly')],
    ['terminated while ending', sample('Connection terminated')],
    ['a dead client reused', sample('ROLLBACK - Client has encountered a connection error and is not queryable')],
    ['the cause of a wrapper', new Error('pool failed', { cause: sample('connect ECONNREFUSED', { code: 'ECONNREFUSED' }) })],
    // PgBouncer (08P01, then it closes the connection) with no server to give.
    ['PgBouncer: server logins failing', sample('select 1 - server login has been failing, try again later (server_login_retry)', { code: '08P01' })],
    ['PgBouncer: the server down at login', sample('client_login_timeout (server down)', { code: '08P01' })],
    ['PgBouncer: no server connection in time', sample('query_wait_timeout', { code: '08P01' })],
    ['PgBouncer: full', sample('no more connections allowed (max_client_conn)', { code: '08P01' })],
    ['PgBouncer: its server connection lost', sample('server conn crashed?', { code: '08P01' })],
  ]
  const others: [string, unknown][] = [
    ['unique violation', sample('duplicate key', { code: '23505' })],
    // One refused message (too many parameters, say) on a connection that stays usable.
    ['protocol violation', sample('bind message has 14464 parameter formats but 0 parameters', { code: '08P01' })],
    ['a syntax error that merely mentions a pooler error', sample('query_wait_timeout', { code: '42601' })],
    ['statement timeout', sample('canceling statement due to statement timeout', { code: '57014' })],
    ['syntax error', sample('syntax error at or near "x"', { code: '42601' })],
    ['a bug', new TypeError("Cannot read properties of undefined (reading 'id')")],
    ['text that merely mentions it', sample('Connection terminated unexpectedly, said the user')],
    ['a SQLSTATE that mentions it', sample('Connection terminated unexpectedly', { code: '42P01' })],
    ['not an error', 'ECONNREFUSED'],
    ['null', null],
  ]

  it.each(failures)('%s is a connection failure, answered UNAVAILABLE with a fixed message', (_name, error) => {
    expect(isConnectionFailure(error)).toBe(true)
    const wire = toWireError(error, 'req-1', new OutageLog({ error() {} }))
    expect(wire).toEqual({ code: 'UNAVAILABLE', message: DATABASE_UNAVAILABLE })
  })

  it.each(others)('%s is not', (_name, error) => {
    expect(isConnectionFailure(error)).toBe(false)
    expect(toWireError(error, 'req-1', { error() {} }).code).not.toBe('UNAVAILABLE')
  })

  it('logs the first failure of an outage, stays silent until a success, then says so once', () => {
    const lines: string[] = []
    const log = new OutageLog({ error: (message) => void lines.push(message) })
    const refused = sample('connect ECONNREFUSED 127.0.0.1:5432', { code: 'ECONNREFUSED' })
    for (let i = 0; i < 100; i++) toWireError(refused, `req-${i}`, log)
    expect(lines).toEqual([UNAVAILABLE_LINE])
    log.available()
    log.available()
    expect(lines).toEqual([UNAVAILABLE_LINE, AVAILABLE_LINE])
    toWireError(sample('Connection terminated unexpectedly'), 'req-x', log)
    expect(lines).toEqual([UNAVAILABLE_LINE, AVAILABLE_LINE, UNAVAILABLE_LINE])
    // Unexpected errors are still logged every time.
    toWireError(new TypeError('a bug'), 'req-y', log)
    toWireError(new TypeError('a bug'), 'req-z', log)
    expect(lines.filter((line) => line === 'async-orm executor: unexpected error')).toHaveLength(2)
  })

  it('tells the count and length of the outage when it ends, on info when the logger has it', () => {
    const infos: Record<string, unknown>[] = []
    let now = 1_000
    const log = new OutageLog({ error() {}, info: (_message, details) => void infos.push(details) }, () => new Date(now))
    log.unavailable(sample('x', { code: '57P01' }), 'a')
    log.unavailable(sample('x', { code: '57P03' }), 'b')
    now = 1_750
    log.available()
    expect(infos).toEqual([{ failedRequests: 2, unavailableMs: 750 }])
  })
})

interface Outcome {
  readonly caller: number
  readonly kind: 'read' | 'insert'
  readonly ok: boolean
  readonly code?: string
  readonly message?: string
  readonly marker?: string
}

interface Load {
  readonly prefix: string
  readonly outcomes: Outcome[]
  succeeded(): number
  failures(): Outcome[]
  /** Whether every caller has had `count` successes among the outcomes from index `from` on. */
  everyCallerSucceededSince(from: number, count: number): boolean
  stop(): Promise<void>
}

/**
 * Readers and writers, each with a client of its own, calling in a loop (bounded in
 * count) until stopped. Writers insert comments whose bodies are unique markers.
 */
function startLoad(options: { prefix: string; readers: number; writers: number; postId: number; client: (writer: boolean) => FaultClient }): Load {
  const outcomes: Outcome[] = []
  let stopping = false
  const callers = options.readers + options.writers
  const loops = Array.from({ length: callers }, async (_, caller) => {
    const writer = caller >= options.readers
    const db = options.client(writer)
    for (let n = 0; n < 20_000 && !stopping; n++) {
      const marker = `${options.prefix}${caller}-${n}`
      const kind = writer ? 'insert' : 'read'
      try {
        if (writer) await db.Comment.query().insert({ postId: options.postId, body: marker })
        else await db.Post.query().where('authorId', BigInt(1 + ((caller * 7 + n) % 60))).orderBy('id').limit(5)
        outcomes.push({ caller, kind, ok: true, ...(writer && { marker }) })
      } catch (error) {
        const code = error instanceof AsyncOrmError ? error.code : 'THROWN'
        outcomes.push({ caller, kind, ok: false, code, message: error instanceof Error ? error.message : String(error), ...(writer && { marker }) })
      }
    }
  })
  const load: Load = {
    prefix: options.prefix,
    outcomes,
    succeeded: () => outcomes.filter((outcome) => outcome.ok).length,
    failures: () => outcomes.filter((outcome) => !outcome.ok),
    everyCallerSucceededSince(from, count) {
      const since = outcomes.slice(from)
      return Array.from({ length: callers }, (_, caller) => since.filter((o) => o.caller === caller && o.ok).length >= count).every(Boolean)
    },
    async stop() {
      stopping = true
      runningLoads.delete(load)
      await Promise.all(loops)
    },
  }
  runningLoads.add(load)
  return load
}

const runningLoads = new Set<Load>()

/** Waits for `condition`, checking every 20 ms, at most 2,500 times. */
async function until(what: string, condition: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 2500; i++) {
    if (await condition()) return
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  throw new Error(`gave up waiting: ${what}`)
}
