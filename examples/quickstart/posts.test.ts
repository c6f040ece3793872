/**
 * Testing client code with no server: the real executor inside MSW, on an embedded
 * PGlite database made by the app's own migrations and seeded from fixtures.
 */
import { closeWith, createOrmMock } from 'async-orm/msw'
import { setupServer } from 'msw/node'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { api } from './api.js'
import { connect } from './client.js'
import { migrate } from './migrations.js'

const orm = await createOrmMock({
  url: 'http://localhost/orm', // what the app's createClient({ url }) calls
  api,
  migrate, // (knex) => knex.migrate.latest(…), or any DDL
  fixtures: {
    User: [{ id: 1, orgId: 1, name: 'Ann', email: 'ann@example.com' }],
    Post: [{ id: 1, authorId: 1, title: 'Hi', body: 'Hello there' }],
  },
  as: { userId: 1, orgId: 1 }, // the caller every request is made as, typed from the policies (or pass `auth`)
})
const server = closeWith(setupServer(...orm.handlers), orm) // server.close() also closes PGlite
beforeAll(() => server.listen())
afterAll(() => server.close())

const db = connect('http://localhost/orm', () => 'unused: the mock signs every request in as `as`')

it('reads the user’s posts through the real executor and its policies', async () => {
  const user = await db.User.query().findById(1).withGraphFetched({ posts: true })
  expect(user?.posts?.map((post) => post.title)).toEqual(['Hi'])
  expect(user?.posts?.[0]).not.toHaveProperty('draftNotes') // hidden by the API
  expect(orm.queries[0]).toMatchObject({ model: 'User', op: 'first' }) // the AST it sent
})

it('writes as the caller: the API sets the author', async () => {
  const post = await db.Post.query().insert({ title: 'Second', body: 'More' })
  expect(post.authorId).toBe(1)
  const [counted] = await orm.knex('posts').count({ n: '*' }) // the database itself
  expect(Number(counted?.n)).toBe(2)
})
