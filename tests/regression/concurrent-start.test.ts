/**
 * Executors starting together on a database without the idempotency store's table (a
 * deploy, a cold-start burst of serverless instances) each ran "is the table there? then
 * create it" on their own: all but one failed `ready()` with a duplicate-type error, and an
 * executor whose first compile failed kept failing every request until it restarted.
 * Now they take turns creating it, and a failed start is tried again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createExecutor } from '../../executor/index.js'
import { openDatabase, type TestDatabase } from '../support/databases.js'

describe.each(['postgres', 'pgbouncer'] as const)('executors starting together on %s', (kind) => {
  let db: TestDatabase
  beforeAll(async () => {
    db = await openDatabase(kind)
  })
  afterAll(() => db?.close())

  it('create the idempotency store once, and every one of them starts', async () => {
    for (let round = 0; round < 3; round++) {
      const table = `idempotency_race_${round}`
      const executors = Array.from({ length: 6 }, () => createExecutor({ knex: db.knex, api: {}, idempotency: { table }, logger: { error() {} } }))
      const outcomes = await Promise.allSettled(executors.map((executor) => executor.ready()))
      expect(outcomes.filter((outcome) => outcome.status === 'rejected')).toEqual([])
      expect(await db.knex.schema.hasTable(table)).toBe(true)
    }
  })
})
