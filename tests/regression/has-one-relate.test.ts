/**
 * A has-one relation links one row: `relate` takes one id and an insert through it one
 * row, as for belongs-to-one, so an owner never ends up with several "one" rows.
 */
import { Model } from 'objection'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient, type Client } from '../../client/index.js'
import { createExecutor, expose } from '../../executor/index.js'
import { DATABASE_KINDS, openDatabase, type TestDatabase } from '../support/databases.js'

class Citizen extends Model {
  static override tableName = 'citizens'
  declare id: number
  declare passport?: Passport
  static override get relationMappings() {
    return { passport: { relation: Model.HasOneRelation, modelClass: Passport, join: { from: 'citizens.id', to: 'passports.citizen_id' } } }
  }
}
class Passport extends Model {
  static override tableName = 'passports'
  declare id: number
  declare citizen_id: number | null
  declare number: string
}
const api = {
  Citizen: expose(Citizen, { read: { allow: true, columns: '*' }, relations: ['passport'] }),
  Passport: expose(Passport, { read: { allow: true, columns: '*' }, insert: { allow: true, columns: ['citizen_id', 'number'] }, update: { allow: true, columns: ['citizen_id'] } }),
}

describe.each(DATABASE_KINDS)('has-one writes on %s', (kind) => {
  let db: TestDatabase
  let client: Client<typeof api>
  beforeAll(async () => {
    db = await openDatabase(kind)
    await db.knex.schema.createTable('citizens', (t) => t.increments('id'))
    await db.knex.schema.createTable('passports', (t) => {
      t.increments('id')
      t.integer('citizen_id').references('citizens.id')
      t.text('number').notNullable()
    })
    await db.knex.raw('insert into citizens default values')
    await db.knex.raw('insert into citizens default values')
    await db.knex('passports').insert([{ number: 'A1' }, { number: 'B2' }])
    const executor = createExecutor({ knex: db.knex, api, logger: { error() {} } })
    await executor.ready()
    client = createClient<typeof api>({ url: 'http://has-one.test/orm', fetch: (url, init) => executor(new Request(url, init)) })
  })
  afterAll(() => db?.close())

  it('relates one id and inserts one row, and refuses more', async () => {
    await expect(client.Citizen.relatedQuery('passport').for(1).relate([1, 2])).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('to-one') })
    await expect(client.Citizen.relatedQuery('passport').for(2).insert([{ number: 'C3' }, { number: 'D4' }])).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('one row') })
    expect(await client.Citizen.relatedQuery('passport').for(1).relate(1)).toBe(1)
    expect(await client.Citizen.relatedQuery('passport').for(2).insert({ number: 'C3' })).toMatchObject({ citizen_id: 2 })
    expect(await client.Citizen.query().findById(1).withGraphFetched({ passport: true })).toMatchObject({ passport: { number: 'A1' } })
  })
})
