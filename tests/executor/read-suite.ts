/**
 * The read path end to end (typed client → executor → PostgreSQL / PGlite), compared
 * with what objection returns for the same query on the same data; run with the
 * demo's columns mapped by its models (`read.test.ts`) and by knex
 * (`read-knex-mappers.test.ts`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient, type Client } from '../../client/index.js'
import type { DemoApi } from '../../examples/demo/api.js'
import { Author, Comment, Post, Tag } from '../../examples/demo/models.js'
import { DATABASE_KINDS, type DatabaseKind } from '../support/databases.js'
import { openDemo, type Demo } from '../support/demo.js'
import { plain } from '../support/compare.js'
import { encode } from '../../shared/wire.js'

const AUTHOR = ['id', 'name', 'bio', 'rating', 'meta', 'createdAt']
const POST = ['id', 'authorId', 'title', 'body', 'published', 'views', 'createdAt']
const PROFILE = ['id', 'authorId', 'website', 'location']
const COMMENT = ['id', 'postId', 'authorId', 'body', 'createdAt']
const TAG = ['id', 'name']

interface Shape {
  readonly columns: readonly string[]
  readonly relations?: Readonly<Record<string, Shape>>
}

/** objection's rows reduced to what the API exposes, as plain data. */
function expose(value: unknown, shape: Shape): unknown {
  if (value === undefined) return undefined
  if (value === null) return null
  if (Array.isArray(value)) return value.map((row) => expose(row, shape))
  const row = value as Record<string, unknown>
  const out: Record<string, unknown> = {}
  for (const column of shape.columns) out[column] = row[column]
  for (const [name, inner] of Object.entries(shape.relations ?? {})) out[name] = expose(row[name], inner)
  return plain(out)
}

