/**
 * A context that lacks a field a policy reads (`as: { userId: 1 }` where the policy reads
 * `ctx.orgId`) is denied, as any policy without a value is, and the server log says which
 * field, once: the mistake is the app's, and it should not take a debugger to find it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient } from '../../client/index.js'
import { createExecutor, type Executor } from '../../executor/index.js'
import { api } from '../../examples/quickstart/api.js'
import { migrate } from '../../examples/quickstart/migrations.js'
import { openDatabase, type TestDatabase } from '../support/databases.js'

describe('a context without a field its policy reads', () => {
  let db: TestDatabase
  let executor: Executor
  const logged: string[] = []
  beforeAll(async () => {
    db = await openDatabase('pglite')
    await migrate(db.knex)
    executor = createExecutor({ knex: db.knex, api, auth: () => ({ userId: 1 }), logger: { error: (message) => void logged.push(message) } })
    await executor.ready()
  })
  afterAll(() => db?.close())

  it('is denied, and logged once naming the field and the context’s fields', async () => {
    const client = createClient<typeof api>({ url: 'http://policy.test/orm', fetch: (url, init) => executor(new Request(url, init)) })
    for (let i = 0; i < 3; i++) await expect(client.User.query()).rejects.toMatchObject({ code: 'FORBIDDEN', message: expect.not.stringContaining('orgId') })
    expect(logged.filter((line) => line.includes('policy'))).toEqual([
      'async-orm executor: a User policy gave "orgId" no value: the context (fields: userId) has none for it; the operation was denied',
    ])
  })

  it('logs nothing for anonymous callers, whom policies deny by design', async () => {
    logged.length = 0
    const anonymous = createExecutor({ knex: db.knex, api, logger: { error: (message) => void logged.push(message) } })
    const client = createClient<typeof api>({ url: 'http://policy.test/orm', fetch: (url, init) => anonymous(new Request(url, init)) })
    await expect(client.Post.query().insert({ title: 'x', body: 'y' })).rejects.toMatchObject({ code: 'FORBIDDEN' })
    expect(logged).toEqual([])
  })
})
