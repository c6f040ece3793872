/**
 * Models whose `tableName` names a schema (`'app.people'`), as objection accepts it:
 * introspected, read, filtered through relations and written, on PostgreSQL and PGlite.
 */
import { Model } from 'objection'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient, type Client } from '../../client/index.js'
import { createExecutor, expose } from '../../executor/index.js'
import { DATABASE_KINDS, openDatabase, type TestDatabase } from '../support/databases.js'

const SCHEMA = `app_${process.pid}_${Math.random().toString(36).slice(2, 6)}`

class Team extends Model {
  static override tableName = `${SCHEMA}.teams`
  declare id: number
  declare name: string
  declare members?: Member[]
  static override get relationMappings() {
    return { members: { relation: Model.HasManyRelation, modelClass: Member, join: { from: `${SCHEMA}.teams.id`, to: 'members.teamId' } } }
  }
}

/** On the search path, pointing at a table in the other schema. */
class Member extends Model {
  static override tableName = 'members'
  declare id: number
  declare teamId: number
  declare name: string
}

const api = {
  Team: expose(Team, { read: { allow: true, columns: '*' }, insert: { allow: true, columns: ['name'] }, update: { allow: true, columns: ['name'] }, relations: ['members'] }),
  Member: expose(Member, { read: { allow: true, columns: '*' }, insert: { allow: true, columns: ['teamId', 'name'] } }),
}

describe.each(DATABASE_KINDS)('schema-qualified tables on %s', (kind) => {
  let db: TestDatabase
  let client: Client<typeof api>
  beforeAll(async () => {
    db = await openDatabase(kind)
    await db.knex.raw('create schema ??', [SCHEMA])
    await db.knex.schema.withSchema(SCHEMA).createTable('teams', (t) => {
      t.increments('id')
      t.text('name').notNullable()
    })
    await db.knex.schema.createTable('members', (t) => {
      t.increments('id')
      t.integer('teamId').notNullable()
      t.text('name').notNullable()
    })
    const executor = createExecutor({ knex: db.knex, api, logger: { error() {} } })
    await executor.ready()
    client = createClient<typeof api>({ url: 'http://test.local/orm', fetch: async (input, init) => executor(new Request(input as string, init)) })
  })
  afterAll(async () => {
    await db?.knex.raw('drop schema ?? cascade', [SCHEMA])
    await db?.close()
  })

  it('reads, writes and follows relations of a table in another schema', async () => {
    const team = await client.Team.query().insert({ name: 'Core' })
    expect(team).toMatchObject({ name: 'Core', id: expect.any(Number) })
    await client.Member.query().insert([{ teamId: team.id, name: 'Ann' }, { teamId: team.id, name: 'Bo' }])
    expect(await client.Team.query().where('id', team.id).patch({ name: 'Core team' })).toBe(1)
    const [loaded] = await client.Team.query().withGraphFetched({ members: (m) => m.orderBy('name') }).whereExists('members', (m) => m.where('name', 'Bo'))
    expect(loaded).toMatchObject({ name: 'Core team', members: [{ name: 'Ann' }, { name: 'Bo' }] })
    expect(await client.Team.query().select('name', client.Team.relatedQuery('members').count().as('size'))).toEqual([{ name: 'Core team', size: 2 }])
    expect((await db.knex.withSchema(SCHEMA).from('teams').first()) as unknown).toMatchObject({ name: 'Core team' })
  })
})
