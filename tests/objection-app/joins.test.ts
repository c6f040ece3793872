/**
 * `joinRelated` / `leftJoinRelated` in objection's example app: filtering, ordering and
 * selecting on to-one related columns (`owner.lastName`, nested `owner:parent.firstName`),
 * each compared with objection running the same query, on PostgreSQL and PGlite. The
 * same reads inside a transaction, whose statements take knex's positional parameters.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Client } from '../../client/index.js'
import { LISTED_SPECIES, type AppApi } from '../../examples/objection-app/api.js'
import { Animal } from '../../examples/objection-app/models.js'
import { DATABASE_KINDS } from '../support/databases.js'
import { expectSame, openObjectionApp, type ObjectionApp } from './support.js'

describe.each(DATABASE_KINDS)('objection app: joinRelated on %s', (kind) => {
  let app: ObjectionApp
  let db: Client<AppApi>

  beforeAll(async () => {
    app = await openObjectionApp(kind)
    db = app.client({ personId: 9 })
  })
  afterAll(() => app?.close())

  /** objection's side: the listed species only, as the read policy gives Sara. */
  const listed = (knex: Parameters<typeof Animal.query>[0]) => Animal.query(knex).whereIn('animals.species', LISTED_SPECIES)

  it('filters, orders and selects on a joined to-one relation', async () => {
    const rows = await expectSame(
      app,
      db.Animal.query().joinRelated('owner').where('owner.lastName', 'Hill').select('id', 'name', 'owner.firstName as ownerName').orderBy('owner.age', 'desc').orderBy('id'),
      (knex) =>
        listed(knex)
          .joinRelated('owner')
          .where('owner.lastName', 'Hill')
          .select('animals.id', 'animals.name', 'owner.firstName as ownerName')
          .orderBy('owner.age', 'desc')
          .orderBy('animals.id'),
    )
    expect(rows.length).toBeGreaterThan(2)
    expect(rows[0]).toEqual({ id: 1, name: 'Fluffy', ownerName: 'Margaret' })
  })

  it('drops rows without the related row; leftJoinRelated keeps them with nulls', async () => {
    const inner = await db.Animal.query().joinRelated('owner').select('id').orderBy('id')
    expect(inner.map((row) => row.id)).not.toContain(13)
    const rows = await expectSame(
      app,
      db.Animal.query().leftJoinRelated('owner').whereNull('owner.id').select('id', 'name', 'owner.firstName'),
      (knex) => listed(knex).leftJoinRelated('owner').whereNull('owner.id').select('animals.id', 'animals.name', 'owner.firstName'),
    )
    expect(rows).toEqual([{ id: 13, name: 'Stray', firstName: null }])
  })

  it('joins nested relations and names their columns with objection’s `:`', async () => {
    await expectSame(
      app,
      db.Animal.query()
        .joinRelated('owner.parent')
        .where('owner:parent.firstName', 'Margaret')
        .select('id', 'name', 'owner:parent.firstName as grandparent')
        .orderBy('id'),
      (knex) =>
        listed(knex)
          .joinRelated('owner.parent')
          .where('owner:parent.firstName', 'Margaret')
          .select('animals.id', 'animals.name', 'owner:parent.firstName as grandparent')
          .orderBy('animals.id'),
    )
  })

  it('counts and pages joined reads, also inside a transaction', async () => {
    const query = () => db.Animal.query().joinRelated('owner').where('owner.age', '>', 40).whereILike('owner.lastName', 'h%')
    const expected = await listed(app.knex).joinRelated('owner').where('owner.age', '>', 40).whereILike('owner.lastName', 'h%').orderBy('animals.id')
    expect(await query().resultSize()).toBe(expected.length)
    const page = await query().orderBy('id').page(0, 2)
    expect(page).toEqual({ results: expected.slice(0, 2).map((a) => ({ ...a })), total: expected.length })
    const [inTransaction] = await db.transaction((t) => [
      t.Animal.query().joinRelated('owner').where('owner.age', '>', 40).whereILike('owner.lastName', 'h%').select('id', 'owner.lastName as lastName').orderBy('id'),
    ])
    expect(inTransaction).toEqual(expected.map((a) => ({ id: a.id, lastName: 'Hill' })))
  })

  it('refuses what it cannot join, before any SQL', async () => {
    const sql: string[] = []
    const spy = (query: { sql: string }) => sql.push(query.sql)
    app.knex.on('query', spy)
    try {
      // To-many relations filter with whereExists; they are not joined.
      await expect(db.Person.query().joinRelated('pets')).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('to-many') })
      await expect(db.Person.query().joinRelated('movies')).rejects.toMatchObject({ code: 'BAD_REQUEST' })
      // A joined column needs its join.
      await expect(db.Animal.query().where('owner.lastName', 'Hill')).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('joinRelated') })
      await expect(db.Animal.query().joinRelated('owner').where('owner.nope' as 'owner.age', 1)).rejects.toMatchObject({ code: 'BAD_REQUEST', message: 'unknown column "nope" on Person' })
      await expect(db.Animal.query().joinRelated('owner(adults)')).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('modifiers') })
      await expect(db.Animal.query().joinRelated('[owner')).rejects.toMatchObject({ code: 'BAD_REQUEST' })
      // Writes do not join.
      await expect(db.Animal.query().where('owner.lastName', 'Hill').patch({ name: 'x' })).rejects.toMatchObject({ code: 'BAD_REQUEST' })
    } finally {
      app.knex.off('query', spy)
    }
    expect(sql.filter((s) => /persons|animals/.test(s))).toEqual([])
  })
})
