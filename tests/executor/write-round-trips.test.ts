/**
 * How many round trips a write takes, and that fewer never costs atomicity. A request of
 * one write runs it with no savepoint; its transaction's `BEGIN` (and `SET LOCAL`) travel
 * with its first statement when that has parameters (anything else gets BEGIN of its own
 * first, so it runs inside the transaction whatever it is); and where the connection sets
 * `statement_timeout`, a patch or delete answered with a count, with nothing to run after
 * it, runs with no transaction at all. Round trips are counted as the pg client's `query`
 * calls (each one ends with a Sync, or is one simple-protocol text); outcomes are read
 * back from the database. On PostgreSQL and on PGlite (the embedded database speaks the
 * same protocol through pg).
 */
import knexFactory, { type Knex } from 'knex'
import { Model, QueryBuilder, type QueryContext } from 'objection'
import pg from 'pg'
import * as v from 'valibot'
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { createClient } from '../../client/index.js'
import { createExecutor, expose, procedure, type Executor } from '../../executor/index.js'
import { DATABASE_KINDS, openDatabase, type TestDatabase } from '../support/databases.js'

class Note extends Model {
  static override tableName = 'notes'
  declare id: number
  declare body: string
}

class CheckedNote extends Model {
  static override tableName = 'checked'
  declare id: number
  declare body: string
}

/** Its `$afterInsert` writes another row, in the request's transaction. */
class Audited extends Model {
  static override tableName = 'audited'
  declare id: number
  declare body: string
  override async $afterInsert(context: QueryContext) {
    await context.transaction!('audit_log').insert({ what: `inserted ${this.body}` })
    if (this.body === 'fail after') throw new Error('the after-insert hook failed')
  }
}

/** Its `$beforeInsert` takes the query context, so it could run statements in the transaction. */
class Stamped extends Model {
  static override tableName = 'stamped'
  declare id: number
  declare body: string
  override async $beforeInsert(context: QueryContext) {
    await context.transaction!('audit_log').insert({ what: `stamping ${this.body}` })
  }
}

/** A `$beforeInsert` without parameters reaches no transaction: pure normalisation. */
class Trimmed extends Model {
  static override tableName = 'trimmed'
  declare id: number
  declare body: string
  override $beforeInsert() {
    this.body = this.body.trim()
  }
}

/** A hook taking its arguments as a rest parameter (`length` 0) may still use the transaction. */
class Rested extends Model {
  static override tableName = 'rested'
  declare id: number
  declare body: string
  override async $beforeUpdate(...args: unknown[]) {
    await (args[1] as QueryContext).transaction!('audit_log').insert({ what: `updating to ${this.body}` })
  }
}

/** objection's extension point: a query builder of its own, which could run statements after a write. */
class BuiltNote extends Model {
  static override tableName = 'built'
  declare id: number
  declare body: string
  static override QueryBuilder = class BuiltQueryBuilder extends QueryBuilder<Model> {} as unknown as typeof Model.QueryBuilder
}

const api = {
  Built: expose(BuiltNote, { read: { allow: true, columns: ['id', 'body'] }, insert: { allow: true, columns: ['body'] }, update: { allow: true, columns: ['body'] } }),
  Rested: expose(Rested, { read: { allow: true, columns: ['id', 'body'] }, insert: { allow: true, columns: ['body'] }, update: { allow: true, columns: ['body'] } }),
  Note: expose(Note, {
    read: { allow: true, columns: ['id', 'body'] },
    insert: { allow: true, columns: ['body'] },
    update: { allow: true, columns: ['body'] },
    delete: { allow: true },
  }),
  Checked: expose(CheckedNote, {
    read: { allow: true, columns: ['id', 'body'] },
    insert: { allow: true, columns: ['body'], check: (row) => row.body !== 'refused' },
  }),
  Audited: expose(Audited, { read: { allow: true, columns: ['id', 'body'] }, insert: { allow: true, columns: ['body'] } }),
  Stamped: expose(Stamped, { read: { allow: true, columns: ['id', 'body'] }, insert: { allow: true, columns: ['body'] } }),
  Trimmed: expose(Trimmed, { read: { allow: true, columns: ['id', 'body'] }, insert: { allow: true, columns: ['body'] } }),
}

