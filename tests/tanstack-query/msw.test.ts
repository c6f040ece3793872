/**
 * Component tests of TanStack Query screens with MSW, as the README's testing section
 * sets them up: `createOrmMock` (the real executor, which describes its API) invalidates
 * exactly; `ormStubs` (no executor, no description) invalidates by the conservative rule,
 * and asks for the description only once.
 */
import { MutationObserver, QueryClient, QueryObserver } from '@tanstack/query-core'
import { setupServer } from 'msw/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient } from '../../client/index.js'
import { api, type DemoApi, type DemoCtx } from '../../examples/demo/api.js'
import { migrate } from '../../examples/demo/schema.js'
import { createOrmMock, ormStubs } from '../../msw/index.js'
import { mutationOptions, queryOptions, type Readable } from '../../tanstack-query/index.js'

const URL = 'http://app.test/orm'
const now = new Date('2025-06-01T12:00:00Z')
const server = setupServer()
beforeAll(() => server.listen({ onUnhandledRequest: 'error' }))
afterAll(() => server.close())

/** Mounts querysets as observers of a fresh QueryClient; resolves once all have data. */
async function mount(queryClient: QueryClient, querysets: Record<string, Readable<unknown>>) {
  const observers = Object.entries(querysets).map(([name, qs]) => {
    const observer = new QueryObserver(queryClient, queryOptions(qs))
    observer.subscribe(() => undefined)
    return [name, observer] as const
  })
  await idle(queryClient)
  return Object.fromEntries(observers)
}

async function idle(queryClient: QueryClient) {
  for (let i = 0; i < 300 && (queryClient.isFetching() > 0 || queryClient.isMutating() > 0); i++) await new Promise((r) => setTimeout(r, 10))
  await new Promise((r) => setTimeout(r, 20))
  expect(queryClient.isFetching()).toBe(0)
}

describe('with createOrmMock', () => {
  it('refetches exactly the queries that read the written model', async () => {
    const orm = await createOrmMock({
      url: URL,
      api,
      migrate,
      as: { authorId: 1n } satisfies DemoCtx,
      fixtures: {
        Author: [{ id: 1n, name: 'Ann', email: 'ann@example.com', createdAt: now }],
        Post: [{ id: 1, authorId: 1n, title: 'First', body: 'b', published: true, views: 0, createdAt: now }],
        Tag: [{ id: 1, name: 'edge' }],
      },
    })
    server.use(...orm.handlers)
    try {
      const db = createClient<DemoApi>({ url: URL })
      const queryClient = new QueryClient()
      await mount(queryClient, {
        authors: db.Author.query().withGraphFetched({ posts: true }),
        tagged: db.Tag.query().whereExists(db.Tag.relatedQuery('posts')),
        profiles: db.Profile.query(),
      })
      const sent = orm.queries.length
      await new MutationObserver(queryClient, mutationOptions((title: string) => db.Post.query().insert({ title, body: '', published: true }))).mutate('Second')
      const after = orm.queries.slice(sent)
      expect(after.map((q) => `${q.op === 'call' ? q.procedure : q.model}.${q.op}`)).toEqual(['Post.insert', 'Author.select', 'Tag.select'])
      const authors = queryClient.getQueryData(queryOptions(db.Author.query().withGraphFetched({ posts: true })).queryKey)
      expect(authors?.[0]?.posts.map((p) => p.title)).toEqual(['First', 'Second'])
    } finally {
      server.resetHandlers()
      await orm.close()
    }
  })
})

describe('with ormStubs, which do not describe the API', () => {
  it('refetches the written model’s queries and every query through a relation, and asks once', async () => {
    const stubs = ormStubs({ url: URL })
      .answer('Author', 'select', [{ id: 1n, name: 'Ann', posts: [] }])
      .answer('Tag', 'select', [{ id: 1, name: 'edge' }])
      .answer('Post', 'count', 3)
      .answer('Post', 'insert', { id: 4, title: 'new' })
    server.use(stubs.handler)
    try {
      const db = createClient<DemoApi>({ url: URL })
      const queryClient = new QueryClient()
      await mount(queryClient, {
        authorsWithPosts: db.Author.query().withGraphFetched({ posts: true }),
        tags: db.Tag.query(),
        posts: db.Post.query().resultSize(),
      })
      expect(stubs.requests).toHaveLength(1)
      const addPost = new MutationObserver(queryClient, mutationOptions((title: string) => db.Post.query().insert({ title })))
      for (const title of ['a', 'b']) {
        const sent = stubs.requests.length
        await addPost.mutate(title)
        await idle(queryClient)
        // The insert, then the post count and (through a relation the stubs cannot name) the authors; never the tags.
        expect(stubs.requests.slice(sent).map((r) => r.queries.map((q) => `${q.op === 'call' ? q.procedure : q.model}.${q.op}`))).toEqual([['Post.insert'], ['Author.select', 'Post.count']])
      }
    } finally {
      server.resetHandlers()
    }
  })
})
