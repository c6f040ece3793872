/**
 * The quick start's schema (column names as the models spell them), created if absent.
 * Processes starting together take turns (a transaction-level advisory lock): one creates
 * the tables, the others find them.
 */
import type { Knex } from 'knex'

export async function migrate(knex: Knex): Promise<void> {
  await knex.transaction(async (trx) => {
    await trx.raw('select pg_advisory_xact_lock(hashtext(?))', ['quickstart schema'])
    if (await trx.schema.hasTable('users')) return
    await trx.schema.createTable('users', (t) => {
      t.increments('id')
      t.integer('orgId').notNullable()
      t.text('name').notNullable()
      t.text('email').notNullable()
      t.timestamp('createdAt', { useTz: true }).notNullable().defaultTo(knex.fn.now())
    })
    await trx.schema.createTable('posts', (t) => {
      t.increments('id')
      t.integer('authorId').notNullable().references('users.id')
      t.text('title').notNullable()
      t.text('body').notNullable()
      t.text('draftNotes')
      t.timestamp('createdAt', { useTz: true }).notNullable().defaultTo(knex.fn.now())
    })
  })
}
