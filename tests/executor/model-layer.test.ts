/**
 * Writes go through the app's objection models: `jsonSchema` validation, instance hooks
 * with the request's transaction, static query hooks, and the model's JSON mapping, with
 * the grants on top. On PostgreSQL and PGlite, with knex-level column mappers.
 */
import { Model, knexSnakeCaseMappers, type ModelOptions, type QueryContext } from 'objection'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient, type Client } from '../../client/index.js'
import { createExecutor, expose } from '../../executor/index.js'
import { DATABASE_KINDS, openDatabase, type TestDatabase } from '../support/databases.js'

const seen: { hook: string; inTransaction: boolean }[] = []

class Person extends Model {
  static override tableName = 'people'
  declare id: number
  declare firstName: string
  declare age: number | null
  declare tags: string[]
  declare createdAt: string
  declare updatedAt: string | null
  declare nickname: string | null

  static override jsonSchema = {
    type: 'object',
    required: ['firstName'],
    properties: {
      id: { type: 'integer' },
      firstName: { type: 'string', minLength: 1, maxLength: 40 },
      age: { type: ['integer', 'null'], minimum: 0, maximum: 200 },
      tags: { type: 'array', items: { type: 'string' } },
      createdAt: { type: 'string' },
      updatedAt: { type: ['string', 'null'] },
      nickname: { type: ['string', 'null'] },
    },
  }

  override $beforeInsert(context: QueryContext) {
    seen.push({ hook: '$beforeInsert', inTransaction: context.transaction !== undefined && context.transaction.isTransaction === true })
    this.createdAt = new Date('2026-01-02T03:04:05Z').toISOString()
    // Normalisation the app's own code always applies.
    this.firstName = this.firstName.trim()
  }

  override $beforeUpdate(_options: ModelOptions, context: QueryContext) {
    seen.push({ hook: '$beforeUpdate', inTransaction: context.transaction?.isTransaction === true })
    this.updatedAt = new Date('2026-02-03T04:05:06Z').toISOString()
  }

  override $afterInsert(context: QueryContext) {
    seen.push({ hook: '$afterInsert', inTransaction: context.transaction?.isTransaction === true })
  }

  static override afterDelete({ context }: { context: QueryContext }) {
    seen.push({ hook: 'afterDelete', inTransaction: context.transaction?.isTransaction === true })
  }

  /** The column holds the nickname in upper case; the model reads and writes it as given. */
  override $formatDatabaseJson(json: Record<string, unknown>) {
    const out = super.$formatDatabaseJson(json)
    if (typeof out.nickname === 'string') out.nickname = out.nickname.toUpperCase()
    return out
  }
}

const api = {
  Person: expose(Person, {
    read: { allow: true, columns: '*' },
    insert: { allow: true, columns: ['firstName', 'age', 'tags', 'nickname'] },
    update: { allow: true, columns: ['firstName', 'age', 'nickname'] },
    delete: { allow: true },
  }),
}

describe.each([...DATABASE_KINDS, 'pgbouncer'] as const)('writes through the model layer on %s', (kind) => {
  let db: TestDatabase
  let client: Client<typeof api>
  beforeAll(async () => {
    db = await openDatabase(kind, knexSnakeCaseMappers())
    await db.knex.schema.createTable('people', (t) => {
      t.increments('id')
      t.text('firstName').notNullable()
      t.integer('age')
      t.jsonb('tags').notNullable().defaultTo('[]')
      t.text('createdAt').notNullable()
      t.text('updatedAt')
      t.text('nickname')
    })
    const executor = createExecutor({ knex: db.knex, api, logger: { error() {} } })
    await executor.ready()
    client = createClient<typeof api>({ url: 'http://test.local/orm', fetch: async (input, init) => executor(new Request(input as string, init)) })
  })
  afterAll(() => db?.close())

  const count = async () => Number(((await db.knex('people').count({ n: '*' })) as [{ n: string }])[0].n)

  it('validates each written row against the jsonSchema, naming the property, writing nothing', async () => {
    const before = await count()
    await expect(client.Person.query().insert({ firstName: '', age: 30, tags: [] })).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('firstName') })
    await expect(client.Person.query().insert([{ firstName: 'Ok', tags: [] }, { firstName: 'Old', age: 300, tags: [] }])).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      message: expect.stringMatching(/age: must be <= 200/),
    })
    await expect(client.Person.query().insert({ firstName: 'Tagged', tags: [1, 2] as never })).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('tags') })
    expect(await count()).toBe(before)
  })

  it('runs the instance hooks with the request’s transaction, and returns what they set', async () => {
    seen.length = 0
    const person = await client.Person.query().insert({ firstName: '  Jennifer ', age: 40, tags: ['a', 'b'] })
    expect(person).toMatchObject({ firstName: 'Jennifer', createdAt: '2026-01-02T03:04:05.000Z', tags: ['a', 'b'] })
    const patched = await client.Person.query().patchAndFetchById(person.id, { age: 41 })
    expect(patched).toMatchObject({ age: 41, updatedAt: '2026-02-03T04:05:06.000Z' })
    expect(await client.Person.query().deleteById(person.id)).toBe(1)
    expect(seen).toEqual([
      { hook: '$beforeInsert', inTransaction: true },
      { hook: '$afterInsert', inTransaction: true },
      { hook: '$beforeUpdate', inTransaction: true },
      { hook: 'afterDelete', inTransaction: true },
    ])
  })

  it('applies the model’s own mapping to the database form, and patch validation only to what is given', async () => {
    const person = await client.Person.query().insert({ firstName: 'Nick', tags: [], nickname: 'shorty' })
    const row = (await db.knex('people').where({ id: person.id }).first()) as { nickname: string }
    expect(row.nickname).toBe('SHORTY')
    // A patch is validated as objection validates patches: required properties may be absent.
    expect(await client.Person.query().where('id', person.id).patch({ age: 5 })).toBe(1)
    await expect(client.Person.query().where('id', person.id).patch({ age: -1 })).rejects.toMatchObject({ code: 'BAD_REQUEST' })
  })
})
