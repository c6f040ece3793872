/**
 * Writes the executor writes as its own SQL (models objection adds nothing to) against the
 * same writes through objection: each case runs on a plain model and on its twin with
 * no-op hooks (which sends it through objection's query builder), and the answers and the
 * stored rows must be the same. Models that do add something — a validator of their own,
 * JSON attributes, class field defaults — go through objection whatever they look like.
 * On PostgreSQL and PGlite.
 */
import type { Knex } from 'knex'
import { Model, ValidationError, Validator } from 'objection'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { createClient } from '../../client/index.js'
import { createExecutor, expose, type Executor } from '../../executor/index.js'
import { DATABASE_KINDS, openDatabase, type TestDatabase } from '../support/databases.js'

class Doc extends Model {
  static override tableName = 'docs'
}
/** Doc with hooks that do nothing: objection's path for the very same table. */
class HookedDoc extends Doc {
  override $beforeInsert() {}
  override $beforeUpdate() {}
  static override beforeDelete() {}
}

/** objection's custom validation: a validator of the model's own, no jsonSchema. */
class NoBang extends Validator {
  override validate({ json }: { json: Record<string, unknown> }) {
    if (typeof json.title === 'string' && json.title.includes('!')) throw new ValidationError({ type: 'ModelValidation', message: 'title: no exclamation marks' } as never)
    return json
  }
}
class Validated extends Model {
  static override tableName = 'docs'
  static override createValidator() {
    return new NoBang()
  }
}
/** JSON attributes without a jsonSchema: objection writes null there as SQL NULL. */
class JsonDoc extends Model {
  static override tableName = 'docs'
  static override get jsonAttributes() {
    return ['data']
  }
}
/** A class field default, which objection writes. */
class Drafted extends Model {
  static override tableName = 'docs'
  status = 'draft'
}

const COLUMNS = ['title', 'data', 'meta', 'at', 'atTz', 'amount', 'big', 'uid', 'status']
const grants = {
  read: { allow: true, columns: ['id', 'org', ...COLUMNS], where: (ctx: { org: number }) => ({ org: ctx.org }) },
  insert: { allow: true, columns: COLUMNS, set: (ctx: { org: number }) => ({ org: ctx.org }), check: (row: Record<string, unknown>) => row.title !== 'refused' },
  update: { allow: true, columns: COLUMNS, check: (row: Record<string, unknown>) => row.title !== 'refused' },
  delete: { allow: true },
} as const
const api = {
  Doc: expose(Doc, grants as never),
  HookedDoc: expose(HookedDoc, grants as never),
  Validated: expose(Validated, grants as never),
  JsonDoc: expose(JsonDoc, grants as never),
  Drafted: expose(Drafted, grants as never),
}
type Name = keyof typeof api