/** A write, then the same row again (a unique violation) with its failure caught: the transaction is aborted. */
async function writeThenCatchFailure(trx: Knex.Transaction): Promise<void> {
  await trx('notes').insert({ body: 'before the failure' })
  await trx('notes').insert({ body: 'before the failure' }).catch(() => undefined)
}

const procedures = {
  /** Its first statement is a text of two statements, with no parameters (pg's simple protocol). */
  twoSelects: procedure({ allow: true, args: v.object({}), run: async ({ trx }) => ((await trx.raw('select 1 as one; select 2 as two')) as unknown as { rows: unknown[] }[]).map((r) => r.rows) }),
  /** Runs no statement at all. */
  nothing: procedure({ allow: true, args: v.object({}), run: async () => 'nothing' }),
  /** Writes through the raw pg connection, past knex, then fails: nothing may stay. */
  rawThenFail: procedure({
    allow: true,
    args: v.object({}),
    run: async ({ trx }) => {
      const connection = (await (trx.client as unknown as { acquireConnection(): Promise<pg.Client> }).acquireConnection())
      await connection.query("insert into notes (body) values ('raw')")
      throw new Error('after a raw write')
    },
  }),
  /** A first statement that does not parse, caught; then a write: the transaction is aborted, so the write fails. */
  badThenWrite: procedure({
    allow: true,
    args: v.object({}),
    run: async ({ trx }) => {
      await trx.raw('selec 1').catch(() => undefined)
      await trx('notes').insert({ body: 'after a bad statement' })
      return 'written'
    },
  }),
  /** Writes, then catches a failed statement and answers as if all went well: the transaction is aborted. */
  caughtFailure: procedure({
    allow: true,
    args: v.object({}),
    run: async ({ trx }) => {
      await writeThenCatchFailure(trx)
      return 'already'
    },
  }),
  /** `caughtFailure`, then commits the transaction itself (PostgreSQL answers ROLLBACK). */
  commitsItself: procedure({
    allow: true,
    args: v.object({}),
    run: async ({ trx }) => {
      await writeThenCatchFailure(trx)
      await trx.commit()
      return 'committed, it thinks'
    },
  }),
  /** Writes past knex with a text of no parameters (BEGIN goes on its own first). */
  rawWrite: procedure({
    allow: true,
    args: v.object({}),
    run: async ({ trx }) => {
      const connection = await (trx.client as unknown as { acquireConnection(): Promise<pg.Client> }).acquireConnection()
      await connection.query("insert into notes (body) values ('raw')")
      return 'written'
    },
  }),
  /** A named prepared statement without parameters, first. */
  named: procedure({ allow: true, args: v.object({}), run: async ({ trx }) => (await trx('notes').count({ n: '*' }).options({ name: 'async_orm_named_first' })) as unknown }),
  /** The statement_timeout in force for its first statement. */
  timeout: procedure({ allow: true, args: v.object({}), run: async ({ trx }) => (await trx.raw('select current_setting(?) as t', ['statement_timeout'])).rows[0].t as string }),
  /** The same, asked without parameters: BEGIN goes on its own first. */
  timeoutPlain: procedure({ allow: true, args: v.object({}), run: async ({ trx }) => (await trx.raw('show statement_timeout')).rows[0].statement_timeout as string }),
}

