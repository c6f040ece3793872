/**
 * The rules objection's models carry, honoured through async-orm's client: a write that
 * objection refuses (its jsonSchema, checked on insert, insertGraph, patch and update) is
 * refused as BAD_REQUEST and changes nothing; the timestamp hooks set what they set on
 * every write path. On PostgreSQL and PGlite.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Client } from '../../client/index.js'
import type { AppApi } from '../../examples/objection-app/api.js'
import { Animal, Movie, Person } from '../../examples/objection-app/models.js'
import { DATABASE_KINDS } from '../support/databases.js'
import { expectSameValidationError, expectSameWrite, openObjectionApp, type ObjectionApp } from './support.js'

describe.each(DATABASE_KINDS)('objection app: model rules on %s', (kind) => {
  let app: ObjectionApp
  let admin: Client<AppApi>

  beforeAll(async () => {
    app = await openObjectionApp(kind)
    admin = app.client({ personId: 1, role: 'admin' })
  })
  afterAll(() => app?.close())

  const refused = (ours: () => PromiseLike<unknown>, theirs: Parameters<typeof expectSameValidationError>[2]) => expectSameValidationError(app, ours, theirs)

  it('refuses an insert without the required firstName', async () => {
    await refused(
      () => admin.Person.query().insert({ lastName: 'Nameless', age: 30 }),
      (trx) => Person.query(trx).insert({ lastName: 'Nameless', age: 30 }),
    )
  })

  it('refuses strings outside minLength / maxLength', async () => {
    await refused(
      () => admin.Person.query().insert({ firstName: '' }),
      (trx) => Person.query(trx).insert({ firstName: '' }),
    )
    const long = 'x'.repeat(256)
    await refused(
      () => admin.Person.query().insert({ firstName: 'Long', lastName: long }),
      (trx) => Person.query(trx).insert({ firstName: 'Long', lastName: long }),
    )
    await refused(
      () => admin.Animal.query().insert({ name: '', species: 'dog', ownerId: 1 }),
      (trx) => Animal.query(trx).insert({ name: '', species: 'dog', ownerId: 1 }),
    )
    await refused(
      () => admin.Movie.query().insert({ name: '' }),
      (trx) => Movie.query(trx).insert({ name: '' }),
    )
  })

  it('refuses an age that is not an integer from 0 to 200', async () => {
    for (const age of [-1, 201, 3.5]) {
      await refused(
        () => admin.Person.query().insert({ firstName: 'Aged', age }),
        (trx) => Person.query(trx).insert({ firstName: 'Aged', age }),
      )
    }
  })

  it('refuses an address that is not an object of strings', async () => {
    await refused(
      () => admin.Person.query().insert({ firstName: 'Addressed', address: 'Storgata 1, Oslo' as never }),
      (trx) => Person.query(trx).insert({ firstName: 'Addressed', address: 'Storgata 1, Oslo' as never }),
    )
    await refused(
      () => admin.Person.query().insert({ firstName: 'Addressed', address: { city: 'Oslo', zipCode: 155 as never } }),
      (trx) => Person.query(trx).insert({ firstName: 'Addressed', address: { city: 'Oslo', zipCode: 155 as never } }),
    )
  })

  it('checks only the given properties on patch, all of them on update', async () => {
    await refused(
      () => admin.Person.query().findById(2).patch({ age: 500 }),
      (trx) => Person.query(trx).findById(2).patch({ age: 500 }),
    )
    await refused(
      () => admin.Person.query().where('lastName', 'Berg').patch({ firstName: '' }),
      (trx) => Person.query(trx).where('lastName', 'Berg').patch({ firstName: '' }),
    )
    await refused(
      () => admin.Person.query().findById(3).update({ firstName: 'Clara', lastName: '', age: 41, address: null }),
      (trx) => Person.query(trx).findById(3).update({ firstName: 'Clara', lastName: '', age: 41, address: null }),
    )
    // Patch leaves `required` aside: a patch without firstName is valid.
    expect(
      await expectSameWrite(
        app,
        () => admin.Person.query().findById(2).patch({ age: 47 }),
        (trx) => Person.query(trx).findById(2).patch({ age: 47 }),
      ),
    ).toBe(1)
  })

  it('refuses a whole graph when one nested row is invalid, and inserts none of it', async () => {
    const graph = { firstName: 'Parent', pets: [{ name: 'Ok', species: 'dog' }], children: [{ firstName: 'Child', age: 300 }] }
    await refused(
      () => admin.Person.query().insertGraph(graph),
      (trx) => Person.query(trx).insertGraph(graph),
    )
    const movie = { name: 'Valid', actors: [{ firstName: '' }] }
    await refused(
      () => admin.Movie.query().insertGraph(movie),
      (trx) => Movie.query(trx).insertGraph(movie),
    )
  })

  it('sets createdAt with $beforeInsert on every row a graph inserts', async () => {
    const since = new Date()
    const graph = { firstName: 'Root', children: [{ firstName: 'Kid', children: [{ firstName: 'Grandkid' }] }] }
    const root = await expectSameWrite(
      app,
      () => admin.Person.query().insertGraph(graph),
      (trx) => Person.query(trx).insertGraph(graph).returning('*'),
    )
    // A graph insert's answer types its relations loosely; this one is three people deep.
    type Inserted = { createdAt: Date; children: Inserted[] }
    const kid = (root as unknown as Inserted).children[0]!
    for (const person of [root, kid, kid.children[0]!]) expect(person.createdAt.getTime()).toBeGreaterThanOrEqual(since.getTime())
  })

  it('sets updatedAt with $beforeUpdate on patch, update and their …AndFetchById forms', async () => {
    const since = new Date()
    const patched = await expectSameWrite(
      app,
      () => admin.Person.query().patchAndFetchById(8, { age: 5 }),
      (trx) => Person.query(trx).patchAndFetchById(8, { age: 5 }),
    )
    expect(patched?.updatedAt?.getTime()).toBeGreaterThanOrEqual(since.getTime())
    const values = { firstName: 'Leo', lastName: 'Berg', age: 5, address: { city: 'Uppsala' } }
    const updated = await expectSameWrite(
      app,
      () => admin.Person.query().updateAndFetchById(8, values),
      (trx) => Person.query(trx).updateAndFetchById(8, values),
    )
    expect(updated?.updatedAt?.getTime()).toBeGreaterThanOrEqual(since.getTime())
    expect(updated?.createdAt).toEqual(new Date('2024-02-02T07:30:00Z'))
  })
})
