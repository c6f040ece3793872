/**
 * The API's description (`describe: true`): the models a caller may read, their relations
 * into models it may read and the foreign keys between them, riding on read-only answers;
 * nothing about what the caller may not read, and never on a request that writes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expose } from '../../executor/index.js'
import { api } from '../../examples/demo/api.js'
import { Author, Tag } from '../../examples/demo/models.js'
import { DATABASE_KINDS } from '../support/databases.js'
import { DEMO_DESCRIPTION, openDemo, tokenFor, type Demo } from '../support/demo.js'

/** The demo's API with tags readable by admins only, and authors writable but not readable. */
const restricted = {
  ...api,
  Tag: expose(Tag, { read: { allow: ['admin'], columns: ['id', 'name'] }, relations: ['posts'] }),
  Author: expose(Author, { update: { columns: ['bio'], where: () => ({}) }, relations: ['profile', 'posts', 'comments'] }),
}

describe.each(DATABASE_KINDS)('the API description on %s', (kind) => {
  let demo: Demo
  let strict: Demo
  let silent: Demo
  beforeAll(async () => {
    ;[demo, strict, silent] = await Promise.all([openDemo(kind), openDemo(kind, { api: restricted }), openDemo(kind, { describe: false })])
  })
  afterAll(() => Promise.all([demo?.close(), strict?.close(), silent?.close()]))

  const admin = async () => ({ authorization: `Bearer ${await tokenFor(1n, { role: 'admin' })}` })

  it('answers a request that asks for nothing else', async () => {
    const { status, body } = await demo.post({ v: 1, queries: [], describe: true })
    expect(status).toBe(200)
    expect(body).toEqual({ results: [], api: DEMO_DESCRIPTION })
    expect(Object.keys((body as { api: { models: object } }).api.models).sort()).toEqual(['Author', 'Comment', 'Post', 'Profile', 'Tag'])
  })

  it('rides on the answer to reads, whose results are unchanged', async () => {
    const query = { model: 'Tag', op: 'count' }
    const plain = await demo.post({ v: 1, queries: [query] })
    const described = await demo.post({ v: 1, queries: [query], describe: true })
    expect(described.status).toBe(200)
    expect(described.body).toEqual({ ...(plain.body as object), api: DEMO_DESCRIPTION })
  })

  it('leaves out models the caller may not read, and every relation into them', async () => {
    const anonymous = await strict.post({ v: 1, queries: [], describe: true })
    const models = (anonymous.body as { api: { models: Record<string, { relations: object; references: string[] }> } }).api.models
    // Tag: admins only; Author: no read grant at all.
    expect(Object.keys(models).sort()).toEqual(['Comment', 'Post', 'Profile'])
    expect(models.Post).toEqual({ relations: { comments: 'Comment' }, references: [] })
    expect(models.Profile).toEqual({ relations: {}, references: [] })
    expect(models.Comment).toEqual({ relations: { post: 'Post' }, references: ['Post'] })
    expect(JSON.stringify(anonymous.body)).not.toMatch(/Tag|Author|tags|author/)

    const asAdmin = await strict.post({ v: 1, queries: [], describe: true }, await admin())
    const adminModels = (asAdmin.body as { api: { models: Record<string, { relations: object }> } }).api.models
    expect(Object.keys(adminModels).sort()).toEqual(['Comment', 'Post', 'Profile', 'Tag'])
    expect(adminModels.Post!.relations).toEqual({ comments: 'Comment', tags: 'Tag' })
  })

  it('is left out by an executor made with describe: false, the reads answered as ever', async () => {
    expect((await silent.post({ v: 1, queries: [], describe: true })).body).toEqual({ results: [] })
    const { status, body } = await silent.post({ v: 1, queries: [{ model: 'Tag', op: 'exists' }], describe: true })
    expect(status).toBe(200)
    expect(body).toEqual({ results: [{ data: true }] })
  })

  it('is refused on a request that writes, which then applies nothing', async () => {
    const before = await demo.knex('tags').count({ n: '*' })
    const { status, body } = await demo.post({ v: 1, queries: [{ model: 'Tag', op: 'insert', rows: [{ name: 'described' }], returning: 'rows' }], describe: true }, await admin())
    expect(status).toBe(400)
    expect(body).toEqual({ error: expect.objectContaining({ code: 'BAD_REQUEST', message: expect.stringMatching(/describe/) }) })
    expect(await demo.knex('tags').count({ n: '*' })).toEqual(before)
  })

  it.each([
    ['describe that is not a boolean', { v: 1, queries: [], describe: 'yes' }],
    ['no queries without describe', { v: 1, queries: [], describe: false }],
    ['an atomic request without queries', { v: 1, queries: [], describe: true, atomic: true }],
    ['a stream that asks for it', { v: 1, queries: [{ model: 'Tag', op: 'select' }], describe: true, stream: true }],
  ])('refuses %s', async (_name, body) => {
    const answer = await demo.post(body)
    expect(answer.status).toBe(400)
    expect(answer.body).toEqual({ error: expect.objectContaining({ code: 'BAD_REQUEST' }) })
  })

  it('authenticates first: a bad token is refused before anything is described', async () => {
    const answer = await demo.post({ v: 1, queries: [], describe: true }, { authorization: 'Bearer not-a-token' })
    expect(answer.status).toBe(401)
    expect(JSON.stringify(answer.body)).not.toMatch(/Post|Author/)
  })
})
