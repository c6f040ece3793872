/**
 * The models' named modifiers, called as objection calls them (`.modify(name, ...args)`,
 * in relation callbacks, in relation expressions `'pets(onlyDogs)'`), compared with
 * objection running the same query; and refused when the API does not list them or the
 * arguments are wrong, before any SQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Animal, Person } from '../../examples/objection-app/models.js'
import { LISTED_SPECIES } from '../../examples/objection-app/api.js'
import { DATABASE_KINDS } from '../support/databases.js'
import { openObjectionApp, type ObjectionApp } from './support.js'

const json = (value: unknown) => JSON.parse(JSON.stringify(value)) as unknown

describe.each(DATABASE_KINDS)('modifiers on %s', (kind) => {
  let app: ObjectionApp
  beforeAll(async () => {
    app = await openObjectionApp(kind)
  })
  afterAll(() => app?.close())

  it('filters with a modifier and its argument, as objection does', async () => {
    const db = app.client()
    const rows = await db.Person.query().modify('searchByName', 'jen').orderBy('id')
    const expected = await Person.query(app.knex).modify('searchByName', 'jen').orderBy('id')
    expect(json(rows)).toEqual(json(expected))
    expect(rows.length).toBeGreaterThan(0)
    const adults = await db.Person.query().modify('adults').where('lastName', 'like', '%').orderBy('id')
    expect(json(adults)).toEqual(json(await Person.query(app.knex).modify('adults').where('lastName', 'like', '%').orderBy('id')))
  })

  it('applies modifiers in relation callbacks and relation expressions, under the read policy', async () => {
    const db = app.client()
    const withDogs = await db.Person.query().withGraphFetched({ pets: (p) => p.modify('onlyDogs').orderBy('id') }).orderBy('id').limit(20)
    const expected = await Person.query(app.knex)
      .withGraphFetched('pets(onlyDogs)')
      .modifyGraph('pets', (p) => p.whereIn('species', LISTED_SPECIES).orderBy('id'))
      .orderBy('id')
      .limit(20)
    expect(json(withDogs)).toEqual(json(expected))
    const viaExpression = await db.Person.query().withGraphFetched('[pets(onlyDogs), children.pets(onlyDogs)]').orderBy('id').limit(20)
    for (const person of viaExpression as unknown as { pets: { species: string }[] }[]) expect(person.pets.every((pet) => pet.species === 'dog')).toBe(true)
    const cats = await db.Animal.query().modify('filterSpecies', 'cat').orderBy('id')
    expect(json(cats)).toEqual(json(await Animal.query(app.knex).modify('filterSpecies', 'cat').orderBy('id')))
    // The policy still applies: a modifier cannot reach unlisted species.
    const [snake] = await Animal.query(app.knex).whereNotIn('species', LISTED_SPECIES).limit(1)
    await expect(db.Animal.query().modify('filterSpecies', snake!.species as never)).rejects.toMatchObject({ code: 'BAD_REQUEST' })
  })

  it('refuses unlisted modifiers, missing ones and wrong arguments alike, before any SQL', async () => {
    const db = app.client()
    const sql: string[] = []
    const spy = (query: { sql: string }) => sql.push(query.sql)
    app.knex.on('query', spy)
    try {
      // orderByAge is one of Person's modifiers, but the API does not list it.
      // Names the types do not know, as a client built without them would send.
      const loose = () => db.Person.query() as unknown as { modify(name: string, ...args: unknown[]): PromiseLike<unknown> }
      await expect(loose().modify('orderByAge')).rejects.toMatchObject({ code: 'BAD_REQUEST', message: 'unknown modifier "orderByAge" on Person' })
      await expect(loose().modify('dropTables')).rejects.toMatchObject({ code: 'BAD_REQUEST', message: 'unknown modifier "dropTables" on Person' })
      await expect(db.Person.query().modify('searchByName', 42 as never)).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('modifier searchByName') })
      await expect(db.Person.query().modify('searchByName', 'x'.repeat(101))).rejects.toMatchObject({ code: 'BAD_REQUEST' })
      await expect(db.Person.query().modify('adults', { $gt: 1 } as never)).rejects.toMatchObject({ code: 'BAD_REQUEST' })
      await expect(db.Person.query().withGraphFetched('pets(orderByName)')).rejects.toMatchObject({ code: 'BAD_REQUEST', message: 'unknown modifier "orderByName" on Animal' })
    } finally {
      app.knex.off('query', spy)
    }
    expect(sql.filter((s) => /persons|animals/.test(s))).toEqual([])
  })
})