export function readSuite(mappers: 'model' | 'knex', kinds: readonly DatabaseKind[] = DATABASE_KINDS): void {
describe.each(kinds)(`reads on %s, columns mapped by the ${mappers === 'model' ? 'models' : 'knex config'}`, (kind) => {
  let demo: Demo
  let db: Client<DemoApi>
  let requests = 0

  beforeAll(async () => {
    demo = await openDemo(kind, { mappers })
    db = createClient<DemoApi>({
      url: 'http://test.local/orm',
      fetch: async (input, init) => {
        requests++
        return demo.executor(new Request(input as string, init))
      },
    })
  })
  afterAll(() => demo?.close())

  const published = () => Post.query(demo.knex).where('published', true)

  it('filters with operators, orders by several columns and limits', async () => {
    const rows = await db.Post.query().where('views', '>', 1000).where('authorId', '<=', 30n).orderBy('views', 'desc').orderBy('id').limit(15)
    const expected = await published().where('views', '>', 1000).where('author_id', '<=', 30).orderBy('views', 'desc').orderBy('id').limit(15)
    expect(rows).toHaveLength(15)
    expect(plain(rows)).toEqual(expose(expected, { columns: POST }))
  })

  it('groups where / orWhere as SQL does, and with callbacks', async () => {
    const rows = await db.Post.query()
      .where('views', '<', 100)
      .orWhere((q) => q.where('views', '>', 4900).whereNot('authorId', 1n))
      .orderBy('id')
    const expected = await published()
      .where((q) => q.where('views', '<', 100).orWhere((q2) => q2.where('views', '>', 4900).whereNot('author_id', 1)))
      .orderBy('id')
    expect(rows.length).toBeGreaterThan(0)
    expect(plain(rows)).toEqual(expose(expected, { columns: POST }))
  })

  it('supports whereIn, whereNotIn, whereNull, whereNotNull, whereBetween, whereLike and whereILike', async () => {
    const cases = [
      [db.Author.query().whereIn('id', [1n, 2n, 3n]), Author.query(demo.knex).whereIn('id', [1, 2, 3])],
      [db.Author.query().whereNotIn('id', [1n, 2n]).limit(5), Author.query(demo.knex).whereNotIn('id', [1, 2]).limit(5)],
      [db.Author.query().whereNull('bio'), Author.query(demo.knex).whereNull('bio')],
      [db.Author.query().whereNotNull('rating').limit(20), Author.query(demo.knex).whereNotNull('rating').limit(20)],
      [
        db.Author.query().whereBetween('createdAt', [new Date('2024-02-01'), new Date('2024-03-01')]),
        Author.query(demo.knex).whereBetween('created_at', [new Date('2024-02-01'), new Date('2024-03-01')]),
      ],
      [db.Author.query().whereLike('name', 'Ada%'), Author.query(demo.knex).whereLike('name', 'Ada%')],
      [db.Author.query().whereILike('name', '%LOVE%'), Author.query(demo.knex).whereILike('name', '%LOVE%')],
      [db.Author.query().where('name', 'ilike', '%ho%').orWhereNull('bio'), Author.query(demo.knex).where('name', 'ilike', '%ho%').orWhereNull('bio')],
    ] as const
    for (const [ours, theirs] of cases) {
      const [rows, expected] = await Promise.all([ours.orderBy('id'), theirs.orderBy('id')])
      expect(rows.length, encode(ours.toJSON())).toBeGreaterThan(0)
      expect(plain(rows)).toEqual(expose(expected, { columns: AUTHOR }))
    }
  })

  it('selects columns, distinct values, offsets and pages', async () => {
    const names = await db.Author.query().select('id', 'name').orderBy('id').offset(5).limit(5)
    expect(names).toEqual((await Author.query(demo.knex).select('id', 'name').orderBy('id').offset(5).limit(5)).map((a) => ({ id: BigInt(a.id), name: a.name })))
    const distinct = await db.Post.query().distinct('authorId').orderBy('authorId').limit(1000)
    const expectedDistinct = await published().distinct('author_id').orderBy('author_id')
    expect(plain(distinct)).toEqual(expose(expectedDistinct, { columns: ['authorId'] }))

    const page = await db.Post.query().orderBy('id').page(2, 10)
    const expectedPage = await published().orderBy('id').page(2, 10)
    expect(page.total).toBe(expectedPage.total)
    expect(plain(page.results)).toEqual(expose(expectedPage.results, { columns: POST }))

    const range = await db.Post.query().orderBy('id').range(3, 7)
    const expectedRange = await published().orderBy('id').range(3, 7)
    expect(range.total).toBe(expectedRange.total)
    expect(plain(range.results)).toEqual(expose(expectedRange.results, { columns: POST }))
  })

  it('finds by id, by ids, and the first row', async () => {
    expect(plain(await db.Author.query().findById(7n))).toEqual(expose(await Author.query(demo.knex).findById(7), { columns: AUTHOR }))
    expect(await db.Author.query().findById(999_999n)).toBeUndefined()
    const many = await db.Tag.query().findByIds([1, 3, 5]).orderBy('id')
    expect(many).toEqual(expose(await Tag.query(demo.knex).findByIds([1, 3, 5]).orderBy('id'), { columns: TAG }))
    const first = await db.Post.query().orderBy('createdAt', 'desc').first()
    expect(plain(first)).toEqual(expose(await published().orderBy('created_at', 'desc').first(), { columns: POST }))
  })

  it('counts, sizes and tests existence under the row policy', async () => {
    const expectedCount = await published().resultSize()
    expect(await db.Post.query().resultSize()).toBe(expectedCount)
    expect(await db.Post.query().count()).toBe(expectedCount)
    expect(await db.Post.query().limit(3).resultSize()).toBe(expectedCount)
    expect(await db.Post.query().where('views', '>', 4000).count()).toBe(await published().where('views', '>', 4000).resultSize())
    expect(await db.Post.query().where('views', '>', 4000).exists()).toBe(true)
    expect(await db.Post.query().where('views', '>', 1_000_000).exists()).toBe(false)
    // Unpublished posts exist in the table but not for the API.
    const draft = await Post.query(demo.knex).where('published', false).first()
    expect(draft).toBeDefined()
    expect(await db.Post.query().findById(draft!.id)).toBeUndefined()
  })

  it('aggregates with groupBy: count, sum, avg, min, max', async () => {
    const rows = await db.Post.query()
      .groupBy('authorId')
      .count('* as posts')
      .sum('views as totalViews')
      .avg('views as averageViews')
      .min('createdAt as firstPost')
      .max('views as topViews')
      .orderBy('authorId')
      .limit(1000)
    const expected = await published()
      .select('author_id')
      .count('* as posts')
      .sum('views as totalViews')
      .avg('views as averageViews')
      .min('created_at as firstPost')
      .max('views as topViews')
      .groupBy('author_id')
      .orderBy('author_id')
    expect(rows.length).toBe(expected.length)
    expect(plain(rows)).toEqual(
      plain(
        expected.map((row) => {
          const r = row as unknown as Record<string, unknown>
          return { ...r, posts: Number(r.posts) }
        }),
      ),
    )
    expect(typeof rows[0]!.posts).toBe('number')
    expect(typeof rows[0]!.totalViews).toBe('bigint')
    const [total] = await db.Post.query().count('* as n')
    expect(total).toEqual({ n: await published().resultSize() })
  })

  it('reads related rows with relatedQuery(…).for(ids), under both models’ policies, as objection does', async () => {
    const rows = await db.Author.relatedQuery('posts').for([1n, 2n]).where('views', '>', 100).orderBy('id').limit(1000)
    const expected = await Author.relatedQuery('posts', demo.knex).for([1, 2]).where('published', true).where('views', '>', 100).orderBy('id')
    expect(plain(rows)).toEqual(expose(expected, { columns: POST }))
    // Many-to-many, and an owner id that does not exist.
    const tags = await db.Post.relatedQuery('tags').for(1).orderBy('id')
    expect(plain(tags)).toEqual(expose(await Post.relatedQuery('tags', demo.knex).for(1).orderBy('id'), { columns: TAG }))
    expect(await db.Author.relatedQuery('posts').for(999999n)).toEqual([])
    // An owner outside its policy has no related rows: comments of an unpublished post.
    const [draft] = (await demo.knex('posts').where({ published: false }).select('id').limit(1)) as { id: number }[]
    expect(await db.Post.relatedQuery('comments').for(draft!.id)).toEqual([])
    expect((await demo.client(1n, 'admin').Post.relatedQuery('comments').for(draft!.id)).length).toBe(
      Number(((await demo.knex('comments').where({ post_id: draft!.id }).count({ n: '*' })) as [{ n: string }])[0].n),
    )
  })

  it('filters with whereExists(relatedQuery(…)) as objection writes it, the same as whereExists(relation, callback)', async () => {
    const objectionForm = await db.Author.query().whereExists(db.Author.relatedQuery('posts').where('views', '>', 1500)).orderBy('id').limit(1000)
    const callbackForm = await db.Author.query().whereExists('posts', (p) => p.where('views', '>', 1500)).orderBy('id').limit(1000)
    const expected = await Author.query(demo.knex).whereExists(Author.relatedQuery('posts').where('published', true).where('views', '>', 1500)).orderBy('id')
    expect(plain(objectionForm)).toEqual(plain(callbackForm))
    expect(plain(objectionForm)).toEqual(expose(expected, { columns: AUTHOR }))
    const none = await db.Author.query().whereNotExists(db.Author.relatedQuery('posts')).orderBy('id').limit(1000)
    expect(none.map((a) => a.id)).toEqual((await Author.query(demo.knex).whereNotExists(Author.relatedQuery('posts').where('published', true)).orderBy('id')).map((a) => BigInt(a.id)))
  })

  it('selects aggregates of related rows as columns, under the related model’s policy', async () => {
    const rows = await db.Author.query()
      .select('id', 'name', db.Author.relatedQuery('posts').count().as('postCount'), db.Author.relatedQuery('posts').where('views', '>', 1000).max('views').as('topViews'))
      .orderBy('id')
      .limit(10)
    const expected = await Author.query(demo.knex)
      .select('id', 'name', Author.relatedQuery('posts').where('published', true).count().as('postCount'), Author.relatedQuery('posts').where('published', true).where('views', '>', 1000).max('views').as('topViews'))
      .orderBy('id')
      .limit(10)
    expect(plain(rows)).toEqual(plain(expected.map((row) => ({ ...(row.toJSON() as Record<string, unknown>), postCount: Number((row as unknown as { postCount: string }).postCount) }))))
    expect(typeof rows[0]!.postCount).toBe('number')
    const tagged = await db.Tag.query().select('name', db.Tag.relatedQuery('posts').count().as('uses')).orderBy('name').limit(3)
    expect(Object.keys(tagged[0]!).sort()).toEqual(['name', 'uses'])
  })

  it('aggregates written as objection writes them: select the groups, then the aggregates, then groupBy', async () => {
    const rows = await db.Post.query().select('authorId').count('id as n').max('views as top').groupBy('authorId', 'published').orderBy('authorId').limit(1000)
    const expected = await published().select('author_id').count('id as n').max('views as top').groupBy('author_id', 'published').orderBy('author_id')
    expect(plain(rows)).toEqual(plain(expected.map((row) => ({ ...(row as unknown as Record<string, unknown>), n: Number((row as unknown as { n: string }).n) }))))
    expect(Object.keys(rows[0]!).sort()).toEqual(['authorId', 'n', 'top'])
    await expect(db.Post.query().select('title').count('id as n').groupBy('authorId')).rejects.toMatchObject({ code: 'BAD_REQUEST', message: 'an aggregate query selects only groupBy columns; "title" is not one' })
  })

  it('loads every relation kind, nested, under each related model policy', async () => {
    const authors = await db.Author.query()
      .whereIn('id', [1n, 2n, 3n, 4n])
      .orderBy('id')
      .withGraphFetched({ profile: true, posts: { tags: true, comments: true } })
    const expected = await Author.query(demo.knex)
      .whereIn('id', [1, 2, 3, 4])
      .orderBy('id')
      .withGraphFetched('[profile, posts.[tags, comments]]')
      .modifyGraph('posts', (q) => q.where('published', true))
    const sortDeep = (rows: unknown) =>
      JSON.parse(JSON.stringify(plain(rows)), (_k, v) =>
        Array.isArray(v) && v.every((x) => x && typeof x === 'object' && 'id' in x) ? [...v].sort((a, b) => String(a.id).localeCompare(String(b.id), 'en', { numeric: true })) : v,
      )
    const shape: Shape = {
      columns: AUTHOR,
      relations: { profile: { columns: PROFILE }, posts: { columns: POST, relations: { tags: { columns: TAG }, comments: { columns: COMMENT } } } },
    }
    expect(sortDeep(authors)).toEqual(sortDeep(expose(expected, shape)))
    // Author 3 has no profile: a one-relation with no row is null, as in objection.
    expect(authors[2]!.profile).toBeNull()
    expect(authors.flatMap((a) => a.posts).every((p) => p.published)).toBe(true)

    const comments = await db.Comment.query().whereIn('id', [1, 2, 3]).orderBy('id').withGraphFetched('[post.author, author]')
    const expectedComments = await Comment.query(demo.knex).whereIn('id', [1, 2, 3]).orderBy('id').withGraphFetched('[post.author, author]').modifyGraph('post', (q) => q.where('published', true))
    expect(plain(comments)).toEqual(
      expose(expectedComments, { columns: COMMENT, relations: { post: { columns: POST, relations: { author: { columns: AUTHOR } } }, author: { columns: AUTHOR } } }),
    )
  })

  it('filters, orders and limits each relation per parent row', async () => {
    const authors = await db.Author.query()
      .whereIn('id', [5n, 6n, 7n])
      .orderBy('id')
      .withGraphFetched({
        posts: (p) => p.select('id', 'title', 'views').where('views', '>', 500).orderBy('views', 'desc').limit(2).withGraphFetched({ tags: (t) => t.orderBy('name') }),
      })
    for (const author of authors) {
      const expected = await published().where('author_id', author.id.toString()).where('views', '>', 500).orderBy('views', 'desc').limit(2).withGraphFetched('tags').modifyGraph('tags', (t) => t.orderBy('name'))
      expect(author.posts).toHaveLength(expected.length)
      expect(plain(author.posts)).toEqual(expose(expected, { columns: ['id', 'title', 'views'], relations: { tags: { columns: TAG } } }))
    }
  })

  it('filters through relations with whereExists, honouring the related policy', async () => {
    const authors = await db.Author.query()
      .whereExists('posts', (p) => p.whereILike('title', '%cache%').where('views', '>', 2500))
      .orderBy('id')
      .limit(1000)
    const expected = await Author.query(demo.knex)
      .whereExists(Author.relatedQuery('posts').where('published', true).where('title', 'ilike', '%cache%').where('views', '>', 2500))
      .orderBy('id')
    expect(authors.length).toBeGreaterThan(0)
    expect(plain(authors)).toEqual(expose(expected, { columns: AUTHOR }))

    const untagged = await db.Post.query().whereNotExists('tags').orderBy('id').limit(1000)
    const expectedUntagged = await published().whereNotExists(Post.relatedQuery('tags')).orderBy('id')
    expect(plain(untagged)).toEqual(expose(expectedUntagged, { columns: POST }))

    const tags = await db.Tag.query().whereExists('posts', (p) => p.where('authorId', 1n)).orderBy('id')
    const expectedTags = await Tag.query(demo.knex).whereExists(Tag.relatedQuery('posts').where('published', true).where('author_id', 1)).orderBy('id')
    expect(tags).toEqual(expose(expectedTags, { columns: TAG }))
  })

  it('answers the Django-style facade like the equivalent objection query', async () => {
    const rows = await db.Post.objects
      .filter({ views__gte: 1000, title__icontains: 'o', authorId__in: [1n, 2n, 3n, 4n, 5n, 6n] })
      .exclude({ views__range: [2000, 3000] })
      .orderBy('-createdAt', 'id')
      .slice(1, 6)
    const expected = await published()
      .where('views', '>=', 1000)
      .where('title', 'ilike', '%o%')
      .whereIn('author_id', [1, 2, 3, 4, 5, 6])
      .whereNot((q) => q.whereBetween('views', [2000, 3000]))
      .orderBy('created_at', 'desc')
      .orderBy('id')
      .offset(1)
      .limit(5)
    expect(plain(rows)).toEqual(expose(expected, { columns: POST }))
    expect(await db.Author.objects.filter({ bio__isnull: true }).count()).toBe(await Author.query(demo.knex).whereNull('bio').resultSize())
    expect(await db.Author.objects.filter({ name__startswith: 'Ada', bio__isnull: false }).count()).toBe(
      await Author.query(demo.knex).where('name', 'like', 'Ada%').whereNotNull('bio').resultSize(),
    )
    const author = await db.Author.objects.get({ id: 3n })
    expect(plain(author)).toEqual(expose(await Author.query(demo.knex).findById(3), { columns: AUTHOR }))
    await expect(db.Author.objects.get({ id: 999_999n })).rejects.toMatchObject({ code: 'NOT_FOUND' })
    await expect(db.Author.objects.get({ id__in: [1n, 2n] })).rejects.toMatchObject({ code: 'BAD_REQUEST' })
    // A lookup through a relation: authors with a post titled like "%cache%".
    const through = await db.Author.objects.filter({ posts__title__icontains: 'cache' }).orderBy('id').slice(0, 1000)
    const expectedThrough = await Author.query(demo.knex).whereExists(Author.relatedQuery('posts').where('published', true).where('title', 'ilike', '%cache%')).orderBy('id')
    expect(plain(through)).toEqual(expose(expectedThrough, { columns: AUTHOR }))
  })

  it('returns int8 as bigint, timestamptz as Date, jsonb as objects and numeric as string', async () => {
    const author = await db.Author.query().whereNotNull('rating').orderBy('id').first()
    expect(typeof author!.id).toBe('bigint')
    expect(author!.createdAt).toBeInstanceOf(Date)
    expect(author!.meta).toMatchObject({ languages: expect.any(Array), verified: expect.any(Boolean) })
    expect(typeof author!.rating).toBe('string')
    const post = await db.Post.query().first()
    expect(typeof post!.authorId).toBe('bigint')
    expect(typeof post!.views).toBe('number')
  })

  it('answers timestamptz to the millisecond as pg parses it, microseconds and distant years included', async () => {
    const stored = ['2024-10-08 16:37:34.713999+00', '2024-10-08 16:37:34+00', '0044-03-15 12:00:00.5+00', '1999-12-31 23:59:59.999+00']
    const ids = [1, 2, 3, 4]
    const before = (await demo.knex('posts').whereIn('id', ids).select('id', demo.knex.ref('created_at').as('stamp'))) as { id: number; stamp: Date }[]
    try {
      for (const [i, id] of ids.entries()) await demo.knex('posts').where({ id }).update({ created_at: stored[i] })
      const expected = await Post.query(demo.knex).whereIn('id', ids).orderBy('id')
      const rows = await db.Post.query().where('published', true).whereIn('id', ids).orderBy('id').limit(4)
      const admin = await demo.client(1n, 'admin').Post.query().whereIn('id', ids).orderBy('id').limit(4)
      expect(admin.map((row) => row.createdAt.toISOString())).toEqual(expected.map((row) => (row.createdAt as Date).toISOString()))
      expect(admin.map((row) => row.createdAt.toISOString())).toEqual(['2024-10-08T16:37:34.713Z', '2024-10-08T16:37:34.000Z', '0044-03-15T12:00:00.500Z', '1999-12-31T23:59:59.999Z'])
      for (const row of rows) expect(row.createdAt.getTime()).toBe(admin.find((a) => a.id === row.id)!.createdAt.getTime())
    } finally {
      for (const row of before) await demo.knex('posts').where({ id: row.id }).update({ created_at: row.stamp })
    }
  })

  it('types a related row shared by several parents the same under each of them', async () => {
    // One author's posts all load the same author row: it is answered once per post, typed each time.
    const posts = await db.Post.query().where('authorId', 7n).orderBy('id').limit(5).withGraphFetched({ author: { posts: true } })
    expect(posts.length).toBeGreaterThan(1)
    for (const post of posts) {
      expect(typeof post.author!.id).toBe('bigint')
      expect(post.author!.createdAt).toBeInstanceOf(Date)
      for (const inner of post.author!.posts) {
        expect(typeof inner.authorId).toBe('bigint')
        expect(inner.createdAt).toBeInstanceOf(Date)
      }
    }
    expect(new Set(posts.map((post) => post.author!.createdAt.getTime())).size).toBe(1)
  })

  it('treats an empty AND as true and an empty OR as false, alone and nested', async () => {
    const count = (where: unknown) => demo.run({ model: 'Tag', op: 'count', where })
    const all = await Tag.query(demo.knex).resultSize()
    const none = { kind: 'compare', column: 'id', op: '<', value: 0 }
    expect(await count({ kind: 'and', filters: [] })).toEqual([{ data: all }])
    expect(await count({ kind: 'or', filters: [] })).toEqual([{ data: 0 }])
    expect(await count({ kind: 'or', filters: [none, { kind: 'and', filters: [] }] })).toEqual([{ data: all }])
    expect(await count({ kind: 'and', filters: [{ kind: 'not', filter: { kind: 'or', filters: [] } }] })).toEqual([{ data: all }])
  })

  it('never returns hidden columns, even when every column is asked for', async () => {
    const [author] = await db.Author.query().withGraphFetched({ posts: true }).limit(1)
    expect(author).not.toHaveProperty('email')
    expect(author!.posts[0]).not.toHaveProperty('draftNotes')
  })

  it('applies the default limit when the query gives none', async () => {
    expect(await db.Comment.query()).toHaveLength(demo.executor.limits.defaultLimit)
  })

  it('sends querysets started in the same tick in one request, each with its own result', async () => {
    requests = 0
    const [a, b, c, d] = await Promise.all([
      db.Author.query().findById(1n),
      db.Post.query().count(),
      db.Tag.query().where('name', 'typescript').first(),
      db.Author.query().where('nope' as 'name', 'x').catch((error: unknown) => error),
    ])
    expect(requests).toBe(1)
    expect(a?.id).toBe(1n)
    expect(b).toBe(await published().resultSize())
    expect(c?.name).toBe('typescript')
    expect(d).toMatchObject({ code: 'BAD_REQUEST', message: 'unknown column "nope" on Author' })
  })

  it('answers point reads of one model in a batch with one statement, each under the policy', async () => {
    const draft = await Post.query(demo.knex).where('published', false).first()
    const ids = [1, 2, draft!.id, 999_999, 2]
    demo.sql.length = 0
    const results = await demo.run(...ids.map((id) => ({ model: 'Post', op: 'first', where: { kind: 'id', ids: [id] } })))
    const selects = demo.sql.filter((sql) => /select/i.test(sql))
    expect(selects).toHaveLength(1)
    const expected = await Promise.all(ids.map((id) => published().findById(id)))
    expect(results.map((r) => plain('data' in r ? r.data : r))).toEqual(expected.map((row) => (row ? expose(row, { columns: POST }) : undefined)))
    expect('data' in results[2]! && results[2].data).toBeUndefined()
  })

  it('runs a failing query without failing the queries after it', async () => {
    const results = await demo.run(
      { model: 'Post', op: 'count', where: { kind: 'compare', column: 'views', op: '=', value: 'not a number' } },
      { model: 'Post', op: 'count', where: { kind: 'compare', column: 'views', op: '>', value: 4000 } },
    )
    expect(results[0]).toEqual({ error: { code: 'BAD_REQUEST', message: 'a value has the wrong format for its column' } })
    expect(results[1]).toEqual({ data: await published().where('views', '>', 4000).resultSize() })
  })

  it('supports the callback style and fetch()', async () => {
    const rows = await new Promise((resolve, reject) =>
      db.Tag.query().orderBy('id').limit(2).execute((error, result) => (error ? reject(error) : resolve(result))),
    )
    expect(rows).toEqual([{ id: 1, name: 'databases' }, { id: 2, name: 'typescript' }])
    expect(await db.Tag.query().orderBy('id').limit(2).fetch()).toEqual(rows)
    const error = await new Promise((resolve) => db.Tag.query().where('nope' as 'name', 1 as never).execute((e) => resolve(e)))
    expect(error).toMatchObject({ name: 'AsyncOrmError', code: 'BAD_REQUEST' })
  })
})
}
