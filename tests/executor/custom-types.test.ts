/**
 * An app's own types, registered once on its SuperJSON instance, travel both ways: a
 * Decimal is a filter value, a written value, a procedure argument and result, and a
 * `numeric` column read through the executor's `types` comes back as a Decimal — through
 * the real client, the real executor and PostgreSQL (and PGlite). Without the app's
 * instance on either side the same values are refused, not silently mangled.
 */
import { Decimal } from 'decimal.js'
import { Model } from 'objection'
import SuperJSON from 'superjson'
import * as v from 'valibot'
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest'
import { createClient, type Client } from '../../client/index.js'
import { createExecutor, expose, procedure, type Executor } from '../../executor/index.js'
import { DATABASE_KINDS, openDatabase, type TestDatabase } from '../support/databases.js'

/** The app's instance, as the README shows it. */
const superjson = new SuperJSON()
superjson.registerCustom<Decimal, string>(
  { isApplicable: (value): value is Decimal => Decimal.isDecimal(value), serialize: (value) => value.toJSON(), deserialize: (text) => new Decimal(text) },
  'decimal.js',
)

class Product extends Model {
  static override tableName = 'products'
  declare id: number
  declare name: string
  declare price: Decimal
}

const api = {
  Product: expose(Product, { read: { allow: true, columns: '*' }, insert: { allow: true, columns: ['name', 'price'] }, update: { allow: true, columns: ['price'] } }),
}

const procedures = {
  /** The sum of the products' prices with a discount, as a Decimal. */
  total: procedure({
    allow: true,
    args: v.object({ ids: v.array(v.number()), discount: v.instance(Decimal) }),
    run: async ({ trx, args }) => {
      const rows = (await trx('products').whereIn('id', args.ids).select('price')) as { price: string }[]
      return rows.reduce((sum, row) => sum.plus(row.price), new Decimal(0)).minus(args.discount)
    },
  }),
}

describe.each(DATABASE_KINDS)('custom types end to end on %s', (kind) => {
  let db: TestDatabase
  let executor: Executor
  let client: Client<typeof api, typeof procedures>

  beforeAll(async () => {
    db = await openDatabase(kind)
    await db.knex.schema.createTable('products', (t) => {
      t.increments('id')
      t.text('name').notNullable()
      t.decimal('price', 12, 2).notNullable()
    })
    await db.knex('products').insert([
      { name: 'tea', price: '4.10' },
      { name: 'coffee', price: '12.99' },
    ])
    executor = createExecutor({ knex: db.knex, api, procedures, superjson, types: { numeric: (text) => new Decimal(text) }, logger: { error() {} } })
    await executor.ready()
    client = createClient<typeof api, typeof procedures>({ url: 'http://decimal.test/orm', superjson, fetch: (url, init) => executor(new Request(url, init)) })
  })
  afterAll(() => db?.close())

  it('reads numeric columns as Decimals, typed as the model declares them', async () => {
    const rows = await client.Product.query().orderBy('id')
    expectTypeOf(rows[0]!.price).toEqualTypeOf<Decimal>()
    expect(rows.map((row) => row.price)).toEqual([new Decimal('4.1'), new Decimal('12.99')])
    expect(rows[0]!.price).toBeInstanceOf(Decimal)
  })

  it('filters and writes with Decimals, and answers the written row with them', async () => {
    const expensive = await client.Product.query().where('price', '>', new Decimal('10.00'))
    expect(expensive.map((row) => row.name)).toEqual(['coffee'])
    const added = await client.Product.query().insert({ name: 'saffron', price: new Decimal('1234.56') })
    expect(added.price).toBeInstanceOf(Decimal)
    expect(added.price.equals('1234.56')).toBe(true)
    expect(await db.knex('products').where({ id: added.id }).first('price')).toEqual({ price: '1234.56' })
    const patched = await client.Product.query().findById(added.id).patch({ price: new Decimal('0.05') }).returning('price')
    expect(patched?.price.toFixed(2)).toBe('0.05')
    // A Decimal read inside a write request (a transaction's read) is one too.
    const [, read] = await client.transaction((t) => [t.Product.query().findById(added.id).patch({ price: new Decimal('7') }), t.Product.query().findById(added.id)])
    expect(read?.price).toEqual(new Decimal('7'))
  })

  it('answers sum and avg of a Decimal column as Decimals, typed so', async () => {
    const [totals] = await client.Product.query().whereIn('name', ['tea', 'coffee']).sum('price as total').avg('price as mean')
    expectTypeOf(totals!.total).toEqualTypeOf<Decimal | null>()
    expectTypeOf(totals!.mean).toEqualTypeOf<Decimal | null>()
    expect(totals!.total).toEqual(new Decimal('17.09'))
    expect(totals!.mean).toBeInstanceOf(Decimal)
  })

  it('passes Decimals to procedures and back', async () => {
    const ids = (await client.Product.query().whereIn('name', ['tea', 'coffee'])).map((row) => row.id)
    const total = await client.call('total', { ids, discount: new Decimal('0.09') })
    expect(total).toBeInstanceOf(Decimal)
    expect((total as Decimal).toFixed(2)).toBe('17.00')
  })

  it('tells a client without the app’s instance why it cannot read the answer', async () => {
    const plain = createClient<typeof api>({ url: 'http://decimal.test/orm', fetch: (url, init) => executor(new Request(url, init)) })
    await expect(plain.Product.query().first()).rejects.toMatchObject({
      code: 'INTERNAL',
      message: expect.stringMatching(/could not be read \(.*custom.*\): give the client the SuperJSON instance the executor uses/),
    })
  })

  it('refuses a custom type the executor’s instance does not know, before any SQL', async () => {
    const other = new SuperJSON()
    other.registerCustom<Decimal, string>({ isApplicable: (value): value is Decimal => Decimal.isDecimal(value), serialize: (value) => value.toJSON(), deserialize: (text) => new Decimal(text) }, 'money')
    const stranger = createClient<typeof api>({ url: 'http://decimal.test/orm', superjson: other, fetch: (url, init) => executor(new Request(url, init)) })
    await expect(stranger.Product.query().where('price', new Decimal('1'))).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('unknown custom type "money"') })
  })

  it('checks the types option against the catalog at ready()', async () => {
    const broken = (types: Record<string, (text: string) => unknown>) => createExecutor({ knex: db.knex, api, types }).ready()
    await expect(broken({ nosuchtype: String })).rejects.toThrow('types.nosuchtype: PostgreSQL has no type "nosuchtype"')
    await expect(broken({ int4: String })).rejects.toThrow(/pg reads integer as a value of its own already/)
  })
})

