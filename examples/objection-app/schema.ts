/**
 * The app's tables (objection's example schema, in snake_case) and a small deterministic
 * dataset: three families over three generations, a few people on their own, pets of
 * several species (two the public listing leaves out, one stray) and movies with their
 * actors. The same rows on every database, so tests can compare answers exactly.
 *
 * Names here are the database's own (snake_case). They are left as they are by
 * `knexSnakeCaseMappers()`, so both work on the app's knex and on a plain one.
 */
import type { Knex } from 'knex'

export async function migrate(knex: Knex): Promise<void> {
  if (await knex.schema.hasTable('persons')) return
  await knex.schema
    .createTable('persons', (table) => {
      table.increments('id').primary()
      table.integer('parent_id').references('id').inTable('persons').onDelete('SET NULL').index()
      table.string('first_name').notNullable()
      table.string('last_name')
      table.integer('age')
      table.jsonb('address')
      // Set by Person's $beforeInsert / $beforeUpdate, not by the database.
      table.timestamp('created_at', { useTz: true }).notNullable()
      table.timestamp('updated_at', { useTz: true })
    })
    .createTable('movies', (table) => {
      table.increments('id').primary()
      table.string('name').notNullable().unique()
    })
    .createTable('animals', (table) => {
      table.increments('id').primary()
      table.integer('owner_id').references('id').inTable('persons').onDelete('SET NULL').index()
      table.string('name').notNullable()
      table.string('species')
    })
    .createTable('persons_movies', (table) => {
      table.integer('person_id').notNullable().references('id').inTable('persons').onDelete('CASCADE')
      table.integer('movie_id').notNullable().references('id').inTable('movies').onDelete('CASCADE').index()
      table.primary(['person_id', 'movie_id'])
    })
}

const OSLO = { street: 'Kirkeveien 12', city: 'Oslo', zipCode: '0368' }

const at = (iso: string) => new Date(`${iso}Z`)

/** People, parents before their children. `address` is jsonb. */
export const PERSONS = [
  { id: 1, parent_id: null, first_name: 'Margaret', last_name: 'Hill', age: 71, address: { street: 'Storgata 1', city: 'Oslo', zipCode: '0155' }, created_at: at('2024-01-02T09:00:00'), updated_at: null },
  { id: 2, parent_id: 1, first_name: 'Thomas', last_name: 'Hill', age: 45, address: OSLO, created_at: at('2024-01-03T10:30:00'), updated_at: at('2024-03-01T12:00:00') },
  { id: 3, parent_id: 1, first_name: 'Clara', last_name: 'Hill', age: 41, address: { city: 'Bergen' }, created_at: at('2024-01-03T11:00:00'), updated_at: null },
  { id: 4, parent_id: 2, first_name: 'Emil', last_name: 'Hill', age: 17, address: OSLO, created_at: at('2024-01-05T08:15:00'), updated_at: null },
  { id: 5, parent_id: 2, first_name: 'Ida', last_name: 'Hill', age: 12, address: OSLO, created_at: at('2024-01-05T08:20:00'), updated_at: at('2024-02-20T17:45:00') },
  { id: 6, parent_id: null, first_name: 'Jonas', last_name: 'Berg', age: 58, address: { street: 'Ringvägen 4', city: 'Stockholm', zipCode: '11726' }, created_at: at('2024-02-01T14:00:00'), updated_at: at('2024-02-10T09:00:00') },
  { id: 7, parent_id: 6, first_name: 'Nora', last_name: 'Berg', age: 30, address: { city: 'Uppsala' }, created_at: at('2024-02-01T14:05:00'), updated_at: null },
  { id: 8, parent_id: 7, first_name: 'Leo', last_name: 'Berg', age: 4, address: null, created_at: at('2024-02-02T07:30:00'), updated_at: null },
  { id: 9, parent_id: null, first_name: 'Sara', last_name: 'Lind', age: 36, address: null, created_at: at('2024-02-14T19:00:00'), updated_at: null },
  { id: 10, parent_id: null, first_name: 'Oskar', last_name: 'Lind', age: null, address: null, created_at: at('2024-02-15T10:00:00'), updated_at: null },
  { id: 11, parent_id: 9, first_name: 'Alma', last_name: 'Lind', age: 8, address: null, created_at: at('2024-02-16T12:00:00'), updated_at: null },
  { id: 12, parent_id: null, first_name: 'Jennifer', last_name: 'Aniston', age: 53, address: { street: 'Sunset Blvd 1', city: 'Los Angeles', zipCode: '90028' }, created_at: at('2024-03-01T16:00:00'), updated_at: null },
  { id: 13, parent_id: null, first_name: 'Arnold', last_name: 'Stone', age: 76, address: { city: 'Los Angeles' }, created_at: at('2024-03-02T16:30:00'), updated_at: null },
  { id: 14, parent_id: 13, first_name: 'Patrick', last_name: 'Stone', age: 30, address: { city: 'Santa Monica' }, created_at: at('2024-03-02T16:45:00'), updated_at: null },
  { id: 15, parent_id: null, first_name: 'Ada', last_name: null, age: 28, address: null, created_at: at('2024-03-10T11:11:00'), updated_at: null },
]

