/**
 * The MSW kit: the real executor on PGlite inside MSW handlers (policies included), and
 * stubs for full control, both driving the real client through msw/node.
 */
import { setupServer } from 'msw/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient } from '../../client/index.js'
import { api, procedures, type DemoApi, type DemoCtx, type DemoProcedures } from '../../examples/demo/api.js'
import { migrate } from '../../examples/demo/schema.js'
import { closeWith, createOrmMock, ormStubs, type OrmMock } from '../../msw/index.js'
import { api as objectionApi, type AppApi } from '../../examples/objection-app/api.js'
import { knexSettings } from '../../examples/objection-app/knex-config.js'
import { migrate as migrateObjectionApp } from '../../examples/objection-app/schema.js'

const URL = 'http://app.test/orm'
const now = new Date('2025-06-01T12:00:00Z')

describe('createOrmMock: the real executor on PGlite', () => {
  let orm: OrmMock
  const server = setupServer()

  beforeAll(async () => {
    orm = await createOrmMock({
      url: URL,
      api,
      procedures,
      migrate,
      as: { authorId: 1n } satisfies DemoCtx,
      fixtures: {
        Author: [
          { id: 1n, name: 'Ann', email: 'ann@example.com', createdAt: now, meta: { languages: ['en'], verified: true } },
          { id: 2n, name: 'Bob', email: 'bob@example.com', createdAt: now },
        ],
        Post: [
          { id: 1, authorId: 1n, title: 'Published', body: 'b', published: true, views: 10, createdAt: now },
          { id: 2, authorId: 1n, title: 'Draft', body: 'b', published: false, views: 0, createdAt: now, draftNotes: 'secret' },
          { id: 3, authorId: 2n, title: 'Bob writes', body: 'b', published: true, views: 5, createdAt: now },
        ],
        Tag: [{ id: 1, name: 'edge' }],
      },
    })
    server.use(...orm.handlers)
    closeWith(server, orm)
    server.listen({ onUnhandledRequest: 'error' })
  })
  afterAll(() => server.close())

  const db = createClient<DemoApi, DemoProcedures>({ url: URL })

  it('answers reads from the fixtures, under the API’s policies', async () => {
    const posts = await db.Post.query().orderBy('id').withGraphFetched({ author: true })
    expect(posts.map((p) => p.title)).toEqual(['Published', 'Bob writes'])
    expect(posts[0]!.author).toMatchObject({ id: 1n, name: 'Ann' })
    expect(posts[0]).not.toHaveProperty('draftNotes')
    expect(await db.Author.query().findById(1n)).toMatchObject({ meta: { languages: ['en'], verified: true } })
    await expect(db.Author.query().where('email' as 'name', 'x')).rejects.toMatchObject({ code: 'BAD_REQUEST' })
  })

  it('applies writes to the embedded database, as the mocked caller', async () => {
    const post = await db.Post.query().insert({ title: 'New', body: 'b', published: true })
    expect(post).toMatchObject({ id: 4, authorId: 1n })
    expect(await db.Post.query().where('id', 3).patch({ title: 'not mine' })).toBe(0)
    const [tag] = await db.transaction((t) => [t.Tag.query().insert({ name: 'mocked' }), t.Tag.query().count()])
    expect(tag.id).toBe(2)
    expect((await orm.knex('posts').where('id', 4).first()).title).toBe('New')
  })

  it('streams rows through the handlers, as the executor does', async () => {
    const streamed: { id: number; title: string }[] = []
    for await (const post of db.Post.query().select('id', 'title').orderBy('id').stream()) streamed.push(post)
    expect(streamed).toEqual(await db.Post.query().select('id', 'title').orderBy('id'))
    expect(streamed.length).toBeGreaterThan(0)
  })

  it('records the queries the client sent', () => {
    expect(orm.queries.some((q) => q.op === 'insert' && q.model === 'Post')).toBe(true)
    expect(orm.queries.find((q) => q.op === 'patch')).toMatchObject({ model: 'Post', values: { title: 'not mine' } })
  })
})

