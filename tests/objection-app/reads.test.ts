/**
 * Reads of objection's example app through async-orm's client, each compared with the
 * same query run by objection itself on the app's knex (`knexSnakeCaseMappers()`), on
 * PostgreSQL and PGlite. The caller is a signed-in person, so the pets policy (listed
 * species only) applies; objection's side states it as the `whereIn` it is.
 */
import type { Knex } from 'knex'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Client } from '../../client/index.js'
import { LISTED_SPECIES, type AppApi } from '../../examples/objection-app/api.js'
import { Animal, Movie, Person } from '../../examples/objection-app/models.js'
import { DATABASE_KINDS } from '../support/databases.js'
import { expectSame, openObjectionApp, type ObjectionApp } from './support.js'

describe.each(DATABASE_KINDS)('objection app: reads on %s', (kind) => {
  let app: ObjectionApp
  let db: Client<AppApi>

  beforeAll(async () => {
    app = await openObjectionApp(kind)
    db = app.client({ personId: 2 })
  })
  afterAll(() => app?.close())

  const same = <T>(ours: PromiseLike<T>, theirs: (knex: Knex) => PromiseLike<unknown>) => expectSame(app, ours, theirs)
  /** The pets a caller who is not an admin may read. */
  const listedPets = (knex: Knex) => Animal.query(knex).whereIn('species', LISTED_SPECIES)

  it('filters with where in its forms: a value, an operator, an object, a group', async () => {
    const hills = await same(db.Person.query().where('lastName', 'Hill').orderBy('age', 'desc'), (k) =>
      Person.query(k).where('lastName', 'Hill').orderBy('age', 'desc'),
    )
    expect(hills.map((p) => p.firstName)).toEqual(['Margaret', 'Thomas', 'Clara', 'Emil', 'Ida'])
    await same(db.Person.query().where('age', '>', 30).where('age', '<=', 58).orderBy('id'), (k) =>
      Person.query(k).where('age', '>', 30).where('age', '<=', 58).orderBy('id'),
    )
    await same(db.Person.query().where({ lastName: 'Lind', parentId: null }).orderBy('id'), (k) =>
      Person.query(k).where({ lastName: 'Lind', parentId: null }).orderBy('id'),
    )
    await same(db.Person.query().where((q) => q.where('age', '<', 10).orWhere('age', '>', 70)).where('lastName', '!=', 'Berg').orderBy('id'), (k) =>
      Person.query(k).where((q) => q.where('age', '<', 10).orWhere('age', '>', 70)).where('lastName', '!=', 'Berg').orderBy('id'),
    )
    await same(db.Person.query().where('age', '<', 10).orWhere('lastName', 'Stone').orderBy('id'), (k) =>
      Person.query(k).where('age', '<', 10).orWhere('lastName', 'Stone').orderBy('id'),
    )
    await same(db.Person.query().whereNot('lastName', 'Hill').orderBy('id'), (k) => Person.query(k).whereNot('lastName', 'Hill').orderBy('id'))
    await same(db.Person.query().where('firstName', 'like', 'A%').orderBy('id'), (k) => Person.query(k).where('firstName', 'like', 'A%').orderBy('id'))
    await same(db.Person.query().where('lastName', 'ilike', '%ST%').orderBy('id'), (k) => Person.query(k).where('lastName', 'ilike', '%ST%').orderBy('id'))
  })

  it('orders by several columns, with nulls first or last, and limits and offsets', async () => {
    await same(db.Person.query().orderBy('lastName').orderBy('firstName', 'desc'), (k) =>
      Person.query(k).orderBy('lastName').orderBy('firstName', 'desc'),
    )
    const byAge = await same(db.Person.query().orderBy('age', 'desc', 'last').orderBy('id'), (k) =>
      Person.query(k).orderBy('age', 'desc', 'last').orderBy('id'),
    )
    expect(byAge.at(-1)?.age).toBeNull()
    await same(db.Person.query().orderBy('lastName', 'asc', 'first').orderBy('id'), (k) =>
      Person.query(k).orderBy('lastName', 'asc', 'first').orderBy('id'),
    )
    await same(db.Person.query().orderBy('id').limit(4).offset(3), (k) => Person.query(k).orderBy('id').limit(4).offset(3))
    await same(db.Movie.query().orderBy([{ column: 'name', order: 'desc' }]).limit(2), (k) =>
      Movie.query(k).orderBy([{ column: 'name', order: 'desc' }]).limit(2),
    )
  })

  it('finds the first row, by id and by ids', async () => {
    await same(db.Person.query().where('lastName', 'Hill').orderBy('age').first(), (k) => Person.query(k).where('lastName', 'Hill').orderBy('age').first())
    expect(await same(db.Person.query().where('lastName', 'Nobody').first(), (k) => Person.query(k).where('lastName', 'Nobody').first())).toBeUndefined()
    await same(db.Person.query().findById(7), (k) => Person.query(k).findById(7))
    expect(await same(db.Person.query().findById(999), (k) => Person.query(k).findById(999))).toBeUndefined()
    await same(db.Person.query().findByIds([1, 5, 9]).orderBy('id'), (k) => Person.query(k).findByIds([1, 5, 9]).orderBy('id'))
    await same(db.Movie.query().findById(3), (k) => Movie.query(k).findById(3))
  })

  it('selects columns and distinct values', async () => {
    const names = await same(db.Person.query().select('id', 'firstName').where('lastName', 'Berg').orderBy('id'), (k) =>
      Person.query(k).select('id', 'firstName').where('lastName', 'Berg').orderBy('id'),
    )
    // Person's virtual attribute fullName is in the answer, as objection's toJSON() adds it.
    expect(names).toEqual([
      { id: 6, firstName: 'Jonas', fullName: 'Jonas' },
      { id: 7, firstName: 'Nora', fullName: 'Nora' },
      { id: 8, firstName: 'Leo', fullName: 'Leo' },
    ])
    await same(db.Person.query().distinct('lastName').orderBy('lastName'), (k) => Person.query(k).distinct('lastName').orderBy('lastName'))
  })

  it('counts matching rows (resultSize), and counts per group', async () => {
    expect(await same(db.Person.query().where('lastName', 'Hill').count(), (k) => Person.query(k).where('lastName', 'Hill').resultSize())).toBe(5)
    await same(db.Person.query().where('age', '>=', 18).limit(2).resultSize(), (k) => Person.query(k).where('age', '>=', 18).limit(2).resultSize())
    await same(db.Animal.query().count(), (k) => listedPets(k).resultSize())

    const perSpecies = await db.Animal.query().groupBy('species').count('id as n')
    const expected = await listedPets(app.knex).select('species').count('id as n').groupBy('species')
    // knex reads PostgreSQL's count (int8) as a string; the client's counts are numbers.
    const bySpecies = (rows: readonly { species: string | null; n: unknown }[]) =>
      rows.map((row) => ({ species: row.species, n: Number(row.n) })).sort((a, b) => String(a.species).localeCompare(String(b.species)))
    expect(bySpecies(perSpecies)).toEqual(bySpecies(expected as unknown as { species: string; n: string }[]))
    expect(bySpecies(perSpecies)).toContainEqual({ species: 'dog', n: 6 })
  })

  it('pages and ranges with the total', async () => {
    const page = await same(db.Person.query().orderBy('id').page(1, 4), (k) => Person.query(k).orderBy('id').page(1, 4))
    expect(page.total).toBe(15)
    expect(page.results.map((p) => p.id)).toEqual([5, 6, 7, 8])
    await same(db.Person.query().where('lastName', 'Hill').orderBy('age').range(1, 3), (k) => Person.query(k).where('lastName', 'Hill').orderBy('age').range(1, 3))
    await same(db.Animal.query().orderBy('name').page(0, 5), (k) => listedPets(k).orderBy('name').page(0, 5))
  })

  it('supports whereIn, whereNotIn, whereNull, whereNotNull, whereBetween, whereNotBetween, whereLike and whereILike', async () => {
    await same(db.Person.query().whereIn('id', [2, 4, 6]).orderBy('id'), (k) => Person.query(k).whereIn('id', [2, 4, 6]).orderBy('id'))
    await same(db.Person.query().whereNotIn('lastName', ['Hill', 'Berg']).orderBy('id'), (k) => Person.query(k).whereNotIn('lastName', ['Hill', 'Berg']).orderBy('id'))
    await same(db.Person.query().whereNull('parentId').orderBy('id'), (k) => Person.query(k).whereNull('parentId').orderBy('id'))
    await same(db.Person.query().whereNull('age').orWhereNull('lastName').orderBy('id'), (k) => Person.query(k).whereNull('age').orWhereNull('lastName').orderBy('id'))
    await same(db.Person.query().whereNotNull('address').orderBy('id'), (k) => Person.query(k).whereNotNull('address').orderBy('id'))
    await same(db.Person.query().whereBetween('age', [12, 41]).orderBy('id'), (k) => Person.query(k).whereBetween('age', [12, 41]).orderBy('id'))
    await same(db.Person.query().whereNotBetween('age', [12, 41]).orderBy('id'), (k) => Person.query(k).whereNotBetween('age', [12, 41]).orderBy('id'))
    const february = [new Date('2024-02-01T00:00:00Z'), new Date('2024-03-01T00:00:00Z')] as const
    await same(db.Person.query().whereBetween('createdAt', february).orderBy('id'), (k) => Person.query(k).whereBetween('createdAt', [...february]).orderBy('id'))
    await same(db.Person.query().where('updatedAt', '>', new Date('2024-02-15T00:00:00Z')).orderBy('id'), (k) =>
      Person.query(k).where('updatedAt', '>', new Date('2024-02-15T00:00:00Z')).orderBy('id'),
    )
    await same(db.Animal.query().whereLike('name', '%o%').orderBy('id'), (k) => listedPets(k).whereLike('name', '%o%').orderBy('id'))
    await same(db.Movie.query().whereILike('name', '%LINE%'), (k) => Movie.query(k).whereILike('name', '%LINE%'))
  })

  it('filters through relations with whereExists, as objection does with relatedQuery', async () => {
    // The related model's read policy applies inside the subquery too.
    const owners = await same(db.Person.query().whereExists('pets').orderBy('id'), (k) =>
      Person.query(k).whereExists(Person.relatedQuery('pets').whereIn('species', LISTED_SPECIES)).orderBy('id'),
    )
    expect(owners.map((p) => p.id)).not.toContain(11) // Alma's only pet is a tarantula
    await same(db.Person.query().whereExists('pets', (q) => q.where('species', 'dog')).orderBy('id'), (k) =>
      Person.query(k).whereExists(Person.relatedQuery('pets').whereIn('species', LISTED_SPECIES).where('species', 'dog')).orderBy('id'),
    )
    await same(db.Person.query().whereNotExists('movies').orderBy('id'), (k) => Person.query(k).whereNotExists(Person.relatedQuery('movies')).orderBy('id'))
    await same(db.Movie.query().whereExists('actors', (q) => q.where('age', '>', 70)).orderBy('id'), (k) =>
      Movie.query(k).whereExists(Movie.relatedQuery('actors').where('age', '>', 70)).orderBy('id'),
    )
    await same(db.Animal.query().whereExists('owner', (q) => q.where('lastName', 'Hill')).orderBy('id'), (k) =>
      listedPets(k).whereExists(Animal.relatedQuery('owner').where('lastName', 'Hill')).orderBy('id'),
    )
    await same(db.Person.query().where('age', '<', 10).orWhereExists('movies', (q) => q.where('name', 'Northern Line')).orderBy('id'), (k) =>
      Person.query(k).where('age', '<', 10).orWhereExists(Person.relatedQuery('movies').where('name', 'Northern Line')).orderBy('id'),
    )
  })

  it('filters through nested relations: people with a child who has a rabbit', async () => {
    const parents = await same(db.Person.query().whereExists('children', (q) => q.whereExists('pets', (p) => p.where('species', 'rabbit'))), (k) =>
      Person.query(k).whereExists(
        Person.relatedQuery('children').whereExists(Person.relatedQuery('pets').whereIn('species', LISTED_SPECIES).where('species', 'rabbit')),
      ),
    )
    expect(parents.map((p) => p.firstName)).toEqual(['Thomas'])
  })

  it('applies the pets policy: listed species for people and anonymous callers, every pet for admins', async () => {
    const pets = await same(db.Animal.query().orderBy('id'), (k) => listedPets(k).orderBy('id'))
    expect(pets.map((p) => p.species)).not.toContain('snake')
    await same(app.client().Animal.query().orderBy('id'), (k) => listedPets(k).orderBy('id'))
    const all = await same(app.client({ personId: 1, role: 'admin' }).Animal.query().orderBy('id'), (k) => Animal.query(k).orderBy('id'))
    expect(all).toHaveLength(16)
  })

  it('answers the Django-style facade with the same rows', async () => {
    await same(db.Person.objects.filter({ lastName: 'Hill', age__gte: 18 }).orderBy('-age'), (k) =>
      Person.query(k).where('lastName', 'Hill').where('age', '>=', 18).orderBy('age', 'desc'),
    )
    await same(db.Person.objects.exclude({ address__isnull: true }).filter({ firstName__istartswith: 'j' }).orderBy('id'), (k) =>
      Person.query(k).whereNotNull('address').whereILike('firstName', 'j%').orderBy('id'),
    )
  })
})