/** pg `query` calls made while counting: one round trip each. */
let roundTrips = 0
let counting = false
/** Makes the next BEGIN sent on its own fail, as a cancel landing on it would. */
let failNextBegin = false
const ownQuery = pg.Client.prototype.query
beforeAll(() => {
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    if (counting) roundTrips++
    const [config, callback] = args as [{ text?: unknown } | undefined, unknown]
    if (failNextBegin && typeof config?.text === 'string' && config.text.startsWith('BEGIN;') && typeof callback === 'function') {
      // Sent to the server, where it fails: what a cancel landing on BEGIN does.
      failNextBegin = false
      args[0] = { ...config, text: 'select 1/0' }
    }
    return (ownQuery as (...a: unknown[]) => unknown).apply(this, args)
  } as typeof ownQuery
})
afterAll(() => {
  pg.Client.prototype.query = ownQuery
})

async function counted<T>(work: () => PromiseLike<T>): Promise<{ result: T; trips: number }> {
  roundTrips = 0
  counting = true
  try {
    const result = await work()
    return { result, trips: roundTrips }
  } finally {
    counting = false
  }
}

describe.each([...DATABASE_KINDS, 'pgbouncer'] as const)('write round trips on %s', (kind) => {
  let database: TestDatabase
  let plainKnex: Knex
  const executors: Record<'setLocal' | 'connection', Executor> = {} as never

  beforeAll(async () => {
    database = await openDatabase(kind)
    const { knex } = database
    for (const table of ['notes', 'checked', 'audited', 'stamped', 'trimmed', 'rested', 'built']) {
      await knex.schema.createTable(table, (t) => {
        t.increments('id')
        t.text('body').notNullable().unique()
      })
    }
    await knex.schema.createTable('audit_log', (t) => {
      t.increments('id')
      t.text('what').notNullable()
    })
    executors.setLocal = createExecutor({ knex, api, procedures, logger: { error() {} } })
    // The same database through a pool whose connections set statement_timeout themselves.
    const config = knex.client.config as Knex.Config
    const base = typeof config.connection === 'string' ? { connectionString: config.connection } : (config.connection as object)
    plainKnex = kind === 'postgres' ? knexFactory({ ...config, connection: { ...base, statement_timeout: 5000 }, pool: { min: 0, max: 1 } }) : knex
    executors.connection = createExecutor({ knex: plainKnex, api, procedures, statementTimeout: 'connection', logger: { error() {} } })
    // The API is compiled (the catalog read) before anything is counted.
    await executors.setLocal.ready()
    if (kind === 'postgres') await executors.connection.ready()
  })
  afterAll(async () => {
    if (plainKnex && plainKnex !== database.knex) await plainKnex.destroy()
    await database?.close()
  })
  beforeEach(async () => {
    await database.knex.raw('truncate notes, checked, audited, stamped, trimmed, rested, built, audit_log restart identity')
  })

  const clientOf = (executor: Executor) =>
    createClient<typeof api, typeof procedures>({ url: 'http://t/orm', batch: false, fetch: (input, init) => executor(new Request(input as string, init)) })
  const rows = async (table: string) => (await database.knex(table).select('body').orderBy('id')).map((r: { body: string }) => r.body)

  it('sends BEGIN with the first statement: an insert whose check needs the transaction takes two round trips', async () => {
    const db = clientOf(executors.setLocal)
    const { result, trips } = await counted(() => db.Checked.query().insert({ body: 'kept' }))
    expect(result).toMatchObject({ body: 'kept' })
    expect(trips).toBe(2)
    expect(await rows('checked')).toEqual(['kept'])
  })

  it('rolls the write back when its check refuses it, and the connection is clean after', async () => {
    const db = clientOf(executors.setLocal)
    await expect(db.Checked.query().insert({ body: 'refused' })).rejects.toMatchObject({ code: 'FORBIDDEN' })
    expect(await rows('checked')).toEqual([])
    // The pool's connection is not left inside a transaction.
    expect(await db.Checked.query().insert({ body: 'next' })).toMatchObject({ body: 'next' })
    expect(await rows('checked')).toEqual(['next'])
  })

  it('rolls back when the first statement itself fails, and answers as before', async () => {
    const db = clientOf(executors.setLocal)
    await db.Note.query().insert({ body: 'twice' })
    await expect(db.Note.query().insert({ body: 'twice' })).rejects.toMatchObject({ code: 'CONFLICT' })
    expect(await db.Note.query().insert({ body: 'after' })).toMatchObject({ body: 'after' })
    expect(await rows('notes')).toEqual(['twice', 'after'])
  })

  it('applies SET LOCAL statement_timeout with BEGIN, to the first statement already', async () => {
    const db = clientOf(executors.setLocal)
    expect(await counted(() => db.call('timeout', {}))).toEqual({ trips: 2, result: '5s' })
    // Without parameters, BEGIN and SET LOCAL go first on their own: one more round trip.
    expect(await counted(() => db.call('timeoutPlain', {}))).toEqual({ trips: 3, result: '5s' })
  })

  it('runs a first statement of several statements inside the transaction, answering as knex does', async () => {
    const db = clientOf(executors.setLocal)
    expect(await db.call('twoSelects', {})).toEqual([[{ one: 1 }], [{ two: 2 }]])
  })

  it('keeps a savepoint per write when a request has several, so one failure undoes only its own', async () => {
    const db = clientOf(executors.setLocal)
    await db.Note.query().insert({ body: 'taken' })
    // Started in the same tick: one request, not atomic.
    const batching = createClient<typeof api>({ url: 'http://t/orm', fetch: (input, init) => executors.setLocal(new Request(input as string, init)) })
    const [first, second] = await Promise.allSettled([batching.Note.query().insert({ body: 'taken' }), batching.Note.query().insert({ body: 'fresh' })])
    expect(first).toMatchObject({ status: 'rejected', reason: { code: 'CONFLICT' } })
    expect(second).toMatchObject({ status: 'fulfilled', value: { body: 'fresh' } })
    expect(await rows('notes')).toEqual(['taken', 'fresh'])
  })

  it('ends a transaction that ran nothing without a round trip', async () => {
    const db = clientOf(executors.setLocal)
    expect(await counted(() => db.call('nothing', {}))).toEqual({ trips: 0, result: 'nothing' })
  })

  it('begins the transaction before a statement sent past knex, so it is undone with the rest', async () => {
    const db = clientOf(executors.setLocal)
    await expect(db.call('rawThenFail', {})).rejects.toMatchObject({ code: 'INTERNAL' })
    expect(await rows('notes')).toEqual([])
  })

  it('begins the transaction before a first statement that does not parse, so what follows stays inside it', async () => {
    const db = clientOf(executors.setLocal)
    await expect(db.call('badThenWrite', {})).rejects.toMatchObject({ code: 'INTERNAL' })
    expect(await rows('notes')).toEqual([])
  })

  it('refuses to answer as applied a transaction that a caught failure aborted: COMMIT was a ROLLBACK', async () => {
    const db = clientOf(executors.setLocal)
    await expect(db.call('caughtFailure', {})).rejects.toMatchObject({ code: 'INTERNAL' })
    await expect(db.transaction((t) => [t.Note.query().insert({ body: 'with it' }), t.call('caughtFailure', {})])).rejects.toMatchObject({ code: 'INTERNAL' })
    // Also when the procedure sends that COMMIT itself.
    await expect(db.call('commitsItself', {})).rejects.toMatchObject({ code: 'INTERNAL' })
    expect(await rows('notes')).toEqual([])
  })

  it('closes the connection when a BEGIN sent on its own fails, so what follows never runs outside a transaction', async () => {
    const db = clientOf(executors.setLocal)
    failNextBegin = true
    await expect(db.call('rawWrite', {})).rejects.toBeDefined()
    expect(failNextBegin).toBe(false)
    expect(await rows('notes')).toEqual([])
    // The pool gives out a healthy connection next.
    expect(await db.call('rawWrite', {})).toBe('written')
    expect(await rows('notes')).toEqual(['raw'])
  })

  it('runs a named prepared statement first', async () => {
    const db = clientOf(executors.setLocal)
    expect(await db.call('named', {})).toEqual([{ n: '0' }])
  })

  it('writes inserts, updates and deletes of models objection adds nothing to as its own SQL, in a transaction without a knex transaction object', async () => {
    const db = clientOf(executors.setLocal)
    const transactions = vi.spyOn(database.knex, 'transaction')
    try {
      // A plain model, its grant's check included: the statement and COMMIT, nothing else.
      expect(await counted(() => db.Checked.query().insert({ body: 'own' }))).toEqual({ trips: 2, result: { id: 1, body: 'own' } })
      await expect(db.Checked.query().insert({ body: 'refused' })).rejects.toMatchObject({ code: 'FORBIDDEN' })
      expect(await db.transaction((t) => [t.Note.query().insert({ body: 'a' }), t.Checked.query().insert({ body: 'b' }), t.Note.query().where('body', 'a')])).toEqual([
        { id: 1, body: 'a' },
        // The refused row took id 2 of the sequence before it was rolled back.
        { id: 3, body: 'b' },
        [{ id: 1, body: 'a' }],
      ])
      // Updates and deletes of such models too, answered with rows or a count.
      expect(await db.transaction((t) => [t.Note.query().insert({ body: 'c' }), t.Note.query().where('body', 'c').patch({ body: 'd' }).returning('id', 'body')])).toEqual([
        { id: 2, body: 'c' },
        [{ id: 2, body: 'd' }],
      ])
      expect(await db.Note.query().insert({ body: 'gone' })).toMatchObject({ body: 'gone' })
      expect(await db.Note.query().where('body', 'gone').delete()).toBe(1)
      expect(transactions).not.toHaveBeenCalled()
      // A model with a hook, or a procedure in the request: through objection, in a knex transaction.
      expect(await db.Trimmed.query().insert({ body: '  trimmed  ' })).toMatchObject({ body: 'trimmed' })
      expect(transactions).toHaveBeenCalledTimes(1)
      await db.transaction((t) => [t.Note.query().insert({ body: 'e' }), t.call('nothing', {})])
      expect(transactions).toHaveBeenCalledTimes(2)
    } finally {
      transactions.mockRestore()
    }
    expect(await rows('checked')).toEqual(['own', 'b'])
    expect(await rows('notes')).toEqual(['a', 'd', 'e'])
    expect(await rows('trimmed')).toEqual(['trimmed'])
  })

  it('gives every connection back as it was: no own query method left on it', async () => {
    const db = clientOf(executors.setLocal)
    await db.Note.query().insert({ body: 'one' })
    await db.call('nothing', {})
    const pool = (database.knex.client as unknown as { pool: { free: { resource: object }[] } }).pool
    expect(pool.free.length).toBeGreaterThan(0)
    for (const { resource } of pool.free) expect(Object.prototype.hasOwnProperty.call(resource, 'query')).toBe(false)
  })

  // PGlite's connection cannot set statement_timeout itself.
  if (kind === 'postgres') describe("where the connection sets statement_timeout ('connection')", () => {
    it('runs a patch or delete answered with a count as one statement, with no transaction', async () => {
      const db = clientOf(executors.connection)
      const one = await db.Note.query().insert({ body: 'one' })
      await db.Note.query().insert({ body: 'two' })
      expect(await counted(() => db.Note.query().findById(one.id).patch({ body: 'uno' }))).toEqual({ trips: 1, result: 1 })
      expect(await counted(() => db.Note.query().where('body', 'two').patch({ body: 'dos' }))).toEqual({ trips: 1, result: 1 })
      expect(await counted(() => db.Note.query().deleteById(one.id))).toEqual({ trips: 1, result: 1 })
      expect(await rows('notes')).toEqual(['dos'])
    })

    it('keeps the transaction where rows answered, a check, or a model hook need it', async () => {
      const db = clientOf(executors.connection)
      // Rows answered are measured against the answer's budget after the statement: BEGIN with it, then COMMIT.
      expect((await counted(() => db.Note.query().insert({ body: 'inserted' }))).trips).toBe(2)
      expect((await counted(() => db.Trimmed.query().insert({ body: '  trimmed  ' }))).result).toMatchObject({ body: 'trimmed' })
      const rested = await db.Rested.query().insert({ body: 'rested' })
      // A hook of its own for the operation, whatever its parameters: BEGIN with its insert, the update, COMMIT.
      expect((await counted(() => db.Rested.query().findById(rested.id).patch({ body: 'patched' }))).trips).toBe(3)
      // BEGIN with the insert, then COMMIT.
      expect((await counted(() => db.Checked.query().insert({ body: 'checked' }))).trips).toBe(2)
      await expect(db.Checked.query().insert({ body: 'refused' })).rejects.toMatchObject({ code: 'FORBIDDEN' })
      // BEGIN with the hook's own insert, the row's insert, COMMIT.
      expect((await counted(() => db.Stamped.query().insert({ body: 'stamped' }))).trips).toBe(3)
      expect((await counted(() => db.Note.query().insert([{ body: 'a' }, { body: 'b' }]))).trips).toBe(2)
      expect((await counted(() => db.Note.query().where('body', 'a').patch({ body: 'c' }).returning(['id', 'body']))).trips).toBe(2)
      expect(await rows('checked')).toEqual(['checked'])
      expect(await rows('stamped')).toEqual(['stamped'])
      expect(await rows('notes')).toEqual(['inserted', 'c', 'b'])
    })

    it('keeps the transaction for a model with a query builder of its own, and when other queries share the request', async () => {
      const db = clientOf(executors.connection)
      const built = await db.Built.query().insert({ body: 'built' })
      expect((await counted(() => db.Built.query().findById(built.id).patch({ body: 'patched' }))).trips).toBe(2)
      const note = await db.Note.query().insert({ body: 'note' })
      // Started in the same tick: one request of a patch and a query the executor refuses.
      const batching = createClient<typeof api>({ url: 'http://t/orm', fetch: (input, init) => executors.connection(new Request(input as string, init)) })
      const { result, trips } = await counted(() =>
        Promise.allSettled([batching.Note.query().findById(note.id).patch({ body: 'changed' }), batching.Note.query().where('missing' as never, 1 as never)]),
      )
      expect(result[0]).toMatchObject({ status: 'fulfilled', value: 1 })
      expect(result[1]).toMatchObject({ status: 'rejected', reason: { code: 'BAD_REQUEST' } })
      expect(trips).toBe(2)
    })

    it('undoes a write whose answer is over the budget', async () => {
      const small = createExecutor({ knex: plainKnex, api, statementTimeout: 'connection', limits: { maxResponseBytes: 1000 }, logger: { error() {} } })
      const db = clientOf(small)
      await expect(db.Note.query().insert({ body: 'x'.repeat(1500) })).rejects.toMatchObject({ code: 'LIMIT_EXCEEDED' })
      expect(await rows('notes')).toEqual([])
    })

    it('runs an after-insert hook in the transaction: when it fails, neither its row nor the insert stays', async () => {
      const db = clientOf(executors.connection)
      expect(await db.Audited.query().insert({ body: 'fine' })).toMatchObject({ body: 'fine' })
      await expect(db.Audited.query().insert({ body: 'fail after' })).rejects.toMatchObject({ code: 'INTERNAL' })
      expect(await rows('audited')).toEqual(['fine'])
      expect((await database.knex('audit_log').select('what')).map((r: { what: string }) => r.what)).toEqual(['inserted fine'])
    })
  })
})
