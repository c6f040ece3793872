/**
 * The README's client code for the objection example app (examples/objection-app/queries.ts),
 * each call compared with what objection answers for it, on PostgreSQL and PGlite.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LISTED_SPECIES } from '../../examples/objection-app/api.js'
import { Animal, Movie, Person } from '../../examples/objection-app/models.js'
import { adopt, birthday, dogOwners, family, giveAway, petsWithOwners, starIn } from '../../examples/objection-app/queries.js'
import { DATABASE_KINDS } from '../support/databases.js'
import { expectSame, expectSameValidationError, expectSameWrite, openObjectionApp, type ObjectionApp } from './support.js'

describe.each(DATABASE_KINDS)('objection app: the README’s queries on %s', (kind) => {
  let app: ObjectionApp

  beforeAll(async () => {
    app = await openObjectionApp(kind)
  })
  afterAll(() => app?.close())

  it('family() loads a person’s relations', async () => {
    const thomas = await expectSame(
      app,
      family(app.client(), 2),
      (k) =>
        Person.query(k)
          .findById(2)
          .withGraphFetched({ parent: true, children: { pets: true }, movies: true })
          .modifyGraph('children.pets', (b) => b.whereIn('species', LISTED_SPECIES)),
      { anyOrder: true },
    )
    expect(thomas?.children).toHaveLength(2)
  })

  it('dogOwners() filters through a relation and shapes it per person', async () => {
    const owners = await expectSame(app, dogOwners(app.client()), (k) =>
      Person.query(k)
        .whereExists(Person.relatedQuery('pets').whereIn('species', LISTED_SPECIES).where('species', 'dog'))
        .orderBy('lastName')
        .orderBy('firstName')
        .withGraphFetched('pets')
        .modifyGraph('pets', (b) => b.whereIn('species', LISTED_SPECIES).where('species', 'dog').orderBy('name')),
    )
    expect(owners.map((o) => o.firstName)).toEqual(['Jennifer', 'Jonas', 'Margaret', 'Thomas', 'Sara'])
  })

  it('adopt() inserts a pet owned by the caller', async () => {
    const pet = await expectSameWrite(
      app,
      () => adopt(app.client({ personId: 15 }), 'Olive', 'cat'),
      (trx) => Animal.query(trx).insert({ name: 'Olive', species: 'cat', ownerId: 15 }).returning('*'),
    )
    expect(pet.ownerId).toBe(15)
  })

  it('birthday() patches the caller’s age, or is refused by the jsonSchema', async () => {
    const ada = app.client({ personId: 15 })
    const patched = await expectSameWrite(
      app,
      () => birthday(ada, 15, 29),
      (trx) => Person.query(trx).patchAndFetchById(15, { age: 29 }),
    )
    expect(patched?.updatedAt).toBeInstanceOf(Date)
    await expectSameValidationError(
      app,
      () => birthday(ada, 15, 290),
      (trx) => Person.query(trx).patchAndFetchById(15, { age: 290 }),
    )
  })

  it('petsWithOwners() joins each pet’s owner', async () => {
    const pets = await expectSame(app, petsWithOwners(app.client()), (k) =>
      Animal.query(k)
        .whereIn('animals.species', LISTED_SPECIES)
        .joinRelated('owner')
        .where('owner.age', '>=', 18)
        .select('animals.id', 'animals.name', 'animals.species', 'owner.firstName as ownerName')
        .orderBy('owner.age', 'desc')
        .orderBy('animals.id'),
    )
    expect(pets.length).toBeGreaterThan(5)
  })

  it('starIn() and giveAway() link rows through relations', async () => {
    const sara = app.client({ personId: 9 })
    const movies = (await Movie.query(app.knex).orderBy('id').limit(2)).map((m) => m.id)
    await expectSameWrite(
      app,
      () => starIn(sara, 9, movies),
      (trx) => Person.relatedQuery('movies', trx).for(9).relate(movies).then(() => movies.length),
    )
    await expectSameWrite(
      app,
      () => giveAway(sara, 11, 10),
      (trx) => Animal.relatedQuery('owner', trx).for(11).relate(10),
    )
  })
})
