/**
 * The API's description (`describe: true`): the models a caller may read or write, their
 * relations, the foreign keys and shared tables between them, riding on read-only answers
 * (what it must never tell, and to whom: tests/regression/api-description-disclosure.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Model } from 'objection'
import { createExecutor, expose } from '../../executor/index.js'
import { decode, encodeRequest } from '../../shared/wire.js'
import { DATABASE_KINDS, openDatabase, type TestDatabase } from '../support/databases.js'
import { DEMO_DESCRIPTION, openDemo, type Demo } from '../support/demo.js'

describe.each(DATABASE_KINDS)('the API description on %s', (kind) => {
  let demo: Demo
  let silent: Demo
  beforeAll(async () => {
    ;[demo, silent] = await Promise.all([openDemo(kind), openDemo(kind, { describe: false })])
  })
  afterAll(() => Promise.all([demo?.close(), silent?.close()]))

  it('answers a request that asks for nothing else', async () => {
    const { status, body } = await demo.post({ v: 1, queries: [], describe: true })
    expect(status).toBe(200)
    expect(body).toEqual({ results: [], api: DEMO_DESCRIPTION })
    expect(Object.keys((body as { api: { models: object } }).api.models).sort()).toEqual(['Author', 'Comment', 'Post', 'Profile', 'Tag'])
  })

  it('rides on the answer to reads, whose results are unchanged', async () => {
    const query = { model: 'Tag', op: 'count' }
    const plain = await demo.post({ v: 1, queries: [query] })
    const described = await demo.post({ v: 1, queries: [query], describe: true })
    expect(described.status).toBe(200)
    expect(described.body).toEqual({ ...(plain.body as object), api: DEMO_DESCRIPTION })
  })

  it('is left out by an executor made with describe: false, the reads answered as ever', async () => {
    expect((await silent.post({ v: 1, queries: [], describe: true })).body).toEqual({ results: [] })
    const { status, body } = await silent.post({ v: 1, queries: [{ model: 'Tag', op: 'exists' }], describe: true })
    expect(status).toBe(200)
    expect(body).toEqual({ results: [{ data: true }] })
  })

  it.each([
    ['describe that is not a boolean', { v: 1, queries: [], describe: 'yes' }],
    ['no queries without describe', { v: 1, queries: [], describe: false }],
    ['an atomic request without queries', { v: 1, queries: [], describe: true, atomic: true }],
    ['a stream that asks for it', { v: 1, queries: [{ model: 'Tag', op: 'select' }], describe: true, stream: true }],
  ])('refuses %s', async (_name, body) => {
    const answer = await demo.post(body)
    expect(answer.status).toBe(400)
    expect(answer.body).toEqual({ error: expect.objectContaining({ code: 'BAD_REQUEST' }) })
  })

  it('authenticates first: a bad token is refused before anything is described', async () => {
    const answer = await demo.post({ v: 1, queries: [], describe: true }, { authorization: 'Bearer not-a-token' })
    expect(answer.status).toBe(401)
    expect(JSON.stringify(answer.body)).not.toMatch(/Post|Author/)
  })
})

describe.each(DATABASE_KINDS)('foreign keys in the description on %s', (kind) => {
  let database: TestDatabase
  beforeAll(async () => {
    database = await openDatabase(kind)
    // A new schema builder for each table (one builder runs every statement it holds).
    const schema = () => database.knex.schema
    await schema().createTable('orgs', (t) => t.increments('id'))
    // Not exposed, and not a relation of any model: the chain runs through it all the same.
    await schema().createTable('teams', (t) => {
      t.increments('id')
      t.integer('org_id').references('orgs.id').onDelete('cascade')
    })
    await schema().createTable('members', (t) => {
      t.increments('id')
      t.integer('team_id').references('teams.id').onDelete('cascade')
    })
    await schema().createTable('badges', (t) => {
      t.increments('id')
      t.integer('member_id').references('members.id').onDelete('set null')
    })
    await schema().createTable('notes', (t) => t.increments('id'))
  })
  afterAll(() => database?.close())

  /** A model over `table` with no relation mappings: only the database's keys link it. */
  const over = (table: string) =>
    class extends Model {
      declare id: number
      static override tableName = table
    }
  const [Org, Member, Badge, Note] = [over('orgs'), over('members'), over('badges'), over('notes')]
  /** A second model over the members table. */
  const Crew = over('members')

  it('names, for each model, the models whose rows its rows point at, through any tables', async () => {
    const api = {
      Org: expose(Org, { read: { allow: true, columns: ['id'] } }),
      Member: expose(Member, { read: { allow: true, columns: ['id'] } }),
      Badge: expose(Badge, { read: { allow: true, columns: ['id'] } }),
      Note: expose(Note, { read: { allow: true, columns: ['id'] } }),
      Crew: expose(Crew, { insert: { allow: true, columns: ['id'] } }),
    }
    const executor = createExecutor({ knex: database.knex, api, logger: { error() {} } })
    const response = await executor(new Request('http://test.local/orm', { method: 'POST', headers: { 'content-type': 'application/json' }, body: encodeRequest({ v: 1, queries: [], describe: true }) }))
    expect(decode(await response.text())).toEqual({
      results: [],
      api: {
        models: {
          Org: { relations: {}, references: [] },
          Member: { relations: {}, references: ['Org'], sameTable: ['Crew'] },
          Badge: { relations: {}, references: ['Crew', 'Member', 'Org'] },
          Note: { relations: {}, references: [] },
          // Write-only for this caller: described, so that its writes invalidate the members' readers.
          Crew: { relations: {}, references: ['Org'], sameTable: ['Member'] },
        },
      },
    })
  })
})
