/**
 * Models that shape their JSON — `$parseDatabaseJson`, `$formatJson`, `virtualAttributes`
 * (getters and methods) — answer what objection's `toJSON()` gives, on reads (top level,
 * relations, coalesced point reads) and on the rows writes return; the client's row types
 * say which getters are present. Each answer is compared with objection running the same
 * query, on PostgreSQL and PGlite.
 */
import { Model } from 'objection'
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest'
import { createClient, type Client } from '../../client/index.js'
import { createExecutor, expose } from '../../executor/index.js'
import type { AppApi } from '../../examples/objection-app/api.js'
import { DATABASE_KINDS, openDatabase, type TestDatabase } from '../support/databases.js'

class Account extends Model {
  static override tableName = 'accounts'
  declare id: number
  declare firstName: string
  declare lastName: string
  /** Stored as comma-separated text; the model reads it as a list. */
  declare tags: string[]
  declare hint: string | null
  declare notes?: Note[]

  // Typed as a tuple, so that the client's row types know the names.
  static override virtualAttributes: ['initials', 'greeting'] = ['initials', 'greeting']

  get initials(): string {
    return `${this.firstName?.[0] ?? ''}${this.lastName?.[0] ?? ''}`
  }

  /** Not listed in virtualAttributes: never in an answer. */
  get shouting(): string {
    return this.firstName.toUpperCase()
  }

  greeting(): string {
    return `Hello, ${this.firstName}`
  }

  override $parseDatabaseJson(json: Record<string, unknown>) {
    const parsed = super.$parseDatabaseJson(json)
    if (typeof parsed.tags === 'string') parsed.tags = parsed.tags === '' ? [] : parsed.tags.split(',')
    return parsed
  }

  override $formatDatabaseJson(json: Record<string, unknown>) {
    const formatted = super.$formatDatabaseJson(json)
    if (Array.isArray(formatted.tags)) formatted.tags = formatted.tags.join(',')
    return formatted
  }

  /** The hint never leaves the model as JSON; a flag says whether there is one. */
  override $formatJson(json: Record<string, unknown>) {
    const formatted = super.$formatJson(json)
    if ('hint' in formatted) {
      formatted.hasHint = formatted.hint !== null
      delete formatted.hint
    }
    return formatted
  }

  static override get relationMappings() {
    return { notes: { relation: Model.HasManyRelation, modelClass: Note, join: { from: 'accounts.id', to: 'notes.account_id' } } }
  }
}

class Note extends Model {
  static override tableName = 'notes'
  declare id: number
  declare account_id: number
  declare body: string
  declare account?: Account

  static override get relationMappings() {
    return { account: { relation: Model.BelongsToOneRelation, modelClass: Account, join: { from: 'notes.account_id', to: 'accounts.id' } } }
  }
}

const api = {
  Account: expose(Account, {
    read: { allow: true, columns: '*' },
    insert: { allow: true, columns: ['firstName', 'lastName', 'hint'] },
    update: { allow: true, columns: ['firstName'] },
    relations: ['notes'],
  }),
  Note: expose(Note, { read: { allow: true, columns: '*' }, relations: ['account'] }),
}

const json = (value: unknown) => JSON.parse(JSON.stringify(value)) as unknown

describe.each(DATABASE_KINDS)('models that shape their JSON, on %s', (kind) => {
  let db: TestDatabase
  let client: Client<typeof api>
  beforeAll(async () => {
    db = await openDatabase(kind)
    await db.knex.schema.createTable('accounts', (t) => {
      t.increments('id')
      t.text('firstName').notNullable()
      t.text('lastName').notNullable()
      t.text('tags').notNullable().defaultTo('')
      t.text('hint')
    })
    await db.knex.schema.createTable('notes', (t) => {
      t.increments('id')
      t.integer('account_id').notNullable().references('accounts.id')
      t.text('body').notNullable()
    })
    await db.knex('accounts').insert([
      { firstName: 'Ada', lastName: 'Lovelace', tags: 'math,poetry', hint: 'engine' },
      { firstName: 'Alan', lastName: 'Turing', tags: '', hint: null },
    ])
    await db.knex('notes').insert([
      { account_id: 1, body: 'notes on the engine' },
      { account_id: 2, body: 'on computable numbers' },
    ])
    const executor = createExecutor({ knex: db.knex, api, logger: { error() {} } })
    await executor.ready()
    client = createClient<typeof api>({ url: 'http://test.local/orm', fetch: async (input, init) => executor(new Request(input as string, init)) })
  })
  afterAll(() => db?.close())

  it('answers reads as toJSON() gives them: parsed, formatted, with the virtual attributes', async () => {
    const rows = await client.Account.query().orderBy('id')
    expect(rows).toEqual(json(await Account.query(db.knex).orderBy('id')))
    expect(rows[0]).toEqual({ id: 1, firstName: 'Ada', lastName: 'Lovelace', tags: ['math', 'poetry'], hasHint: true, initials: 'AL', greeting: 'Hello, Ada' })
    expect(rows[0]).not.toHaveProperty('shouting')
    // Selected columns only, as objection computes them from what it read.
    expect(await client.Account.query().select('id', 'firstName').orderBy('id')).toEqual(json(await Account.query(db.knex).select('id', 'firstName').orderBy('id')))
  })

  it('shapes related rows, and point reads coalesced into one query', async () => {
    const notes = await client.Note.query().withGraphFetched({ account: true }).orderBy('id')
    expect(notes).toEqual(json(await Note.query(db.knex).withGraphFetched('account').orderBy('id')))
    const accounts = await client.Account.query().withGraphFetched({ notes: true }).orderBy('id')
    expect(accounts).toEqual(json(await Account.query(db.knex).withGraphFetched('notes').orderBy('id')))
    const [one, two] = await Promise.all([client.Account.query().findById(1), client.Account.query().findById(2)])
    expect([one, two]).toEqual(json([await Account.query(db.knex).findById(1), await Account.query(db.knex).findById(2)]))
  })

  it('shapes the rows writes return, as objection’s answer would be', async () => {
    const inserted = await client.Account.query().insert({ firstName: 'Grace', lastName: 'Hopper', hint: 'cobol' })
    expect(inserted).toEqual({ id: inserted.id, firstName: 'Grace', lastName: 'Hopper', tags: [], hasHint: true, initials: 'GH', greeting: 'Hello, Grace' })
    const patched = await client.Account.query().findById(inserted.id).patch({ firstName: 'Amazing Grace' }).returning()
    expect(patched).toEqual(json(await Account.query(db.knex).findById(inserted.id)))
    expect(patched).toMatchObject({ initials: 'AH', greeting: 'Hello, Amazing Grace' })
  })

  it('types listed virtual attributes as present and other getters as absent', () => {
    type Row = Awaited<ReturnType<typeof client.Account.query>>[number]
    expectTypeOf<Row['initials']>().toEqualTypeOf<string>()
    expectTypeOf<Row['greeting']>().toEqualTypeOf<string>()
    expectTypeOf<Row>().not.toHaveProperty('shouting')
    // virtualAttributes as objection's docs write it (a string[] getter): getters may be present.
    type PersonRow = Awaited<ReturnType<Client<AppApi>['Person']['query']>>[number]
    expectTypeOf<PersonRow['fullName']>().toEqualTypeOf<string | undefined>()
    expectTypeOf<PersonRow['firstName']>().toEqualTypeOf<string>()
  })
})