/** A uuid as the app's own class: keys read through `types` go back to PostgreSQL as their text. */
class Uuid {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text
  }
}

class Writer extends Model {
  static override tableName = 'writers'
  declare id: Uuid
  declare name: string
  declare books?: Book[]
  static override get relationMappings() {
    return { books: { relation: Model.HasManyRelation, modelClass: Book, join: { from: 'writers.id', to: 'books.writer_id' } } }
  }
}

class Book extends Model {
  static override tableName = 'books'
  declare id: number
  declare writer_id: Uuid | null
  declare title: string
}

const uuidApi = {
  Writer: expose(Writer, { read: { allow: true, columns: '*' }, relations: ['books'] }),
  Book: expose(Book, { read: { allow: true, columns: '*' }, update: { allow: true, columns: ['writer_id', 'title'] } }),
}

describe.each(DATABASE_KINDS)('a key column read as an app type on %s', (kind) => {
  let db: TestDatabase
  let client: Client<typeof uuidApi>
  const ann = '6f1c2b9e-0d8a-4c1e-9a57-1b2c3d4e5f60'
  beforeAll(async () => {
    db = await openDatabase(kind)
    await db.knex.schema.createTable('writers', (t) => {
      t.uuid('id').primary()
      t.text('name').notNullable()
    })
    await db.knex.schema.createTable('books', (t) => {
      t.increments('id')
      t.uuid('writer_id').references('writers.id')
      t.text('title').notNullable()
    })
    await db.knex('writers').insert({ id: ann, name: 'Ann' })
    await db.knex('books').insert([{ writer_id: ann, title: 'First' }, { writer_id: null, title: 'Stray' }])
    const codec = new SuperJSON()
    codec.registerCustom<Uuid, string>({ isApplicable: (v): v is Uuid => v instanceof Uuid, serialize: (v) => v.text, deserialize: (v) => new Uuid(v) }, 'uuid')
    const executor = createExecutor({ knex: db.knex, api: uuidApi, superjson: codec, types: { uuid: (text) => new Uuid(text) }, logger: { error() {} } })
    await executor.ready()
    client = createClient<typeof uuidApi>({ url: 'http://uuid.test/orm', superjson: codec, fetch: (url, init) => executor(new Request(url, init)) })
  })
  afterAll(() => db?.close())

  it('loads relations and relates rows by such keys', async () => {
    const [writer] = await client.Writer.query().withGraphFetched({ books: true })
    expect(writer!.id).toBeInstanceOf(Uuid)
    expect(writer!.books.map((b) => b.title)).toEqual(['First'])
    const stray = await client.Book.query().where('title', 'Stray').first()
    expect(await client.Writer.relatedQuery('books').for(writer!.id).relate(stray!.id)).toBe(1)
    expect((await client.Writer.query().findById(writer!.id).withGraphFetched({ books: true }))?.books).toHaveLength(2)
  })
})
