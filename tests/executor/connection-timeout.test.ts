/**
 * `statementTimeout: 'connection'`: reads run as single statements, no transaction,
 * and writes skip `SET LOCAL`, when (and only when) the pg connection itself sets
 * statement_timeout.
 */
import knexFactory, { type Knex } from 'knex'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api } from '../../examples/demo/api.js'
import { createExecutor } from '../../executor/index.js'
import { decode, encodeRequest } from '../../shared/wire.js'
import { openDemo, testAuth, tokenFor, type Demo } from '../support/demo.js'

describe("statementTimeout: 'connection' (PostgreSQL)", () => {
  let demo: Demo
  let knex: Knex
  const sql: string[] = []

  beforeAll(async () => {
    demo = await openDemo('postgres')
    const { connection, searchPath } = demo.knex.client.config as { connection: string | object; searchPath: string[] }
    const base = typeof connection === 'string' ? { connectionString: connection } : connection
    knex = knexFactory({ client: 'pg', connection: { ...base, statement_timeout: 300 }, searchPath, pool: { min: 0, max: 2 } })
    knex.on('query', (query: { sql: string }) => sql.push(query.sql))
  })
  afterAll(async () => {
    await knex?.destroy()
    await demo?.close()
  })

  const post = (executor: ReturnType<typeof createExecutor>, body: unknown, headers: Record<string, string> = {}) =>
    executor(new Request('http://t/orm', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: encodeRequest(body as never) }))

  it('runs a read as one statement, with the connection’s timeout in force', async () => {
    const executor = createExecutor({ knex, api, statementTimeout: 'connection', logger: { error() {} } })
    await executor.ready()
    expect((await knex.raw('show statement_timeout')).rows[0].statement_timeout).toBe('300ms')
    sql.length = 0
    const response = await post(executor, { v: 1, queries: [{ model: 'Tag', op: 'first', where: { kind: 'id', ids: [1] } }] })
    expect(decode(await response.text())).toEqual({ results: [{ data: { id: 1, name: 'databases' } }] })
    expect(sql).toHaveLength(1)
    expect(sql[0]).toMatch(/^select/)
  })

  it('still runs writes and atomic requests in a transaction', async () => {
    const executor = createExecutor({ knex, api, auth: testAuth, statementTimeout: 'connection', logger: { error() {} } })
    sql.length = 0
    const token = await tokenFor(1n)
    const response = await post(executor, { v: 1, atomic: true, queries: [{ model: 'Tag', op: 'count' }, { model: 'Tag', op: 'insert', rows: [{ name: 'plain-mode' }], returning: 'first' }] }, { authorization: `Bearer ${token}` })
    expect(decode<{ results: unknown[] }>(await response.text()).results[1]).toMatchObject({ data: { name: 'plain-mode' } })
    expect(sql.some((statement) => /^begin/i.test(statement))).toBe(true)
    expect(sql.some((statement) => /^commit/i.test(statement))).toBe(true)
    // The connection's own timeout is in force: no SET LOCAL round trip.
    expect(sql.some((statement) => /set local/i.test(statement))).toBe(false)
  })

  it('refuses to start when the connection sets no timeout', async () => {
    const executor = createExecutor({ knex: demo.knex, api, statementTimeout: 'connection' })
    await expect(executor.ready()).rejects.toThrow(/statement_timeout/)
  })
})
