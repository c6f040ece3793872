/** The quick start's schema (column names as the models spell them), created if absent. */
import type { Knex } from 'knex'

export async function migrate(knex: Knex): Promise<void> {
  if (await knex.schema.hasTable('users')) return
  await knex.schema.createTable('users', (t) => {
    t.increments('id')
    t.integer('orgId').notNullable()
    t.text('name').notNullable()
    t.text('email').notNullable()
    t.timestamp('createdAt', { useTz: true }).notNullable().defaultTo(knex.fn.now())
  })
  await knex.schema.createTable('posts', (t) => {
    t.increments('id')
    t.integer('authorId').notNullable().references('users.id')
    t.text('title').notNullable()
    t.text('body').notNullable()
    t.text('draftNotes')
    t.timestamp('createdAt', { useTz: true }).notNullable().defaultTo(knex.fn.now())
  })
}