describe.each(DATABASE_KINDS)('writes as own SQL, against objection (%s)', (kind) => {
  let database: TestDatabase
  let knex: Knex
  let executor: Executor
  const db = () =>
    createClient<Record<Name, never>>({ url: 'http://t/orm', batch: false, headers: { 'x-org': '1' }, fetch: (input, init) => executor(new Request(input as string, init)) }) as unknown as Record<
      Name,
      { query(): any }
    >

  beforeAll(async () => {
    database = await openDatabase(kind)
    knex = database.knex
    await knex.schema.createTable('docs', (t) => {
      t.increments('id')
      t.integer('org').notNullable()
      t.text('title').notNullable()
      t.jsonb('data')
      t.json('meta')
      t.timestamp('at', { useTz: false })
      t.timestamp('atTz', { useTz: true })
      t.decimal('amount', 12, 2)
      t.bigInteger('big')
      t.uuid('uid')
      t.text('status').notNullable().defaultTo('new')
    })
    executor = createExecutor({ knex, api, auth: (request) => ({ org: Number(request.headers.get('x-org')) }), logger: { error() {} } })
    await executor.ready()
  })
  afterAll(() => database?.close())

  /** What a write answered (or its error code), and the row stored, without the ids the two runs differ by. */
  async function outcome(write: () => PromiseLike<unknown>, pattern: string) {
    let answer: unknown
    try {
      answer = strip(await write())
    } catch (error) {
      answer = { error: (error as { code?: string }).code }
    }
    const rows = await knex('docs').where('title', 'like', pattern).orderBy('title').select(knex.raw('title, data::text as data, data is null as "dataNull", meta::text as meta, at::text as at, "atTz"::text as "atTz", amount::text as amount, big::text as big, uid, status'))
    return { answer, rows: rows.map((row: Record<string, unknown>) => ({ ...row, title: String(row.title).replace(/-(own|objection)$/, '') })) }
  }
  const strip = (value: unknown): unknown =>
    Array.isArray(value) ? value.map(strip) : value !== null && typeof value === 'object' && !(value instanceof Date) ? Object.fromEntries(Object.entries(value).filter(([key]) => key !== 'id').map(([key, v]) => [key, key === 'title' ? String(v).replace(/-(own|objection)$/, '') : v])) : value

  const ROWS: Record<string, unknown>[] = [
    { title: 'a', data: { x: 1 }, meta: [1, 2] },
    { title: 'b', data: 'text', meta: 'text' },
    { title: 'c', data: null, meta: null },
    { title: 'd', data: [1, 'two'], meta: true },
    { title: 'e', at: new Date('2024-01-02T03:04:05.678Z'), atTz: new Date('2024-01-02T03:04:05.678Z') },
    { title: 'f', amount: '12.50', big: 9_007_199_254_740_993n, uid: '0e5e1f5e-2a9b-4b8e-9d6a-1d2f3a4b5c6d' },
    { title: 'g', status: 'custom', amount: 3, big: 5n },
    { title: 'refused' },
  ]

  it('inserts, patches, updates and deletes as objection does, answers and stored rows alike', async () => {
    const transactions = vi.spyOn(knex, 'transaction')
    const results: Record<'own' | 'objection', unknown[]> = { own: [], objection: [] }
    for (const [path, model] of [['own', 'Doc'], ['objection', 'HookedDoc']] as const) {
      const calls = transactions.mock.calls.length
      const m = db()[model]
      for (const row of ROWS) {
        // The check refuses the title 'refused' itself.
        const title = row.title === 'refused' ? 'refused' : `${row.title}-${path}`
        results[path].push(await outcome(() => m.query().insert({ ...row, title }), title))
      }
      // Several rows giving different columns: the others take their defaults.
      results[path].push(await outcome(() => m.query().insert([{ title: `many1-${path}`, status: 'x' }, { title: `many2-${path}`, data: { y: 2 } }]), `many%-${path}`))
      for (const patch of [{ data: null }, { data: { z: [1] }, meta: 'plain' }, { at: new Date('2020-06-06T06:06:06Z'), big: 1n }, { status: 'patched' }]) {
        results[path].push(await outcome(() => m.query().where('title', `a-${path}`).patch(patch), `a-${path}`))
        results[path].push(await outcome(() => m.query().where('title', `b-${path}`).patch(patch).returning('title', 'data', 'meta', 'big', 'status'), `b-${path}`))
      }
      results[path].push(await outcome(() => m.query().where('title', `c-${path}`).update({ title: `c-${path}`, amount: '1.00' }).returning('title', 'amount'), `c-${path}`))
      results[path].push(await outcome(() => m.query().where('title', `d-${path}`).patch({ title: 'refused' }), `d-${path}`))
      results[path].push(await outcome(() => m.query().where('title', `e-${path}`).delete().returning('title', 'at'), `e-${path}`))
      results[path].push(await outcome(() => m.query().where('title', 'like', `many%-${path}`).delete(), `many%-${path}`))
      // The plain model took the executor's own path (no knex transaction), its twin objection's.
      expect(transactions.mock.calls.length > calls).toBe(path === 'objection')
    }
    transactions.mockRestore()
    expect(results.own).toEqual(results.objection)
    expect(results.own.filter((result) => (result as { answer: { error?: string } }).answer.error === 'FORBIDDEN')).toHaveLength(2)
  })

  it('sends models that add something of their own through objection: a validator, JSON attributes, class field defaults', async () => {
    const m = db()
    await expect(m.Validated.query().insert({ title: 'loud!' })).rejects.toMatchObject({ code: 'BAD_REQUEST' })
    expect(await m.Validated.query().insert({ title: 'quiet' })).toMatchObject({ title: 'quiet' })
    await expect(m.Validated.query().where('title', 'quiet').patch({ title: 'loud!' })).rejects.toMatchObject({ code: 'BAD_REQUEST' })
    // null in a JSON attribute is SQL NULL, as objection writes it.
    await m.JsonDoc.query().insert({ title: 'json-null', data: null })
    await m.JsonDoc.query().insert({ title: 'json-later', data: { a: 1 } })
    await m.JsonDoc.query().where('title', 'json-later').patch({ data: null })
    expect(Number((await knex('docs').whereIn('title', ['json-null', 'json-later']).whereNull('data').count({ n: '*' }))[0]!.n)).toBe(2)
    expect(await m.Drafted.query().insert({ title: 'drafted' })).toMatchObject({ title: 'drafted', status: 'draft' })
  })
})
