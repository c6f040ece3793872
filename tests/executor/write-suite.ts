/**
 * Writes, batches, transactions and procedures end to end (typed client → executor →
 * PostgreSQL / PGlite), each outcome checked in the database itself.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { AsyncOrmError } from '../../client/index.js'
import { DATABASE_KINDS, type DatabaseKind } from '../support/databases.js'
import { openDemo, type Demo } from '../support/demo.js'

export function writeSuite(mappers: 'model' | 'knex', kinds: readonly DatabaseKind[] = DATABASE_KINDS): void {
describe.each(kinds)(`writes on %s, columns mapped by the ${mappers === 'model' ? 'models' : 'knex config'}`, (kind) => {
  let demo: Demo
  const ann = 1n
  const bob = 2n

  beforeAll(async () => {
    demo = await openDemo(kind, { mappers })
  })
  afterAll(() => demo?.close())
  beforeEach(() => {
    demo.sql.length = 0
  })

  const count = async (table: string, where: Record<string, unknown> = {}) =>
    Number(((await demo.knex(table).where(where).count({ n: '*' })) as [{ n: string }])[0].n)
  const writes = () => demo.sql.filter((sql) => /^(insert|update|delete)/i.test(sql))

  it('inserts one row and returns its readable columns, with presets from the context', async () => {
    const db = demo.client(ann)
    const post = await db.Post.query().insert({ title: 'Hello', body: 'First!', published: true })
    expect(post).toMatchObject({ title: 'Hello', body: 'First!', published: true, authorId: ann, views: 0 })
    expect(typeof post.id).toBe('number')
    expect(post.createdAt).toBeInstanceOf(Date)
    expect(post).not.toHaveProperty('draftNotes')
    const row = await demo.knex('posts').where('id', post.id).first()
    expect(row).toMatchObject({ title: 'Hello', views: 0 })
    expect(row.author_id ?? row.authorId).toBe('1')
  })

  it('inserts several rows and returns them in order', async () => {
    const tags = await demo.client(ann).Tag.query().insert([{ name: `many-1-${kind}` }, { name: `many-2-${kind}` }])
    expect(tags.map((t) => t.name)).toEqual([`many-1-${kind}`, `many-2-${kind}`])
    expect(await count('tags', { name: `many-1-${kind}` })).toBe(1)
  })

  it('refuses values of the wrong type before running anything', async () => {
    const db = demo.client(ann)
    const cases = [
      db.Comment.query().insert({ postId: 'abc' as never, body: 'x' }),
      db.Comment.query().insert({ postId: 1.5, body: 'x' }),
      db.Post.query().insert({ title: { $gt: '' } as never, body: 'x', published: true }),
      db.Post.query().insert({ title: 'x', body: 'x', published: 'yes' as never }),
      db.Comment.query().insert({ postId: 2 ** 40, body: 'x' }),
      db.Post.query().insert({ title: 'x', body: 'x', published: true, views: 5 } as never),
      db.Post.query().insert({ title: 'x', body: 'x', published: true, authorId: bob } as never),
    ]
    for (const insert of cases) {
      const error = (await insert.catch((e: unknown) => e)) as AsyncOrmError
      expect(error.code, JSON.stringify(insert.toJSON(), (_k, v) => (typeof v === 'bigint' ? String(v) : v))).toBe('BAD_REQUEST')
    }
    expect(demo.sql).toEqual([])
  })

  it('refuses writes the policy does not grant, writing nothing', async () => {
    const anonymous = demo.client()
    const before = await count('posts')
    await expect(anonymous.Post.query().insert({ title: 'x', body: 'x', published: true })).rejects.toMatchObject({ code: 'FORBIDDEN' })
    await expect(demo.client(ann).Author.query().insert({} as never)).rejects.toMatchObject({ code: 'FORBIDDEN' })
    await expect(demo.client(ann).Tag.query().where('id', 1).delete()).rejects.toMatchObject({ code: 'FORBIDDEN', message: 'deleting Tag is not allowed' })
    expect(await count('posts')).toBe(before)
    expect(writes()).toEqual([])
  })

  it('rolls back a write whose row fails the policy check', async () => {
    const before = await count('posts')
    await expect(demo.client(ann).Post.query().insert({ title: '   ', body: 'x', published: true })).rejects.toMatchObject({
      code: 'FORBIDDEN',
      message: 'a written Post row does not pass the policy check',
    })
    expect(await count('posts')).toBe(before)
  })

  it('patches only rows the caller may change; others behave as absent', async () => {
    const db = demo.client(ann)
    const own = await db.Post.query().insert({ title: 'Mine', body: 'b', published: true })
    const [other] = await demo.knex('posts').where({ author_id: 2, published: true }).select('id').limit(1)
    expect(await db.Post.query().where('id', own.id).patch({ title: 'Mine, edited' })).toBe(1)
    expect(await db.Post.query().where('id', other.id).patch({ title: 'Hijacked' })).toBe(0)
    expect(await db.Post.query().patchAndFetchById(other.id, { title: 'Hijacked' })).toBeUndefined()
    const fetched = await db.Post.query().patchAndFetchById(own.id, { body: 'new body' })
    expect(fetched).toMatchObject({ id: own.id, title: 'Mine, edited', body: 'new body' })
    const returned = await db.Post.query().where('id', own.id).patch({ published: true }).returning('id', 'title')
    expect(returned).toEqual([{ id: own.id, title: 'Mine, edited' }])
    expect((await demo.knex('posts').where('id', other.id).first()).title).not.toBe('Hijacked')
  })

  it('update replaces every updatable column; patch may change some', async () => {
    const db = demo.client(ann)
    const own = await db.Post.query().insert({ title: 'Whole', body: 'b', published: true })
    await expect(db.Post.query().where('id', own.id).update({ title: 'only title' } as never)).rejects.toMatchObject({ code: 'BAD_REQUEST' })
    const updated = await db.Post.query().updateAndFetchById(own.id, { title: 'T', body: 'B', published: true })
    expect(updated).toMatchObject({ title: 'T', body: 'B', published: true })
  })

  it('refuses patch and delete without a filter', async () => {
    const db = demo.client(ann)
    await expect(db.Post.query().patch({ title: 'all' })).rejects.toMatchObject({ code: 'BAD_REQUEST', message: 'patch without a filter would change every Post row; it is not allowed' })
    await expect(db.Comment.query().delete()).rejects.toMatchObject({ code: 'BAD_REQUEST' })
    expect(writes()).toEqual([])
  })

  it('deletes only the caller’s rows and reports counts', async () => {
    const db = demo.client(ann)
    const post = await db.Post.query().insert({ title: 'Short-lived', body: 'b', published: true })
    const comment = await db.Comment.query().insert({ postId: post.id, body: 'bye' })
    expect(comment.authorId).toBe(ann)
    const [others] = await demo.knex('comments').whereNot('author_id', 1).select('id').limit(1)
    expect(await db.Comment.query().deleteById(others.id)).toBe(0)
    expect(await db.Comment.query().deleteById(comment.id)).toBe(1)
    expect(await db.Post.query().where('id', post.id).delete().returning('id')).toEqual([{ id: post.id }])
    expect(await count('posts', { id: post.id })).toBe(0)
  })

  it('maps constraint violations to CONFLICT naming columns, never values or SQL', async () => {
    const db = demo.client(ann)
    const duplicate = (await db.Tag.query().insert({ name: 'typescript' }).catch((e: unknown) => e)) as AsyncOrmError
    expect(duplicate).toMatchObject({ code: 'CONFLICT', status: 409, message: 'a row with the same name already exists' })
    const missing = (await db.Comment.query().insert({ postId: 999_999, body: 'x' }).catch((e: unknown) => e)) as AsyncOrmError
    expect(missing).toMatchObject({ code: 'CONFLICT', message: 'postId does not refer to an existing row' })
    const [referenced] = await demo.knex('posts').where({ author_id: 1 }).whereExists(demo.knex('comments').whereRaw('comments.post_id = posts.id')).select('id').limit(1)
    const still = (await db.Post.query().deleteById(referenced.id).catch((e: unknown) => e)) as AsyncOrmError
    expect(still).toMatchObject({ code: 'CONFLICT' })
    expect(still.message).not.toMatch(/insert|delete|select|999999|typescript/i)
  })

  it('upserts: ignore skips conflicts, merge needs the update grant and honours its policy', async () => {
    const db = demo.client(ann)
    expect(await db.Tag.query().insert({ name: 'edge' }).onConflict('name').ignore()).toBeUndefined()
    await expect(db.Tag.query().insert({ name: 'edge' }).onConflict('name').merge()).rejects.toMatchObject({ code: 'FORBIDDEN' })
    const author = 3n // authors whose id is a multiple of 3 have no profile yet
    const mine = demo.client(author)
    const created = await mine.Profile.query().insert({ website: 'https://a.example', location: 'Here' }).onConflict('authorId').merge()
    expect(created).toMatchObject({ authorId: author, website: 'https://a.example' })
    const merged = await mine.Profile.query().insert({ website: 'https://b.example', location: 'There' }).onConflict('authorId').merge('website')
    expect(merged).toMatchObject({ id: created.id, website: 'https://b.example', location: 'Here' })
    expect(await count('profiles', { author_id: 3 })).toBe(1)
  })

  it('inserts graphs through exposed relations under each related model’s grant', async () => {
    const db = demo.client(ann)
    const post = await db.Post.query().insertGraph({
      title: 'Graph',
      body: 'with relations',
      published: true,
      tags: [{ name: `graph-${kind}-a` }, { name: `graph-${kind}-b` }],
      comments: [{ body: 'first comment' }, { body: 'second comment' }],
    })
    expect(post).toMatchObject({ title: 'Graph', authorId: ann })
    expect((post.tags as { name: string }[]).map((t) => t.name)).toEqual([`graph-${kind}-a`, `graph-${kind}-b`])
    expect(await count('post_tags', { post_id: post.id })).toBe(2)
    expect(await count('comments', { post_id: post.id, author_id: 1 })).toBe(2)
    const loaded = await db.Post.query().findById(post.id).withGraphFetched({ tags: true, comments: true })
    expect(loaded!.tags).toHaveLength(2)
    expect(loaded!.comments).toHaveLength(2)

    await expect(db.Post.query().insertGraph({ title: 'x', body: 'x', published: true, author: { name: 'Eve' } } as never)).rejects.toMatchObject({ code: 'FORBIDDEN' })
    for (const key of ['#id', '#ref', '#dbRef']) {
      await expect(db.Post.query().insertGraph({ title: 'x', body: 'x', published: true, tags: [{ [key]: 'a' }] } as never)).rejects.toMatchObject({ code: 'BAD_REQUEST' })
    }
  })

  it('runs a transaction in one request, later queries using earlier results', async () => {
    const db = demo.client(ann)
    const before = db.requests
    const [post, comment, tag] = await db.transaction((t) => [
      t.Post.query().insert({ title: 'In a transaction', body: 'b', published: true }),
      t.Comment.query().insert({ postId: t.ref(0, 'id'), body: 'on the new post' }),
      t.Tag.query().insert({ name: `tx-${kind}` }),
    ])
    expect(db.requests - before).toBe(1)
    expect(comment.postId).toBe(post.id)
    expect(tag.name).toBe(`tx-${kind}`)
  })

  it('applies nothing when a query of a transaction fails, and says which', async () => {
    const db = demo.client(ann)
    const posts = await count('posts')
    const error = (await db
      .transaction((t) => [
        t.Post.query().insert({ title: 'Never', body: 'b', published: true }),
        t.Comment.query().insert({ postId: t.ref(0, 'id'), body: 'never either' }),
        t.Tag.query().insert({ name: 'typescript' }),
      ])
      .catch((e: unknown) => e)) as AsyncOrmError
    expect(error).toMatchObject({ code: 'CONFLICT', queryIndex: 2 })
    expect(error.message).toBe('transaction query 2: a row with the same name already exists')
    expect(await count('posts')).toBe(posts)
    expect(await count('posts', { title: 'Never' })).toBe(0)
  })

  it('refuses refs that point forward or at a missing column', async () => {
    const db = demo.client(ann)
    await expect(db.transaction((t) => [t.Comment.query().insert({ postId: t.ref(1, 'id'), body: 'x' }), t.Tag.query().where('id', 1)])).rejects.toMatchObject({ code: 'BAD_REQUEST', queryIndex: 0 })
    await expect(db.transaction((t) => [t.Tag.query().where('id', 1).first(), t.Comment.query().insert({ postId: t.ref(0, 'nope'), body: 'x' })])).rejects.toMatchObject({ code: 'BAD_REQUEST', queryIndex: 1 })
  })

  it('lets each query of a plain batch succeed or fail on its own', async () => {
    const db = demo.client(ann)
    const before = db.requests
    const [first, second, third] = await Promise.allSettled([
      db.Tag.query().insert({ name: `batch-${kind}-1` }),
      db.Tag.query().insert({ name: 'typescript' }),
      db.Tag.query().insert({ name: `batch-${kind}-3` }),
    ])
    expect(db.requests - before).toBe(1)
    expect(first.status).toBe('fulfilled')
    expect(second.status === 'rejected' && second.reason).toMatchObject({ code: 'CONFLICT' })
    expect(third.status).toBe('fulfilled')
    expect(await count('tags', { name: `batch-${kind}-1` })).toBe(1)
    expect(await count('tags', { name: `batch-${kind}-3` })).toBe(1)
  })

  it('calls procedures with checked arguments, inside the transaction', async () => {
    const db = demo.client(ann)
    const [a, b] = await demo.knex('posts').where({ author_id: 1 }).where('views', '>', 10).orderBy('id').select('id', 'views').limit(2)
    expect(await db.call('moveViews', { from: a.id, to: b.id, views: 5 })).toEqual({ moved: 5 })
    expect((await demo.knex('posts').where('id', a.id).first()).views).toBe(a.views - 5)
    await expect(db.call('moveViews', { from: a.id, to: b.id, views: -1 })).rejects.toMatchObject({ code: 'BAD_REQUEST' })
    await expect(db.call('moveViews', { from: a.id, to: 999_999, views: 1 })).rejects.toMatchObject({ code: 'FORBIDDEN' })
    // The failed call above rolled back its decrement too.
    expect((await demo.knex('posts').where('id', a.id).first()).views).toBe(a.views - 5)
    await expect(demo.client().call('moveViews', { from: a.id, to: b.id, views: 1 })).rejects.toMatchObject({ code: 'FORBIDDEN' })
    const error = (await db
      .transaction((t) => [t.call('moveViews', { from: a.id, to: b.id, views: 1 }), t.Tag.query().insert({ name: 'typescript' })])
      .catch((e: unknown) => e)) as AsyncOrmError
    expect(error.queryIndex).toBe(1)
    expect((await demo.knex('posts').where('id', a.id).first()).views).toBe(a.views - 5)
  })
})
}