export const ANIMALS = [
  { id: 1, owner_id: 1, name: 'Fluffy', species: 'cat' },
  { id: 2, owner_id: 1, name: 'Rex', species: 'dog' },
  { id: 3, owner_id: 2, name: 'Doggo', species: 'dog' },
  { id: 4, owner_id: 2, name: 'Cato', species: 'cat' },
  { id: 5, owner_id: 4, name: 'Nemo', species: 'fish' },
  { id: 6, owner_id: 5, name: 'Pip', species: 'bird' },
  { id: 7, owner_id: 5, name: 'Hopper', species: 'rabbit' },
  { id: 8, owner_id: 6, name: 'Bella', species: 'dog' },
  { id: 9, owner_id: 7, name: 'Slinky', species: 'snake' },
  { id: 10, owner_id: 7, name: 'Milo', species: 'cat' },
  { id: 11, owner_id: 9, name: 'Luna', species: 'dog' },
  { id: 12, owner_id: 11, name: 'Charlotte', species: 'tarantula' },
  { id: 13, owner_id: null, name: 'Stray', species: 'cat' },
  { id: 14, owner_id: 12, name: 'Max', species: 'dog' },
  { id: 15, owner_id: 13, name: 'Kiwi', species: 'bird' },
  { id: 16, owner_id: 2, name: 'Biscuit', species: 'dog' },
]

export const MOVIES = [
  { id: 1, name: 'The Long Winter' },
  { id: 2, name: 'Harbour Lights' },
  { id: 3, name: 'Northern Line' },
  { id: 4, name: 'A Quiet Garden' },
  { id: 5, name: 'Paper Boats' },
]

export const PERSONS_MOVIES = [
  { person_id: 2, movie_id: 1 },
  { person_id: 3, movie_id: 1 },
  { person_id: 6, movie_id: 1 },
  { person_id: 2, movie_id: 2 },
  { person_id: 7, movie_id: 2 },
  { person_id: 12, movie_id: 2 },
  { person_id: 1, movie_id: 3 },
  { person_id: 12, movie_id: 3 },
  { person_id: 13, movie_id: 3 },
  { person_id: 14, movie_id: 3 },
  { person_id: 9, movie_id: 4 },
  { person_id: 10, movie_id: 4 },
]

/** Inserts the dataset into empty tables (the hooks are the models'; this writes rows as stored). */
export async function seed(knex: Knex): Promise<void> {
  const [{ count }] = (await knex('persons').count({ count: '*' })) as [{ count: string | number }]
  if (Number(count) > 0) return
  await knex.transaction(async (trx) => {
    await trx('persons').insert(PERSONS.map((person) => ({ ...person, address: person.address && JSON.stringify(person.address) })))
    await trx('movies').insert(MOVIES)
    await trx('animals').insert(ANIMALS)
    await trx('persons_movies').insert(PERSONS_MOVIES)
    for (const table of ['persons', 'movies', 'animals']) {
      await trx.raw(`select setval(pg_get_serial_sequence(?, 'id'), (select max(id) from ??))`, [table, table])
    }
  })
}
