/**
 * Found by an attack on the API's description (`describe: true`): it named models whose
 * row policy denies the caller; it rode on a request whose write failed its grant (telling
 * whether a write would pass); its answer was not counted against `maxResponseBytes`.
 * Each class from more than one angle: policies that throw, role lists, grants without
 * reads; writes allowed or not, unknown models, calls, unknown operations, malformed queries.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expose } from '../../executor/index.js'
import { api, type DemoCtx } from '../../examples/demo/api.js'
import { Author, Comment, Tag } from '../../examples/demo/models.js'
import { DATABASE_KINDS } from '../support/databases.js'
import { openDemo, tokenFor, type Demo } from '../support/demo.js'

/** The demo's API with tags readable by admins only, and authors writable but not readable. */
const restricted = {
  ...api,
  Tag: expose(Tag, { read: { allow: ['admin'], columns: ['id', 'name'] }, relations: ['posts'] }),
  Author: expose(Author, { update: { columns: ['bio'], where: () => ({}) }, relations: ['profile', 'posts', 'comments'] }),
  // Open to all by its grant, but its policy denies anonymous callers (it throws without a context).
  Comment: expose(Comment, {
    read: { allow: true, columns: ['id', 'postId', 'body'], where: (ctx: DemoCtx | null) => ({ authorId: ctx!.authorId }) },
    relations: ['post', 'author'],
  }),
}

describe.each(DATABASE_KINDS)('the API description on %s, as an attacker asks for it', (kind) => {
  let demo: Demo
  let strict: Demo
  beforeAll(async () => {
    ;[demo, strict] = await Promise.all([openDemo(kind), openDemo(kind, { api: restricted })])
  })
  afterAll(() => Promise.all([demo?.close(), strict?.close()]))

  const admin = async () => ({ authorization: `Bearer ${await tokenFor(1n, { role: 'admin' })}` })

  it('leaves out models the caller may not read, and every relation into them', async () => {
    const anonymous = await strict.post({ v: 1, queries: [], describe: true })
    const models = (anonymous.body as { api: { models: Record<string, { relations: object; references: string[] }> } }).api.models
    // Tag: admins only; Author: no read grant at all; Comment: its policy denies anonymous callers.
    expect(Object.keys(models).sort()).toEqual(['Post', 'Profile'])
    expect(models.Post).toEqual({ relations: {}, references: [] })
    expect(models.Profile).toEqual({ relations: {}, references: [] })
    expect(JSON.stringify(anonymous.body)).not.toMatch(/Tag|Author|Comment|tags|author|comments/)
    // As a read would: the policy's refusal is the same FORBIDDEN.
    expect((await strict.post({ v: 1, queries: [{ model: 'Comment', op: 'count' }] })).body).toEqual({ results: [{ error: expect.objectContaining({ code: 'FORBIDDEN' }) }] })

    const asAdmin = await strict.post({ v: 1, queries: [], describe: true }, await admin())
    const adminModels = (asAdmin.body as { api: { models: Record<string, { relations: object }> } }).api.models
    // Author: not readable, but the caller holds its update grant (what a write changes is told).
    expect(Object.keys(adminModels).sort()).toEqual(['Author', 'Comment', 'Post', 'Profile', 'Tag'])
    expect(adminModels.Post!.relations).toEqual({ comments: 'Comment', tags: 'Tag' })
    expect(adminModels.Author!.relations).toEqual({ profile: 'Profile', posts: 'Post', comments: 'Comment' })
  })

  it.each([
    ['a write the caller may make', { model: 'Tag', op: 'insert', rows: [{ name: 'described' }], returning: 'rows' }, true],
    ['a write the caller may not make', { model: 'Tag', op: 'insert', rows: [{ name: 'described' }], returning: 'rows' }, false],
    ['a write of an unknown model', { model: 'Nope', op: 'delete', returning: 'count' }, true],
    ['a procedure call', { op: 'call', procedure: 'moveViews', args: { from: 1, to: 2, views: 1 } }, true],
    ['an unknown operation', { model: 'Tag', op: 'truncate' }, true],
    ['a query that is not an object', 'select', true],
  ])('is refused, before anything is checked or applied, on a request with %s', async (_name, query, asAdmin) => {
    const before = await demo.knex('tags').count({ n: '*' })
    const { status, body } = await demo.post({ v: 1, queries: [{ model: 'Tag', op: 'count' }, query], describe: true }, asAdmin ? await admin() : {})
    expect(status).toBe(400)
    expect(body).toEqual({ error: expect.objectContaining({ code: 'BAD_REQUEST', message: expect.stringMatching(/describe/) }) })
    expect(await demo.knex('tags').count({ n: '*' })).toEqual(before)
  })

  it('counts against maxResponseBytes like any answer', async () => {
    const small = await openDemo(kind, { limits: { maxResponseBytes: 300 } })
    try {
      expect((await small.post({ v: 1, queries: [], describe: true })).body).toEqual({ error: expect.objectContaining({ code: 'LIMIT_EXCEEDED' }) })
      expect((await small.post({ v: 1, queries: [{ model: 'Tag', op: 'count' }] })).status).toBe(200)
    } finally {
      await small.close()
    }
  })

})
