/**
 * `pooler: 'transaction'`, behind PgBouncer in transaction mode (Debian's 1.18, started by
 * the global setup): `ready()` refuses knex settings that live in a session, which such a
 * pooler does not keep, and names what to set instead; configured as the README says, the
 * executor runs there, its statements through PgBouncer's pools.
 */
import knexFactory, { type Knex } from 'knex'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createExecutor, type ExecutorOptions } from '../../executor/index.js'
import { api, procedures } from '../../examples/demo/api.js'
import { openDemo, type Demo } from '../support/demo.js'
import { pgBouncerUrl, POSTGRES_URL } from '../support/databases.js'

/** PgBouncer's own view of its pools (its admin console, database `pgbouncer`). */
async function pools(): Promise<{ database: string; pool_mode: string; sv_active: string; sv_idle: string; sv_used: string }[]> {
  const console = new pg.Client({ connectionString: pgBouncerUrl('pgbouncer') })
  await console.connect()
  try {
    return (await console.query('SHOW POOLS')).rows
  } finally {
    await console.end()
  }
}

const refusals = (errors: string[]) => ({ error: (message: string) => void errors.push(message) })

describe("pooler: 'transaction'", () => {
  let demo: Demo
  let database: string

  beforeAll(async () => {
    demo = await openDemo('pgbouncer', { pooler: 'transaction' })
    database = ((await demo.knex.raw('select current_database() as name')) as { rows: { name: string }[] }).rows[0]!.name
  })
  afterAll(() => demo?.close())

  it("runs requests through PgBouncer's transaction pools", async () => {
    const tags = await demo.client(1n).Tag.query().orderBy('id').limit(3)
    expect(tags).toHaveLength(3)
    const pool = (await pools()).find((p) => p.database === database)
    expect(pool).toMatchObject({ pool_mode: 'transaction' })
    expect(Number(pool!.sv_active) + Number(pool!.sv_idle) + Number(pool!.sv_used)).toBeGreaterThan(0)
  })

  const executorWith = (knex: Knex, options: Partial<ExecutorOptions<unknown>> = {}, errors: string[] = []) =>
    createExecutor({ knex, api, procedures, pooler: 'transaction', logger: refusals(errors), ...options } as ExecutorOptions<unknown>)

  const refused: [string, () => Knex, RegExp][] = [
    ['knex searchPath', () => knexFactory({ client: 'pg', connection: pgBouncerUrl('x'), searchPath: ['app'] }), /knex: knex searchPath runs SET search_path once per new connection.*ALTER ROLE … SET search_path/],
    [
      'statement_timeout on the pg connection',
      () => knexFactory({ client: 'pg', connection: { connectionString: pgBouncerUrl('x'), statement_timeout: 5000 } }),
      /knex: the pg connection sets statement_timeout at start-up.*statementTimeout: 'set-local' \(the default\) sets it in each transaction, or set it on the role \(ALTER ROLE … SET statement_timeout = '5s'\)/,
    ],
    ['options in the URL', () => knexFactory({ client: 'pg', connection: `${pgBouncerUrl('x')}?options=-c%20search_path%3Dapp` }), /knex: the pg connection sets options at start-up/],
    ['search_path as a connection setting', () => knexFactory({ client: 'pg', connection: { host: '127.0.0.1', search_path: 'app' } as never }), /sets search_path at start-up/],
  ]
  it.each(refused)('refuses %s at ready(), saying what to set instead', async (_, knex, message) => {
    const instance = knex()
    try {
      await expect(executorWith(instance).ready()).rejects.toThrow(message)
    } finally {
      await instance.destroy()
    }
  })

  it('checks the replicas too', async () => {
    const replica = knexFactory({ client: 'pg', connection: pgBouncerUrl('x'), searchPath: ['app'] })
    try {
      await expect(executorWith(demo.knex, { replicas: [replica] }).ready()).rejects.toThrow(/^replicas\[0\]: knex searchPath/)
    } finally {
      await replica.destroy()
    }
  })

  it('warns of pool.afterCreate, which may set session state', async () => {
    const errors: string[] = []
    const knex = knexFactory({ client: 'pg', connection: pgBouncerUrl(database), pool: { min: 0, max: 1, afterCreate: (connection: unknown, done: (error: Error | null, connection: unknown) => void) => done(null, connection) } })
    try {
      await executorWith(knex, {}, errors).ready()
      expect(errors).toEqual([expect.stringMatching(/knex: pool.afterCreate runs once per new connection; behind a pooler in transaction mode, what it sets for the session/)])
    } finally {
      await knex.destroy()
    }
  })

  it('warns of a connection given as a function, whose start-up parameters it cannot see', async () => {
    const errors: string[] = []
    const knex = knexFactory({ client: 'pg', connection: () => ({ connectionString: pgBouncerUrl(database) }), pool: { min: 0, max: 1 } })
    try {
      await executorWith(knex, {}, errors).ready()
      expect(errors).toEqual([expect.stringMatching(/knex: the knex connection is a function, whose start-up parameters ready\(\) cannot check/)])
    } finally {
      await knex.destroy()
    }
  })

  it("accepts none of that without it (pooler: 'none', the default)", async () => {
    const knex = knexFactory({ client: 'pg', connection: POSTGRES_URL, searchPath: ['public'], pool: { min: 0, max: 1 } })
    try {
      await createExecutor({ knex, api: {}, logger: { error() {} } }).ready()
    } finally {
      await knex.destroy()
    }
  })

  it("runs with statementTimeout: 'connection' where the database sets statement_timeout for every session", async () => {
    const admin = knexFactory({ client: 'pg', connection: POSTGRES_URL, pool: { min: 0, max: 1 } })
    const knex = knexFactory({ client: 'pg', connection: pgBouncerUrl(database), pool: { min: 0, max: 2 } })
    try {
      await admin.raw(`alter database ?? set statement_timeout = '5s'`, [database])
      // PgBouncer's server connections opened before the setting keep the old value.
      await admin.raw('select pg_terminate_backend(pid) from pg_stat_activity where datname = ? and pid <> pg_backend_pid()', [database])
      const executor = executorWith(knex, { statementTimeout: 'connection', auth: () => null })
      await executor.ready()
      const response = await executor(
        new Request('http://test.local/orm', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ json: { v: 1, queries: [{ model: 'Tag', op: 'count' }] } }) }),
      )
      expect(response.status).toBe(200)
      expect(await response.json()).toMatchObject({ json: { results: [{ data: expect.any(Number) }] } })
    } finally {
      await admin.raw(`alter database ?? reset statement_timeout`, [database])
      await knex.destroy()
      await admin.destroy()
    }
  })
})
