/**
 * Writes through `relatedQuery(relation).for(ids)` in objection's example app: `insert`
 * into a relation, `relate`, `unrelate`, and `patch` / `delete` of related rows, for
 * has-many, belongs-to-one and many-to-many relations, each compared with objection
 * running the same write (answer and tables afterwards), on PostgreSQL and PGlite. Then
 * what the grants refuse: each refusal with its code, before any SQL where the grant
 * alone decides, and with nothing changed where rows decide.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Client } from '../../client/index.js'
import type { AppApi } from '../../examples/objection-app/api.js'
import { Animal, Movie, Person } from '../../examples/objection-app/models.js'
import { DATABASE_KINDS } from '../support/databases.js'
import { expectSameWrite, openObjectionApp, snapshot, type ObjectionApp } from './support.js'

describe.each(DATABASE_KINDS)('objection app: writes through relatedQuery on %s', (kind) => {
  let app: ObjectionApp
  let admin: Client<AppApi>
  /** Sara (person 9) owns Luna (pet 11), a dog. */
  let sara: Client<AppApi>

  beforeAll(async () => {
    app = await openObjectionApp(kind)
    admin = app.client({ personId: 1, role: 'admin' })
    sara = app.client({ personId: 9 })
  })
  afterAll(() => app?.close())

  /** The statements `work` sends to the database that touch the app's tables. */
  async function sqlOf(work: () => Promise<unknown>): Promise<string[]> {
    const sql: string[] = []
    const spy = (query: { sql: string }) => sql.push(query.sql)
    app.knex.on('query', spy)
    try {
      await work()
    } finally {
      app.knex.off('query', spy)
    }
    // Leaves out the snapshots `expectRefused` takes of every table.
    return sql.filter((s) => /persons|animals|movies/.test(s) && !/^select \* from "\w+" order by/.test(s))
  }

  /** Expects `write` to reject with `code` and to leave every table as it was. */
  async function expectRefused(write: () => PromiseLike<unknown>, code: string, message?: string | RegExp): Promise<void> {
    const before = await snapshot(app.knex)
    const error = await Promise.resolve(write()).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error, 'the write is refused').toMatchObject({ code })
    if (message !== undefined) expect((error as Error).message).toMatch(message)
    expect(await snapshot(app.knex), 'the tables').toEqual(before)
  }

  describe('insert into a relation', () => {
    it('has-many: the row gets the owner’s key', async () => {
      const kit = await expectSameWrite(
        app,
        () => sara.Person.relatedQuery('pets').for(9).insert({ name: 'Kit', species: 'cat' }),
        (trx) => Person.relatedQuery('pets', trx).for(9).insert({ name: 'Kit', species: 'cat' }).returning('*'),
      )
      expect(kit).toMatchObject({ name: 'Kit', ownerId: 9 })
    })

    it('many-to-many: the row and its join-table row', async () => {
      const movie = await expectSameWrite(
        app,
        () => sara.Person.relatedQuery('movies').for(9).insert({ name: 'Fjord Light' }),
        (trx) => Person.relatedQuery('movies', trx).for(9).insert({ name: 'Fjord Light' }).returning('*'),
      )
      expect(await admin.Person.relatedQuery('movies').for(9).where('id', movie.id).count()).toBe(1)
    })

    it('belongs-to-one: the row, and the owner’s key pointing at it', async () => {
      const finder = { firstName: 'Finn', lastName: 'Holm', age: 35 }
      const person = await expectSameWrite(
        app,
        () => admin.Animal.relatedQuery('owner').for(13).insert(finder),
        (trx) => Animal.relatedQuery('owner', trx).for(13).insert(finder).returning('*'),
      )
      expect((await Animal.query(app.knex).findById(13))?.ownerId).toBe(person.id)
    })

    it('answers several rows, and the columns asked for', async () => {
      const rows = await admin.Person.relatedQuery('pets').for(15).insert([{ name: 'Ash', species: 'cat' }, { name: 'Birch', species: 'dog' }]).returning('name', 'ownerId')
      expect(rows).toEqual([{ name: 'Ash', ownerId: 15 }, { name: 'Birch', ownerId: 15 }])
    })
  })

  describe('relate and unrelate', () => {
    it('has-many: relate sets the related rows’ key, unrelate clears it', async () => {
      expect(
        await expectSameWrite(
          app,
          () => admin.Person.relatedQuery('pets').for(10).relate([13]),
          (trx) => Person.relatedQuery('pets', trx).for(10).relate([13]),
        ),
      ).toBe(1)
      expect(
        await expectSameWrite(
          app,
          () => admin.Person.relatedQuery('pets').for(10).unrelate().where('name', 'Stray'),
          (trx) => Person.relatedQuery('pets', trx).for(10).unrelate().where('name', 'Stray'),
        ),
      ).toBe(1)
      expect((await Animal.query(app.knex).findById(13))?.ownerId).toBeNull()
    })

    it('belongs-to-one: relate and unrelate set the owner’s own key', async () => {
      const pet = await sara.Person.relatedQuery('pets').for(9).insert({ name: 'Tarn', species: 'dog' })
      expect(
        await expectSameWrite(
          app,
          () => sara.Animal.relatedQuery('owner').for(pet.id).relate(10),
          (trx) => Animal.relatedQuery('owner', trx).for(pet.id).relate(10),
        ),
      ).toBe(1)
      expect(
        await expectSameWrite(
          app,
          () => admin.Animal.relatedQuery('owner').for(pet.id).unrelate(),
          (trx) => Animal.relatedQuery('owner', trx).for(pet.id).unrelate(),
        ),
      ).toBe(1)
      expect((await Animal.query(app.knex).findById(pet.id))?.ownerId).toBeNull()
    })

    it('many-to-many: relate inserts join rows, unrelate deletes them; the rows stay', async () => {
      const [first, second] = await Movie.query(app.knex).orderBy('id').limit(2)
      await expectSameWrite(
        app,
        () => sara.Person.relatedQuery('movies').for(9).relate([first!.id, second!.id]),
        (trx) => Person.relatedQuery('movies', trx).for(9).relate([first!.id, second!.id]).then(() => 2),
      )
      // A link that exists already is kept: relating again makes none.
      expect(await sara.Person.relatedQuery('movies').for(9).relate(first!.id)).toBe(0)
      expect(
        await expectSameWrite(
          app,
          () => sara.Person.relatedQuery('movies').for(9).unrelate().where('id', first!.id),
          (trx) => Person.relatedQuery('movies', trx).for(9).unrelate().where('id', first!.id),
        ),
      ).toBe(1)
      expect(await Movie.query(app.knex).findById(first!.id)).toBeDefined()
    })
  })

  describe('patch and delete of related rows', () => {
    it('patches only the owner’s related rows', async () => {
      expect(
        await expectSameWrite(
          app,
          () => admin.Person.relatedQuery('pets').for(2).patch({ species: 'cat' }).where('name', 'Doggo'),
          (trx) => Person.relatedQuery('pets', trx).for(2).patch({ species: 'cat' }).where('name', 'Doggo'),
        ),
      ).toBe(1)
    })

    it('deletes only the owner’s related rows, never the owner', async () => {
      const persons = (await Person.query(app.knex).resultSize()) as number
      expect(
        await expectSameWrite(
          app,
          () => admin.Person.relatedQuery('pets').for(1).delete().where('species', 'cat'),
          (trx) => Person.relatedQuery('pets', trx).for(1).delete().where('species', 'cat'),
        ),
      ).toBe(1)
      expect(await Person.query(app.knex).resultSize()).toBe(persons)
    })
  })

  describe('what the grants refuse', () => {
    it('refuses, before any SQL, links whose key the grant does not list or whose owner the caller may not update', async () => {
      const sql = await sqlOf(async () => {
        // children: the related persons' parentId is not in Person's update grant.
        await expectRefused(() => sara.Person.relatedQuery('children').for(9).relate(10), 'FORBIDDEN', /Person\.parentId/)
        // parent: the owner's own parentId, likewise.
        await expectRefused(() => sara.Person.relatedQuery('parent').for(9).relate(1), 'FORBIDDEN', /Person\.parentId/)
        await expectRefused(() => sara.Person.relatedQuery('parent').for(9).insert({ firstName: 'New' }), 'FORBIDDEN', /Person\.parentId/)
        // Movie.actors is Movie's relation: only admins update movies.
        await expectRefused(() => sara.Movie.relatedQuery('actors').for(1).relate(9), 'FORBIDDEN', 'updating Movie is not allowed')
        await expectRefused(() => sara.Movie.relatedQuery('actors').for(1).unrelate(), 'FORBIDDEN', 'updating Movie is not allowed')
        await expectRefused(() => sara.Movie.relatedQuery('actors').for(1).insert({ firstName: 'New' }), 'FORBIDDEN', 'updating Movie is not allowed')
        // Anonymous callers update nothing.
        await expectRefused(() => app.client().Person.relatedQuery('pets').for(9).relate(11), 'FORBIDDEN')
        // Relations the API does not expose.
        const loose = sara.Animal as unknown as { relatedQuery(name: string): { for(id: number): { relate(id: number): PromiseLike<unknown> } } }
        await expectRefused(() => loose.relatedQuery('movies').for(11).relate(1), 'BAD_REQUEST', /relation/)
      })
      expect(sql).toEqual([])
    })

    it('refuses malformed relation writes as BAD_REQUEST', async () => {
      await expectRefused(() => sara.Person.relatedQuery('pets').for([9, 10]).insert({ name: 'Two', species: 'cat' }), 'BAD_REQUEST', /exactly one owner/)
      await expectRefused(() => admin.Person.relatedQuery('pets').for([9, 10]).relate(13), 'BAD_REQUEST', /exactly one owner/)
      await expectRefused(() => admin.Animal.relatedQuery('owner').for(13).relate([9, 10]), 'BAD_REQUEST', /to-one/)
      await expectRefused(() => admin.Animal.relatedQuery('owner').for(13).insert([{ firstName: 'A' }, { firstName: 'B' }] as never), 'BAD_REQUEST', /one row/)
      await expectRefused(() => admin.Person.relatedQuery('pets').for(9).insert({ name: 'Own key', species: 'cat', ownerId: 9 }), 'BAD_REQUEST', /ownerId/)
      await expectRefused(() => admin.Person.relatedQuery('pets').for(9).where('id', 11).relate(11), 'BAD_REQUEST')
      await expectRefused(() => admin.Person.relatedQuery('pets').for(9).relate(11).returning(), 'BAD_REQUEST', /returning/)
    })

    it('inserts into another person’s relation only where the grant’s set allows it', async () => {
      // Sara's pets are hers (the insert grant's set): not Margaret's.
      await expectRefused(() => sara.Person.relatedQuery('pets').for(1).insert({ name: 'Gift', species: 'cat' }), 'FORBIDDEN', /ownerId is set by the server/)
    })

    it('treats rows outside the policy as rows that do not exist, and changes nothing', async () => {
      // Slinky (pet 9) is a snake: the public listing does not show it to Sara.
      await expectRefused(() => sara.Person.relatedQuery('pets').for(9).relate(9), 'NOT_FOUND')
      // Rex (pet 2) is listed but Margaret's: Sara may not update it.
      await expectRefused(() => sara.Person.relatedQuery('pets').for(9).relate(2), 'NOT_FOUND')
      // A person Sara may not update cannot get her movies, nor a pet of hers an owner she cannot see.
      const [movie] = await Movie.query(app.knex).orderBy('id').limit(1)
      await expectRefused(() => sara.Person.relatedQuery('movies').for(1).relate(movie!.id), 'NOT_FOUND')
      await expectRefused(() => sara.Person.relatedQuery('movies').for(1).insert({ name: 'Not hers' }), 'NOT_FOUND')
      await expectRefused(() => sara.Animal.relatedQuery('owner').for(11).relate(999), 'NOT_FOUND')
      await expectRefused(() => admin.Person.relatedQuery('pets').for(999).insert({ name: 'Orphan', species: 'cat' }), 'NOT_FOUND')
      // Unrelating and patching reach only what the caller may see and change.
      expect(await sara.Person.relatedQuery('pets').for(7).unrelate()).toBe(0)
      expect(await sara.Person.relatedQuery('pets').for(1).patch({ name: 'Mine now' })).toBe(0)
      expect(await sara.Person.relatedQuery('movies').for(12).unrelate()).toBe(0)
    })
  })
})
