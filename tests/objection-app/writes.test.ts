/**
 * Writes in objection's example app through async-orm's client, each compared with the
 * same write run by objection on the same data (in a transaction rolled back first): the
 * same answer, and the same tables afterwards, hooks included (`createdAt` from
 * `$beforeInsert`, `updatedAt` from `$beforeUpdate`). On PostgreSQL and PGlite.
 *
 * The client answers an insert with the row as stored, so objection's side asks for it
 * with `returning('*')`. Grants and policies are the app's (api.ts); where one narrows a
 * write, objection's side states it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Client } from '../../client/index.js'
import { LISTED_SPECIES, type AppApi } from '../../examples/objection-app/api.js'
import { Animal, Movie, Person } from '../../examples/objection-app/models.js'
import { DATABASE_KINDS } from '../support/databases.js'
import { expectSameWrite, openObjectionApp, type ObjectionApp } from './support.js'

const byId = <T extends { id: number }>(rows: T[]) => [...rows].sort((a, b) => a.id - b.id)

describe.each(DATABASE_KINDS)('objection app: writes on %s', (kind) => {
  let app: ObjectionApp
  let admin: Client<AppApi>

  beforeAll(async () => {
    app = await openObjectionApp(kind)
    admin = app.client({ personId: 1, role: 'admin' })
  })
  afterAll(() => app?.close())

  it('inserts a person and answers the row as stored, createdAt set by $beforeInsert', async () => {
    const person = { firstName: 'Jennifer', lastName: 'Lawrence', age: 33, address: { street: 'Main St 2', city: 'Louisville', zipCode: '40202' } }
    const inserted = await expectSameWrite(
      app,
      () => admin.Person.query().insert(person),
      (trx) => Person.query(trx).insert(person).returning('*'),
    )
    expect(inserted.createdAt).toBeInstanceOf(Date)
    expect(inserted.updatedAt).toBeNull()
  })

  it('inserts several rows and answers them in order', async () => {
    const movies = await expectSameWrite(
      app,
      () => admin.Movie.query().insert([{ name: 'Open Water' }, { name: 'Salt Roads' }]),
      (trx) => Movie.query(trx).insert([{ name: 'Open Water' }, { name: 'Salt Roads' }]).returning('*'),
    )
    expect(movies.map((m) => m.name)).toEqual(['Open Water', 'Salt Roads'])
  })

  it('inserts a pet as the caller’s own (the grant’s set), as objection inserts it with ownerId', async () => {
    const sara = app.client({ personId: 9 })
    const pet = await expectSameWrite(
      app,
      () => sara.Animal.query().insert({ name: 'Tiger', species: 'cat', ownerId: 2 }),
      (trx) => Animal.query(trx).insert({ name: 'Tiger', species: 'cat', ownerId: 9 }).returning('*'),
    )
    expect(pet.ownerId).toBe(9)
  })

  it('inserts a graph as objection’s example API does (allowGraph [pets, children.[pets, movies], movies, parent])', async () => {
    // One new row per table and level, so ids do not depend on the order each side inserts siblings in.
    const graph = {
      firstName: 'Sylvia',
      lastName: 'Marsh',
      age: 62,
      pets: [{ name: 'Rufus', species: 'dog' }],
      movies: [{ name: 'Tidewater' }],
      children: [{ firstName: 'Ben', lastName: 'Marsh', age: 30, pets: [{ name: 'Goldie', species: 'fish' }], movies: [{ name: 'Low Tide' }] }],
    }
    const sylvia = await expectSameWrite(
      app,
      () => admin.Person.query().insertGraph(graph),
      (trx) => Person.query(trx).allowGraph('[pets, children.[pets, movies], movies, parent]').insertGraph(graph).returning('*'),
    )
    expect(sylvia.createdAt).toBeInstanceOf(Date)
  })

  it('inserts many-to-many and belongs-to graphs', async () => {
    const movie = { name: 'Cast Adrift', actors: [{ firstName: 'Tom', lastName: 'Banks', age: 66 }] }
    await expectSameWrite(
      app,
      () => admin.Movie.query().insertGraph(movie),
      (trx) => Movie.query(trx).insertGraph(movie).returning('*'),
    )
    const child = { firstName: 'Mia', lastName: 'Grant', age: 9, parent: { firstName: 'Hugh', lastName: 'Grant', age: 40 } }
    const mia = await expectSameWrite(
      app,
      () => admin.Person.query().insertGraph(child),
      (trx) => Person.query(trx).insertGraph(child).returning('*'),
    )
    expect(mia.parentId).toBe((mia.parent as { id: number }).id)
  })

  it('patches the matching rows and answers the count, updatedAt set by $beforeUpdate', async () => {
    expect(
      await expectSameWrite(
        app,
        () => admin.Person.query().where('lastName', 'Lind').patch({ age: 40 }),
        (trx) => Person.query(trx).where('lastName', 'Lind').patch({ age: 40 }),
      ),
    ).toBe(3)
    await expectSameWrite(
      app,
      () => admin.Person.query().findById(3).patch({ address: { street: 'Bryggen 5', city: 'Bergen' } }),
      (trx) => Person.query(trx).findById(3).patch({ address: { street: 'Bryggen 5', city: 'Bergen' } }),
    )
  })

  it('patches only the caller’s own row, as the update policy says', async () => {
    const sara = app.client({ personId: 9 })
    expect(
      await expectSameWrite(
        app,
        () => sara.Person.query().whereIn('id', [9, 10]).patch({ lastName: 'Lind-Holm' }),
        (trx) => Person.query(trx).whereIn('id', [9, 10]).where('id', 9).patch({ lastName: 'Lind-Holm' }),
      ),
    ).toBe(1)
  })

  it('answers the changed rows with returning()', async () => {
    await expectSameWrite(
      app,
      () => admin.Person.query().whereIn('id', [4, 5]).patch({ age: 18 }).returning().then(byId),
      (trx) => Person.query(trx).whereIn('id', [4, 5]).patch({ age: 18 }).returning('*').then(byId),
    )
  })

  it('answers one row for findById(…).patch(…).returning(…), as objection does', async () => {
    const row = await expectSameWrite(
      app,
      () => admin.Person.query().findById(3).patch({ age: 44 }).returning('id', 'age'),
      (trx) => Person.query(trx).findById(3).patch({ age: 44 }).returning(['id', 'age']),
    )
    // fullName is Person's virtual attribute, computed from the columns returned (none here).
    expect(row).toEqual({ id: 3, age: 44, fullName: '' })
  })

  it('patches and updates by id and answers the changed row, or undefined', async () => {
    const thomas = await expectSameWrite(
      app,
      () => admin.Person.query().patchAndFetchById(2, { age: 46 }),
      (trx) => Person.query(trx).patchAndFetchById(2, { age: 46 }),
    )
    expect(thomas?.updatedAt?.getTime()).toBeGreaterThan(new Date('2024-03-01T12:00:00Z').getTime())
    const clara = { firstName: 'Clara', lastName: 'Hill-Berg', age: 42, address: null }
    await expectSameWrite(
      app,
      () => admin.Person.query().updateAndFetchById(3, clara),
      (trx) => Person.query(trx).updateAndFetchById(3, clara),
    )
    expect(
      await expectSameWrite(
        app,
        () => admin.Person.query().patchAndFetchById(999, { age: 1 }),
        (trx) => Person.query(trx).patchAndFetchById(999, { age: 1 }),
      ),
    ).toBeUndefined()
  })

  it('updates every updatable column of the matching rows', async () => {
    const values = { firstName: 'Nora', lastName: 'Berg', age: 31, address: { city: 'Lund' } }
    expect(
      await expectSameWrite(
        app,
        () => admin.Person.query().findById(7).update(values),
        (trx) => Person.query(trx).findById(7).update(values),
      ),
    ).toBe(1)
  })

  it('deletes under the delete policy: people their own listed pets', async () => {
    const thomas = app.client({ personId: 2 })
    expect(
      await expectSameWrite(
        app,
        () => thomas.Animal.query().where('species', 'cat').delete(),
        (trx) => Animal.query(trx).where('species', 'cat').where('ownerId', 2).whereIn('species', LISTED_SPECIES).delete(),
      ),
    ).toBe(1)
  })

  it('deletes by id and by filter, with the schema’s cascades', async () => {
    expect(
      await expectSameWrite(
        app,
        () => admin.Person.query().deleteById(10),
        (trx) => Person.query(trx).deleteById(10),
      ),
    ).toBe(1)
    expect(
      await expectSameWrite(
        app,
        () => admin.Person.query().where('lastName', 'Stone').delete(),
        (trx) => Person.query(trx).where('lastName', 'Stone').delete(),
      ),
    ).toBe(2)
  })

  it('upserts with merge: the conflicting row is updated and answered', async () => {
    const merged = await expectSameWrite(
      app,
      () => admin.Movie.query().insert({ name: 'Northern Line' }).onConflict('name').merge(),
      (trx) => Movie.query(trx).insert({ name: 'Northern Line' }).onConflict('name').merge().returning('*'),
    )
    expect(merged.id).toBe(3)
  })

  it('upserts with ignore: conflicting rows are left out of the answer', async () => {
    // objection pairs returned rows with its input models by position, which an ignored
    // row breaks; the rows PostgreSQL returns are the answer to compare with.
    const inserted = await expectSameWrite(
      app,
      () => admin.Movie.query().insert([{ name: 'Paper Boats' }, { name: 'Dry Land' }]).onConflict('name').ignore(),
      (trx) => Movie.query(trx).insert([{ name: 'Paper Boats' }, { name: 'Dry Land' }]).onConflict('name').ignore().returning('*').toKnexQuery(),
    )
    expect(inserted.map((m) => m.name)).toEqual(['Dry Land'])
  })

  it('writes in one transaction, a later row referring to an earlier one, as objection does in Person.transaction', async () => {
    const person = { firstName: 'Iris', lastName: 'Vale', age: 27 }
    const [iris, pet] = await expectSameWrite(
      app,
      () => admin.transaction((t) => [t.Person.query().insert(person), t.Animal.query().insert({ name: 'Pepper', species: 'dog', ownerId: t.ref(0, 'id') })] as const),
      async (trx) => {
        const inserted = await Person.query(trx).insert(person).returning('*')
        return [inserted, await Animal.query(trx).insert({ name: 'Pepper', species: 'dog', ownerId: inserted.id }).returning('*')]
      },
    )
    expect(pet.ownerId).toBe(iris.id)
  })
})
