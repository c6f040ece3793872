/**
 * Models as many apps write them: no column name mappers (camelCase columns), a custom
 * id column, a composite id, json columns. Reads, writes and relations through the
 * client, on PostgreSQL and PGlite.
 */
import { Model } from 'objection'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient } from '../../client/index.js'
import { createExecutor, expose } from '../../executor/index.js'
import { DATABASE_KINDS, openDatabase, type TestDatabase } from '../support/databases.js'

class Widget extends Model {
  static override tableName = 'widgets'
  static override idColumn = 'widgetId'
  declare widgetId: number
  declare label: string
  declare payload: { size: number; tags: string[] } | null
  declare madeAt: Date
  declare parts?: Part[]

  static override get relationMappings() {
    return { parts: { relation: Model.HasManyRelation, modelClass: Part, join: { from: 'widgets.widgetId', to: 'parts.widgetId' } } }
  }
}

class Part extends Model {
  static override tableName = 'parts'
  static override idColumn = ['widgetId', 'slot']
  declare widgetId: number
  declare slot: string
  declare weight: string
  declare widget?: Widget

  static override get relationMappings() {
    return { widget: { relation: Model.BelongsToOneRelation, modelClass: Widget, join: { from: 'parts.widgetId', to: 'widgets.widgetId' } } }
  }
}

const api = {
  Widget: expose(Widget, {
    read: { allow: true, columns: '*' },
    insert: { allow: true, columns: ['label', 'payload', 'madeAt'] },
    update: { allow: true, columns: ['label', 'payload'] },
    delete: { allow: true },
    relations: ['parts'],
  }),
  Part: expose(Part, {
    read: { allow: true, columns: ['widgetId', 'slot', 'weight'] },
    insert: { allow: true, columns: ['widgetId', 'slot', 'weight'] },
    relations: ['widget'],
  }),
}

describe.each(DATABASE_KINDS)('plain models on %s', (kind) => {
  let db: TestDatabase
  let client: ReturnType<typeof createClient<typeof api>>

  beforeAll(async () => {
    db = await openDatabase(kind)
    await db.knex.schema.createTable('widgets', (t) => {
      t.increments('widgetId')
      t.text('label').notNullable()
      t.jsonb('payload')
      t.timestamp('madeAt', { useTz: true }).notNullable()
    })
    await db.knex.schema.createTable('parts', (t) => {
      t.integer('widgetId').notNullable().references('widgets.widgetId')
      t.text('slot').notNullable()
      t.decimal('weight', 8, 3).notNullable()
      t.primary(['widgetId', 'slot'])
    })
    const executor = createExecutor({ knex: db.knex, api, logger: { error() {} } })
    await executor.ready()
    client = createClient<typeof api>({ url: 'http://plain.test/orm', fetch: async (input, init) => executor(new Request(input as string, init)) })
  })
  afterAll(() => db?.close())

  it('writes and reads camelCase columns, json and dates', async () => {
    const madeAt = new Date('2025-02-03T04:05:06.789Z')
    const widget = await client.Widget.query().insert({ label: 'gear', payload: { size: 3, tags: ['a', 'b'] }, madeAt })
    expect(widget).toEqual({ widgetId: 1, label: 'gear', payload: { size: 3, tags: ['a', 'b'] }, madeAt })
    await client.Part.query().insert([
      { widgetId: widget.widgetId, slot: 'left', weight: '1.250' },
      { widgetId: widget.widgetId, slot: 'right', weight: '2.5' },
    ])
    const loaded = await client.Widget.query().findById(widget.widgetId).withGraphFetched({ parts: (p) => p.orderBy('slot') })
    expect(loaded!.parts).toEqual([
      { widgetId: 1, slot: 'left', weight: '1.250' },
      { widgetId: 1, slot: 'right', weight: '2.500' },
    ])
    expect(await client.Part.query().findById([widget.widgetId, 'right']).withGraphFetched({ widget: true })).toMatchObject({ slot: 'right', widget: { label: 'gear' } })
    expect(await client.Part.query().findByIds([[1, 'left'], [1, 'nope']])).toHaveLength(1)
  })

  it('filters, aggregates, patches and deletes', async () => {
    expect(await client.Part.query().where('weight', '>', '2').count()).toBe(1)
    expect(await client.Part.query().sum('weight as total')).toEqual([{ total: '3.750' }])
    expect(await client.Widget.query().patchAndFetchById(1, { payload: { size: 4, tags: [] } })).toMatchObject({ payload: { size: 4, tags: [] } })
    const other = await client.Widget.query().insert({ label: 'spare', madeAt: new Date() })
    expect(await client.Widget.query().deleteById(other.widgetId)).toBe(1)
    await expect(client.Widget.query().deleteById(1)).rejects.toMatchObject({ code: 'CONFLICT' })
  })
})
