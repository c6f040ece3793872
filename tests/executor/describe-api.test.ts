/**
 * The API's description (`describe: true`): the models a caller may read, their relations
 * into models it may read and the foreign keys between them, riding on read-only answers;
 * nothing about what the caller may not read, and never on a request that writes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Model } from 'objection'
import { createExecutor, expose } from '../../executor/index.js'
import { decode, encodeRequest } from '../../shared/wire.js'
import { api } from '../../examples/demo/api.js'
import { Author, Comment, Tag } from '../../examples/demo/models.js'
import type { DemoCtx } from '../../examples/demo/api.js'
import { DATABASE_KINDS, openDatabase, type TestDatabase } from '../support/databases.js'
import { DEMO_DESCRIPTION, openDemo, tokenFor, type Demo } from '../support/demo.js'

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

  it('is left out by an executor made with describe: false, the reads answered as ever', async () => {
    expect((await silent.post({ v: 1, queries: [], describe: true })).body).toEqual({ results: [] })
    const { status, body } = await silent.post({ v: 1, queries: [{ model: 'Tag', op: 'exists' }], describe: true })
    expect(status).toBe(200)
    expect(body).toEqual({ results: [{ data: true }] })
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

describe.each(DATABASE_KINDS)('foreign keys in the description on %s', (kind) => {
  let database: TestDatabase
  beforeAll(async () => {
    database = await openDatabase(kind)
    // A new schema builder for each table (one builder runs every statement it holds).
    const schema = () => database.knex.schema
    await schema().createTable('orgs', (t) => t.increments('id'))
    // Not exposed, and not a relation of any model: the chain runs through it all the same.
    await schema().createTable('teams', (t) => {
      t.increments('id')
      t.integer('org_id').references('orgs.id').onDelete('cascade')
    })
    await schema().createTable('members', (t) => {
      t.increments('id')
      t.integer('team_id').references('teams.id').onDelete('cascade')
    })
    await schema().createTable('badges', (t) => {
      t.increments('id')
      t.integer('member_id').references('members.id').onDelete('set null')
    })
    await schema().createTable('notes', (t) => t.increments('id'))
  })
  afterAll(() => database?.close())

  class Org extends Model {
    declare id: number
    static override tableName = 'orgs'
  }
  class Member extends Model {
    declare id: number
    static override tableName = 'members'
  }
  class Badge extends Model {
    declare id: number
    static override tableName = 'badges'
  }
  class Note extends Model {
    declare id: number
    static override tableName = 'notes'
  }
  /** A second model over the members table. */
  class Crew extends Model {
    declare id: number
    static override tableName = 'members'
  }

  it('names, for each model, the models whose rows its rows point at, through any tables', async () => {
    const api = {
      Org: expose(Org, { read: { allow: true, columns: ['id'] } }),
      Member: expose(Member, { read: { allow: true, columns: ['id'] } }),
      Badge: expose(Badge, { read: { allow: true, columns: ['id'] } }),
      Note: expose(Note, { read: { allow: true, columns: ['id'] } }),
      Crew: expose(Crew, { insert: { allow: true, columns: ['id'] } }),
    }
    const executor = createExecutor({ knex: database.knex, api, logger: { error() {} } })
    const response = await executor(new Request('http://test.local/orm', { method: 'POST', headers: { 'content-type': 'application/json' }, body: encodeRequest({ v: 1, queries: [], describe: true }) }))
    expect(decode(await response.text())).toEqual({
      results: [],
      api: {
        models: {
          Org: { relations: {}, references: [] },
          Member: { relations: {}, references: ['Org'], sameTable: ['Crew'] },
          Badge: { relations: {}, references: ['Crew', 'Member', 'Org'] },
          Note: { relations: {}, references: [] },
          // Write-only for this caller: described, so that its writes invalidate the members' readers.
          Crew: { relations: {}, references: ['Org'], sameTable: ['Member'] },
        },
      },
    })
  })
})
