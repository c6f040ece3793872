/**
 * Relation loading in objection's example app: the client's `withGraphFetched` (object
 * form, string form, per-relation callbacks) compared with objection's `withGraphFetched`
 * and `modifyGraph` on the same knex, on PostgreSQL and PGlite. The caller is a signed-in
 * person, so pets are the listed species wherever they are loaded; objection's side
 * says so with a `modifyGraph` on every pets relation.
 */
import type { Knex } from 'knex'
import type { Model, QueryBuilder } from 'objection'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Client } from '../../client/index.js'
import { LISTED_SPECIES, type AppApi } from '../../examples/objection-app/api.js'
import { Animal, Movie, Person } from '../../examples/objection-app/models.js'
import { DATABASE_KINDS } from '../support/databases.js'
import { expectSame, normalize, openObjectionApp, type ObjectionApp } from './support.js'

/** The pets policy, as a graph modifier. */
const listed = <QB extends QueryBuilder<Model>>(builder: QB): QB => builder.whereIn('species', LISTED_SPECIES)

describe.each(DATABASE_KINDS)('objection app: relations on %s', (kind) => {
  let app: ObjectionApp
  let db: Client<AppApi>

  beforeAll(async () => {
    app = await openObjectionApp(kind)
    db = app.client({ personId: 2 })
  })
  afterAll(() => app?.close())

  /** Related rows loaded without an order may come in any order: compared sorted by id. */
  const sameGraph = <T>(ours: PromiseLike<T>, theirs: (knex: Knex) => PromiseLike<unknown>) => expectSame(app, ours, theirs, { anyOrder: true })
  const same = <T>(ours: PromiseLike<T>, theirs: (knex: Knex) => PromiseLike<unknown>) => expectSame(app, ours, theirs)

  it('loads relations given in objection’s object form, nested, of every kind', async () => {
    const graph = { pets: true, movies: true, children: { pets: true }, parent: true } as const
    const thomas = await sameGraph(db.Person.query().findById(2).withGraphFetched(graph), (k) =>
      Person.query(k).findById(2).withGraphFetched(graph).modifyGraph('pets', listed).modifyGraph('children.pets', listed),
    )
    expect(thomas?.parent?.firstName).toBe('Margaret')
    expect(thomas?.children.map((c) => c.firstName).sort()).toEqual(['Emil', 'Ida'])
    expect(thomas?.pets).toHaveLength(3)
  })

  it('loads relations given in objection’s string form', async () => {
    await sameGraph(db.Person.query().where('lastName', 'Berg').orderBy('id').withGraphFetched('[children.[pets, movies], parent]'), (k) =>
      Person.query(k).where('lastName', 'Berg').orderBy('id').withGraphFetched('[children.[pets, movies], parent]').modifyGraph('children.pets', listed),
    )
    await sameGraph(db.Movie.query().orderBy('id').withGraphFetched('actors.pets'), (k) =>
      Movie.query(k).orderBy('id').withGraphFetched('actors.pets').modifyGraph('actors.pets', listed),
    )
  })

  it('loads three generations through the self relation', async () => {
    const graph = { children: { children: { pets: true, parent: true } } } as const
    const margaret = await sameGraph(db.Person.query().findById(1).withGraphFetched(graph), (k) =>
      Person.query(k).findById(1).withGraphFetched(graph).modifyGraph('children.children.pets', listed),
    )
    expect(margaret?.children.flatMap((c) => c.children.map((g) => g.firstName)).sort()).toEqual(['Emil', 'Ida'])
  })

  it('loads many-to-many both ways and belongs-to with null for a missing owner', async () => {
    const movies = await sameGraph(db.Movie.query().orderBy('id').withGraphFetched({ actors: { movies: true } }), (k) =>
      Movie.query(k).orderBy('id').withGraphFetched({ actors: { movies: true } }),
    )
    expect(movies.find((m) => m.name === 'Paper Boats')?.actors).toEqual([])
    const pets = await same(db.Animal.query().orderBy('id').withGraphFetched({ owner: { parent: true } }), (k) =>
      Animal.query(k).whereIn('species', LISTED_SPECIES).orderBy('id').withGraphFetched({ owner: { parent: true } }),
    )
    expect(pets.find((p) => p.name === 'Stray')?.owner).toBeNull()
  })

  it('filters, orders and selects each relation with a callback, as modifyGraph does', async () => {
    await same(
      db.Person.query()
        .whereIn('id', [1, 2, 6])
        .orderBy('id')
        .withGraphFetched({
          children: (q) => q.where('age', '>=', 18).orderBy('age', 'desc').withGraphFetched({ pets: (p) => p.where('species', 'dog').orderBy('name') }),
          movies: (q) => q.orderBy('name'),
        }),
      (k) =>
        Person.query(k)
          .whereIn('id', [1, 2, 6])
          .orderBy('id')
          .withGraphFetched('[children.pets, movies]')
          .modifyGraph('children', (b) => b.where('age', '>=', 18).orderBy('age', 'desc'))
          .modifyGraph('children.pets', (b) => listed(b).where('species', 'dog').orderBy('name'))
          .modifyGraph('movies', (b) => b.orderBy('name')),
    )
    const people = await same(
      db.Person.query()
        .where('lastName', 'Hill')
        .orderBy('id')
        .withGraphFetched({ pets: (p) => p.select('id', 'name').orderBy('name') }),
      (k) =>
        Person.query(k)
          .where('lastName', 'Hill')
          .orderBy('id')
          .withGraphFetched('pets')
          .modifyGraph('pets', (b) => listed(b).select('id', 'name').orderBy('name')),
    )
    expect(people[0]?.pets).toEqual([
      { id: 1, name: 'Fluffy' },
      { id: 2, name: 'Rex' },
    ])
  })

  it('limits each parent’s related rows, as objection’s $relatedQuery does for one parent', async () => {
    const ours = await db.Person.query()
      .whereIn('id', [1, 2, 5, 7])
      .orderBy('id')
      .withGraphFetched({ pets: (p) => p.orderBy('name').limit(1), movies: (m) => m.orderBy('name', 'desc').limit(1) })
    // objection's modifyGraph would limit the rows of all parents together; per parent it is $relatedQuery.
    const people = await Person.query(app.knex).whereIn('id', [1, 2, 5, 7]).orderBy('id')
    const expected = []
    for (const person of people) {
      const pets = await listed(person.$relatedQuery('pets', app.knex)).orderBy('name').limit(1)
      const movies = await person.$relatedQuery('movies', app.knex).orderBy('name', 'desc').limit(1)
      expected.push({ ...person.toJSON(), pets: normalize(pets), movies: normalize(movies) })
    }
    expect(normalize(ours)).toEqual(expected)
    expect(ours.map((p) => p.pets.length)).toEqual([1, 1, 1, 1])
  })

  it('loads relations on pages, first rows and relation filters', async () => {
    await sameGraph(db.Person.query().orderBy('id').page(1, 3).withGraphFetched({ pets: true, parent: true }), (k) =>
      Person.query(k).orderBy('id').page(1, 3).withGraphFetched({ pets: true, parent: true }).modifyGraph('pets', listed),
    )
    await sameGraph(db.Person.query().where('age', '<', 18).orderBy('age').first().withGraphFetched({ parent: { pets: true } }), (k) =>
      Person.query(k).where('age', '<', 18).orderBy('age').first().withGraphFetched({ parent: { pets: true } }).modifyGraph('parent.pets', listed),
    )
    await same(
      db.Person.query()
        .whereExists('pets', (q) => q.where('species', 'cat'))
        .orderBy('id')
        .withGraphFetched({ pets: (q) => q.where('species', 'cat').orderBy('id') }),
      (k) =>
        Person.query(k)
          .whereExists(Person.relatedQuery('pets').whereIn('species', LISTED_SPECIES).where('species', 'cat'))
          .orderBy('id')
          .withGraphFetched('pets')
          .modifyGraph('pets', (b) => listed(b).where('species', 'cat').orderBy('id')),
    )
  })

  it('applies the pets policy in relations for people and anonymous callers, not for admins', async () => {
    const alma = await sameGraph(app.client().Person.query().findById(11).withGraphFetched({ pets: true, parent: { pets: true } }), (k) =>
      Person.query(k).findById(11).withGraphFetched({ pets: true, parent: { pets: true } }).modifyGraph('pets', listed).modifyGraph('parent.pets', listed),
    )
    expect(alma?.pets).toEqual([]) // her tarantula is not listed
    const admin = app.client({ personId: 1, role: 'admin' })
    const asAdmin = await sameGraph(admin.Person.query().findById(11).withGraphFetched({ pets: true }), (k) => Person.query(k).findById(11).withGraphFetched({ pets: true }))
    expect(asAdmin?.pets.map((p) => p.species)).toEqual(['tarantula'])
  })
})