describe('ormStubs: chosen answers, errors and delays', () => {
  const stubs = ormStubs({ url: URL })
  const server = setupServer(stubs.handler)
  beforeAll(() => server.listen({ onUnhandledRequest: 'error' }))
  afterAll(() => server.close())
  const db = createClient<DemoApi, DemoProcedures>({ url: URL, retry: 0 })

  it('answers models and operations with data, errors or a function of the query', async () => {
    stubs
      .answer('Tag', 'select', [{ id: 1, name: 'stubbed' }])
      .answer('Tag', 'count', 42)
      .fail('Post', 'insert', 'CONFLICT', 'a row with the same title already exists')
      .answer('Author', 'first', (query: { op: string }) => ({ id: 7n, name: `answered ${query.op}` }))
      .answer('moveViews', 'call', { moved: 3 })
    const [tags, count, author, moved] = await Promise.all([
      db.Tag.query(),
      db.Tag.query().count(),
      db.Author.query().findById(7n),
      db.call('moveViews', { from: 1, to: 2, views: 3 }),
    ])
    expect(tags).toEqual([{ id: 1, name: 'stubbed' }])
    expect(count).toBe(42)
    expect(author).toEqual({ id: 7n, name: 'answered first' })
    expect(moved).toEqual({ moved: 3 })
    await expect(db.Post.query().insert({ title: 't', body: 'b', published: true })).rejects.toMatchObject({ code: 'CONFLICT', status: 409 })
    await expect(db.Comment.query()).rejects.toMatchObject({ code: 'BAD_REQUEST', message: 'no stub answers Comment.select' })
  })

  it('lets a test inspect what was sent, batched and atomic', async () => {
    stubs.reset()
    stubs.answer('Tag', '*', [])
    await Promise.all([db.Tag.query().where('name', 'a'), db.Tag.query().limit(1)])
    expect(stubs.requests).toHaveLength(1)
    expect(stubs.queries).toEqual([
      { model: 'Tag', op: 'select', where: { kind: 'compare', column: 'name', op: '=', value: 'a' } },
      { model: 'Tag', op: 'select', limit: 1 },
    ])
    stubs.fail('Tag', 'insert', 'CONFLICT')
    await expect(db.transaction((t) => [t.Tag.query().where('id', 1), t.Tag.query().insert({ name: 'x' })])).rejects.toMatchObject({ queryIndex: 1, code: 'CONFLICT' })
    expect(stubs.requests.at(-1)!.atomic).toBe(true)
  })

  it('answers a stream with the stubbed rows, or refuses it with the stubbed error', async () => {
    stubs.reset()
    const rows = Array.from({ length: 2_500 }, (_, i) => ({ id: i, name: `tag ${i}` }))
    stubs.answer('Tag', 'select', rows).fail('Author', 'select', 'FORBIDDEN', 'stubbed refusal')
    const streamed: unknown[] = []
    for await (const tag of db.Tag.query().stream()) streamed.push(tag)
    expect(streamed).toEqual(rows)
    expect(stubs.requests.at(-1)!.stream).toBe(true)
    const refused = (async () => {
      for await (const author of db.Author.query().stream()) throw new Error(`no row expected, got ${author.name}`)
    })()
    await expect(refused).rejects.toMatchObject({ code: 'FORBIDDEN', status: 403 })
  })

  it('delays answers, so loading states can be tested and cancelled', async () => {
    stubs.reset()
    stubs.answer('Tag', 'select', []).delay('Tag', 'select', 200)
    const started = Date.now()
    await db.Tag.query()
    expect(Date.now() - started).toBeGreaterThanOrEqual(180)
    const controller = new AbortController()
    const pending = db.Tag.query().fetch({ signal: controller.signal })
    controller.abort()
    await expect(pending).rejects.toMatchObject({ code: 'ABORTED' })
  })
})

describe('createOrmMock’s fixtures', () => {
  it('refuses a fixture row without a required column, naming the model and the column', async () => {
    await expect(
      createOrmMock({ url: URL, api, migrate, fixtures: { Tag: [{ id: 1 }] } }),
    ).rejects.toThrow(/fixtures\.Tag could not be inserted into tags: .*\(column name: give every row a value for it\)/)
  })
})

describe('createOrmMock for an app that maps column names in knex', () => {
  it('takes the app’s knex settings: fixtures and queries in camelCase, tables in snake_case', async () => {
    const orm = await createOrmMock({
      url: 'http://objection-app.test/orm',
      api: objectionApi,
      migrate: migrateObjectionApp,
      knex: knexSettings,
      fixtures: { Person: [{ id: 1, firstName: 'Jennifer', lastName: 'Lawrence', createdAt: now }], Animal: [{ id: 1, name: 'Fluffy', species: 'dog', ownerId: 1 }] },
    })
    const server = closeWith(setupServer(...orm.handlers), orm)
    server.listen({ onUnhandledRequest: 'error' })
    try {
      const app = createClient<AppApi>({ url: 'http://objection-app.test/orm' })
      const people = await app.Person.query().select('id', 'firstName').withGraphFetched({ pets: true })
      expect(people).toEqual([expect.objectContaining({ id: 1, firstName: 'Jennifer', pets: [expect.objectContaining({ name: 'Fluffy', ownerId: 1 })] })])
      expect(await orm.knex.raw('select first_name from persons')).toMatchObject({ rows: [{ first_name: 'Jennifer' }] })
    } finally {
      server.close()
    }
  })
})

/** Fixtures are typed from the API: a model or a column it does not have is a compile error. */
export function typedFixtures(): void {
  void createOrmMock({
    url: URL,
    api,
    migrate,
    fixtures: {
      Tag: [{ id: 1, name: 'edge' }],
      // @ts-expect-error -- Post has no column `titel`
      Post: [{ id: 1, titel: 'typo' }],
    },
  })
  void createOrmMock({
    url: URL,
    api,
    migrate,
    // @ts-expect-error -- the API exposes no model `Tags`
    fixtures: { Tags: [{ id: 1 }] },
  })
}
