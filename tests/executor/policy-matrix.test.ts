/**
 * The demo's policies as a matrix: each model × operation × role (anonymous, an author,
 * another author, an admin) and the exact outcome on PostgreSQL — allowed, refused
 * (`FORBIDDEN`), or absent (rows the caller cannot reach behave as missing).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AsyncOrmError } from '../../client/index.js'
import { openDemo, type Demo } from '../support/demo.js'

type Outcome = 'ok' | 'forbidden' | 'absent'
type Role = 'anonymous' | 'author' | 'other' | 'admin'
const ROLES: readonly Role[] = ['anonymous', 'author', 'other', 'admin']
const AUTHOR = 1n
const OTHER = 2n
const ADMIN = 3n

describe('policy matrix (PostgreSQL)', () => {
  let demo: Demo
  let ids: { published: number; draft: number; draftTitle: string; comment: number }

  beforeAll(async () => {
    demo = await openDemo('postgres')
    const now = new Date()
    const [published] = await demo.knex('posts').insert({ author_id: AUTHOR, title: 'matrix published', body: 'b', published: true, views: 10, created_at: now }).returning('id')
    const [draft] = await demo.knex('posts').insert({ author_id: AUTHOR, title: 'matrix draft', body: 'b', published: false, views: 0, created_at: now }).returning('id')
    const [comment] = await demo.knex('comments').insert({ post_id: published.id, author_id: AUTHOR, body: 'matrix comment', created_at: now }).returning('id')
    ids = { published: published.id, draft: draft.id, draftTitle: 'matrix draft', comment: comment.id }
  })
  afterAll(() => demo?.close())

  const as = (role: Role) =>
    role === 'anonymous' ? demo.client() : role === 'author' ? demo.client(AUTHOR) : role === 'other' ? demo.client(OTHER) : demo.client(ADMIN, 'admin')

  async function outcome(run: () => PromiseLike<unknown>): Promise<Outcome> {
    try {
      const result = await run()
      const empty = result === undefined || result === null || result === 0 || (Array.isArray(result) && result.length === 0)
      return empty ? 'absent' : 'ok'
    } catch (error) {
      if ((error as AsyncOrmError).code === 'FORBIDDEN') return 'forbidden'
      throw error
    }
  }

  /** Fresh rows for operations that consume them (deletes), made directly in the database. */
  const freshPost = async () =>
    (await demo.knex('posts').insert({ author_id: AUTHOR, title: 'to delete', body: 'b', published: true, views: 0, created_at: new Date() }).returning('id'))[0].id as number
  const freshComment = async () =>
    (await demo.knex('comments').insert({ post_id: ids.published, author_id: AUTHOR, body: 'to delete', created_at: new Date() }).returning('id'))[0].id as number
  const freshTag = async () => (await demo.knex('tags').insert({ name: `matrix-${Math.random()}` }).returning('id'))[0].id as number
  let n = 0

  const MATRIX: [string, (role: Role) => PromiseLike<unknown>, Record<Role, Outcome>][] = [
    ['read a published Post', (r) => as(r).Post.query().findById(ids.published), { anonymous: 'ok', author: 'ok', other: 'ok', admin: 'ok' }],
    ['read a draft Post', (r) => as(r).Post.query().findById(ids.draft), { anonymous: 'absent', author: 'absent', other: 'absent', admin: 'ok' }],
    ['count drafts', (r) => as(r).Post.query().where('published', false).count(), { anonymous: 'absent', author: 'absent', other: 'absent', admin: 'ok' }],
    ['aggregate Posts', (r) => as(r).Post.query().where('published', false).count('* as n').then((rows) => rows[0]!.n), { anonymous: 'absent', author: 'absent', other: 'absent', admin: 'ok' }],
    ['load a draft through Author.posts', (r) => as(r).Author.query().findById(AUTHOR).withGraphFetched({ posts: (p) => p.where('published', false) }).then((a) => a!.posts), { anonymous: 'absent', author: 'absent', other: 'absent', admin: 'ok' }],
    ['filter Authors through a draft', (r) => as(r).Author.query().whereExists('posts', (p) => p.where('title', ids.draftTitle)), { anonymous: 'absent', author: 'absent', other: 'absent', admin: 'ok' }],
    ['insert a Post', (r) => as(r).Post.query().insert({ title: `t${n++}`, body: 'b', published: true }), { anonymous: 'forbidden', author: 'ok', other: 'ok', admin: 'ok' }],
    ['patch the author’s Post', (r) => as(r).Post.query().where('id', ids.published).patch({ body: `edited by ${r}` }), { anonymous: 'forbidden', author: 'ok', other: 'absent', admin: 'absent' }],
    ['delete the author’s Post', async (r) => as(r).Post.query().deleteById(await freshPost()), { anonymous: 'forbidden', author: 'ok', other: 'absent', admin: 'ok' }],
    ['read a Comment', (r) => as(r).Comment.query().findById(ids.comment), { anonymous: 'ok', author: 'ok', other: 'ok', admin: 'ok' }],
    ['insert a Comment', (r) => as(r).Comment.query().insert({ postId: ids.published, body: 'hi' }), { anonymous: 'forbidden', author: 'ok', other: 'ok', admin: 'ok' }],
    ['delete the author’s Comment', async (r) => as(r).Comment.query().deleteById(await freshComment()), { anonymous: 'forbidden', author: 'ok', other: 'absent', admin: 'ok' }],
    ['read Tags', (r) => as(r).Tag.query().limit(1), { anonymous: 'ok', author: 'ok', other: 'ok', admin: 'ok' }],
    ['insert a Tag', (r) => as(r).Tag.query().insert({ name: `matrix-${r}-${n++}` }), { anonymous: 'forbidden', author: 'ok', other: 'ok', admin: 'ok' }],
    ['delete a Tag', async (r) => as(r).Tag.query().deleteById(await freshTag()), { anonymous: 'forbidden', author: 'forbidden', other: 'forbidden', admin: 'ok' }],
    ['read an Author', (r) => as(r).Author.query().findById(AUTHOR), { anonymous: 'ok', author: 'ok', other: 'ok', admin: 'ok' }],
    ['patch the author’s bio', (r) => as(r).Author.query().where('id', AUTHOR).patch({ bio: `bio by ${r}` }), { anonymous: 'forbidden', author: 'ok', other: 'absent', admin: 'absent' }],
    ['insert an Author', (r) => as(r).Author.query().insert({} as never), { anonymous: 'forbidden', author: 'forbidden', other: 'forbidden', admin: 'forbidden' }],
    ['delete an Author', (r) => as(r).Author.query().deleteById(AUTHOR, ...([] as unknown as [never])), { anonymous: 'forbidden', author: 'forbidden', other: 'forbidden', admin: 'forbidden' }],
    ['read a Profile', (r) => as(r).Profile.query().where('authorId', AUTHOR).first(), { anonymous: 'ok', author: 'ok', other: 'ok', admin: 'ok' }],
    ['patch the author’s Profile', (r) => as(r).Profile.query().where('authorId', AUTHOR).patch({ location: `set by ${r}` }), { anonymous: 'forbidden', author: 'ok', other: 'absent', admin: 'absent' }],
    ['call a procedure', (r) => as(r).call('moveViews', { from: ids.published, to: ids.published, views: 1 }).catch((e: AsyncOrmError) => (e.code === 'FORBIDDEN' ? Promise.reject(e) : undefined)), { anonymous: 'forbidden', author: 'ok', other: 'absent', admin: 'absent' }],
  ]

  it.each(MATRIX)('%s', async (_name, run, expected) => {
    const actual: Partial<Record<Role, Outcome>> = {}
    for (const role of ROLES) actual[role] = await outcome(() => run(role))
    expect(actual).toEqual(expected)
  })

  it('left the rows the refused and absent writes aimed at untouched', async () => {
    const post = await demo.knex('posts').where('id', ids.published).first()
    expect(post.body).toBe('edited by author')
    expect((await demo.knex('authors').where('id', 1).first()).bio).toBe('bio by author')
    expect((await demo.knex('profiles').where('author_id', 1).first()).location).toBe('set by author')
  })
})
