/**
 * `async-orm/tanstack-query` with `@tanstack/query-core` itself (no framework), against the
 * real executor on each test database: keys, typed options, the query's signal, pages,
 * and invalidation after writes by the models each query reads.
 */
import { dehydrate, hashKey, hydrate, InfiniteQueryObserver, MutationObserver, QueryClient, QueryObserver, type QueryObserverResult } from '@tanstack/query-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { AsyncOrmError, createClient, type Client } from '../../client/index.js'
import { api, type DemoApi, type DemoProcedures } from '../../examples/demo/api.js'
import { Tag } from '../../examples/demo/models.js'
import { expose } from '../../executor/index.js'
import SuperJSON from 'superjson'
import { decode, encode, type RequestBody } from '../../shared/wire.js'
import { infiniteQueryOptions, mutationOptions, queryOptions, type Readable } from '../../tanstack-query/index.js'
import { DATABASE_KINDS } from '../support/databases.js'
import { openDemo, tokenFor, type Demo } from '../support/demo.js'
import { linkOf } from '../../client/client-link.js'
import { watchOf } from '../../tanstack-query/client-watch.js'

const URL = 'http://test.local/orm'

/** A client of the demo's executor that keeps every request it sends, decoded. */
function recordingClient(demo: Demo, authorId?: bigint): { db: Client<DemoApi, DemoProcedures>; requests: RequestBody[] } {
  const requests: RequestBody[] = []
  const db = createClient<DemoApi, DemoProcedures>({
    url: URL,
    ...(authorId !== undefined && { headers: async () => ({ authorization: `Bearer ${await tokenFor(authorId)}` }) }),
    fetch: async (input, init) => {
      requests.push(decode<RequestBody>(String(init?.body)))
      return demo.executor(new Request(input as string, init))
    },
  })
  return { db, requests }
}

/** Resolves once every observer has data and is not fetching. */
async function settled(observers: readonly QueryObserver<any, any, any, any, any>[]): Promise<void> {
  const done = () => observers.every((o) => {
    const result: QueryObserverResult = o.getCurrentResult()
    return result.fetchStatus === 'idle' && result.status !== 'pending'
  })
  for (let i = 0; i < 500 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 10))
  expect(done()).toBe(true)
}

describe('query keys', () => {
  const db = createClient<DemoApi, DemoProcedures>({ url: URL })
  const other = createClient<DemoApi, DemoProcedures>({ url: 'http://other.test/orm' })
  const key = (qs: Parameters<typeof queryOptions>[0]) => queryOptions(qs).queryKey

  it('are equal for equal queries built apart, and hash equal', () => {
    const a = key(db.Post.query().where('published', true).where('views', '>', 3).orderBy('id').limit(5))
    const b = key(db.Post.query().where('published', true).where('views', '>', 3).orderBy('id').limit(5))
    expect(a).toEqual(b)
    expect(hashKey(a)).toBe(hashKey(b))
    expect(a.slice(0, 3)).toEqual(['async-orm', URL, 'Post'])
  })

  it('differ with the where order, the values, their types, the model and the client', () => {
    const keys = [
      key(db.Post.query().where('published', true).where('views', 3)),
      key(db.Post.query().where('views', 3).where('published', true)),
      key(db.Post.query().where('published', true).where('views', 4)),
      key(db.Author.query().where('id', 1n)),
      key(db.Author.query().where('id', 1 as never)),
      key(db.Author.query().where('id', '1' as never)),
      key(db.Post.query().where('createdAt', '>', new Date('2024-01-01T00:00:00Z'))),
      key(db.Post.query().where('createdAt', '>', '2024-01-01T00:00:00.000Z')),
      key(db.Comment.query().where('id', 1)),
      key(other.Post.query().where('published', true).where('views', 3)),
      key(db.Post.query().where('published', true).where('views', 3).resultSize()),
    ]
    expect(new Set(keys.map((k) => hashKey(k))).size).toBe(keys.length)
  })

  it('are plain JSON with bigints and Dates in the query, and survive a JSON round trip', () => {
    const k = key(db.Author.query().where('id', 12345678901234567890n).where('createdAt', '<', new Date(0)))
    expect(JSON.parse(JSON.stringify(k))).toEqual(k)
  })

  it('cover the Django-style facade and aggregates', () => {
    expect(hashKey(key(db.Post.objects.filter({ views__gte: 3 })))).toBe(hashKey(key(db.Post.objects.filter({ views__gte: 3 }))))
    expect(key(db.Post.query().groupBy('authorId').count('id as n'))[2]).toBe('Post')
  })

  it('are refused for writes, calls and querysets that belong to no client', async () => {
    expect(() => queryOptions(db.Post.query().insert({ title: 'x' }) as never)).toThrow(/read queryset.*mutationOptions/)
    expect(() => queryOptions(db.call('moveViews', { from: 1, to: 2, views: 1 }) as never)).toThrow(TypeError)
    expect(() => queryOptions({} as never)).toThrow(TypeError)
    let scoped = false
    // An empty list is refused before anything is sent.
    await db.transaction((t) => {
      expect(() => queryOptions(t.Post.query())).toThrow(/queryset of a client/)
      scoped = true
      return []
    }).catch(() => undefined)
    expect(scoped).toBe(true)
  })

  it('refuse an infinite query without a usable page size, or one already limited', () => {
    expect(() => infiniteQueryOptions(db.Post.query(), { pageSize: 0 })).toThrow(/pageSize/)
    expect(() => infiniteQueryOptions(db.Post.query(), { pageSize: 2.5 })).toThrow(/pageSize/)
    expect(() => infiniteQueryOptions(db.Post.query(), undefined as never)).toThrow(/pageSize/)
    expect(() => infiniteQueryOptions(db.Post.query().limit(10), { pageSize: 5 })).toThrow(/limit\(\) and offset\(\)/)
    expect(() => infiniteQueryOptions(db.Post.query().first() as never, { pageSize: 5 })).toThrow(/rows/)
  })
})

describe.each(DATABASE_KINDS)('TanStack Query on %s', (kind) => {
  let demo: Demo
  let queryClient: QueryClient
  const unsubscribe: (() => void)[] = []
  beforeAll(async () => {
    demo = await openDemo(kind)
  })
  afterAll(() => demo?.close())
  afterEach(() => {
    for (const stop of unsubscribe.splice(0)) stop()
    queryClient?.clear()
  })

  function mount<Out>(qs: Readable<Out>) {
    const observer = new QueryObserver(queryClient, queryOptions(qs))
    unsubscribe.push(observer.subscribe(() => undefined))
    return observer
  }

  /** A screen's queries, and which of them read which models. */
  function screen(db: Client<DemoApi, DemoProcedures>) {
    return {
      posts: mount(db.Post.query().select('id', 'title').orderBy('id', 'desc').limit(3)),
      authorWithPosts: mount(db.Author.query().findById(1n).withGraphFetched({ posts: true })),
      postCounts: mount(db.Author.query().select('id', db.Author.relatedQuery('posts').count().as('n')).orderBy('id').limit(3)),
      taggedPosts: mount(db.Post.query().whereExists(db.Post.relatedQuery('tags').where('name', 'like', '%')).resultSize()),
      tags: mount(db.Tag.query().orderBy('id')),
      profiles: mount(db.Profile.query().orderBy('id').limit(2)),
      comments: mount(db.Comment.query().where('postId', 1).resultSize()),
    }
  }
  type Screen = ReturnType<typeof screen>

  /** The screen, mounted in a fresh query client for author 1, its queries loaded. */
  async function mountScreen() {
    queryClient = new QueryClient()
    const { db, requests } = recordingClient(demo, 1n)
    const s = screen(db)
    await settled(Object.values(s))
    return { db, requests, s }
  }
  const invalidated = (o: QueryObserver<any, any, any, any, any>) => queryClient.getQueryState(o.options.queryKey!)?.isInvalidated === true

  /** The queries of `screen` a request carried, by name (a key holds its query as a superjson document). */
  function carried(s: Screen, request: RequestBody): string[] {
    const byKey = new Map(Object.entries(s).map(([name, o]) => [JSON.stringify(o.options.queryKey[3]), name]))
    return request.queries.map((q) => byKey.get(SuperJSON.stringify(q)) ?? `other ${q.op}`).sort()
  }

  it('runs a screen’s queries together in one request, which asks for the API’s description too', async () => {
    const { requests, s } = await mountScreen()
    expect(requests).toHaveLength(1)
    expect(requests[0]!.queries).toHaveLength(7)
    expect(requests[0]!.describe).toBe(true)
    expect(s.authorWithPosts.getCurrentResult().data).toMatchObject({ id: 1n, posts: expect.any(Array) })
    expect(typeof s.taggedPosts.getCurrentResult().data).toBe('number')
  })

  it('after an insert, refetches exactly the queries that read its model, in one request', async () => {
    const { db, requests, s } = await mountScreen()
    requests.length = 0
    const addPost = new MutationObserver(queryClient, mutationOptions((title: string) => db.Post.query().insert({ title, body: 'b', published: true })))
    const post = await addPost.mutate('from a mutation')
    expect(post).toMatchObject({ title: 'from a mutation', authorId: 1n })
    // The mutation settled once the refetch was done: the write, then one request.
    expect(requests).toHaveLength(2)
    expect(requests[0]!.queries.map((q) => q.op)).toEqual(['insert'])
    expect(carried(s, requests[1]!)).toEqual(['authorWithPosts', 'postCounts', 'posts', 'taggedPosts'])
    expect(s.posts.getCurrentResult().data?.[0]).toMatchObject({ title: 'from a mutation' })
    expect(invalidated(s.tags)).toBe(false)
  })

  it('follows relations the other way: a comment invalidates readers of comments only', async () => {
    const { db, requests, s } = await mountScreen()
    requests.length = 0
    // Not through a mutation: any write through the client counts.
    await db.Comment.query().insert({ postId: 1, body: 'hello' })
    await settled(Object.values(s))
    expect(requests).toHaveLength(2)
    expect(carried(s, requests[1]!)).toEqual(['comments'])
    expect(s.comments.getCurrentResult().data).toBeGreaterThan(0)
  })

  it('invalidates for every write of a transaction, in one refetch', async () => {
    const { db, requests, s } = await mountScreen()
    requests.length = 0
    const tagAndComment = new MutationObserver(
      queryClient,
      mutationOptions((body: string) => db.transaction((t) => [t.Profile.query().where('authorId', 1n).patch({ location: 'Lisbon' }), t.Comment.query().insert({ postId: 1, body })])),
    )
    await tagAndComment.mutate('in a transaction')
    expect(requests).toHaveLength(2)
    expect(requests[0]!.atomic).toBe(true)
    expect(carried(s, requests[1]!)).toEqual(['comments', 'profiles'])
  })

  it('invalidates every query of the client after a procedure call, which may write anything', async () => {
    const { db, requests, s } = await mountScreen()
    const [mine] = await db.Post.query().where('authorId', 1n).orderBy('id').limit(2).select('id')
    const [second] = await db.Post.query().where('authorId', 1n).orderBy('id').offset(1).limit(1).select('id')
    await settled(Object.values(s))
    requests.length = 0
    await new MutationObserver(queryClient, mutationOptions(() => db.call('moveViews', { from: second!.id, to: mine!.id, views: 1 }))).mutate().catch(() => undefined)
    expect(requests[0]!.queries.map((q) => q.op)).toEqual(['call'])
    expect(carried(s, requests[1]!)).toEqual(Object.keys(s).sort())
  })

  it('refetches nothing after a write that failed, whose AsyncOrmError the mutation holds', async () => {
    const { db, requests, s } = await mountScreen()
    requests.length = 0
    const addTag = new MutationObserver(queryClient, mutationOptions((name: string) => db.Post.query().insert({ title: name, body: '', published: true }).returning('id')))
    // The policy's check refuses a blank title.
    const error = await addTag.mutate('   ').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(AsyncOrmError)
    expect((error as AsyncOrmError).code).toBe('FORBIDDEN')
    expect(addTag.getCurrentResult().error?.code).toBe('FORBIDDEN')
    expect(requests).toHaveLength(1)
    expect(Object.values(s).some(invalidated)).toBe(false)
  })

  it('invalidates after a write whose answer was lost: its retry is refused, yet it was applied', async () => {
    queryClient = new QueryClient()
    let lose = false
    const db = createClient<DemoApi, DemoProcedures>({
      url: URL,
      retryDelay: 1,
      headers: async () => ({ authorization: `Bearer ${await tokenFor(1n)}` }),
      fetch: async (input, init) => {
        const response = await demo.executor(new Request(input as string, init))
        if (!lose) return response
        lose = false
        throw new TypeError('fetch failed: the connection was reset')
      },
    })
    const comments = mount(db.Comment.query().where('postId', 2).resultSize())
    await settled([comments])
    const before = comments.getCurrentResult().data!
    lose = true
    const error = await new MutationObserver(queryClient, mutationOptions(() => db.Comment.query().insert({ postId: 2, body: 'lost answer' }))).mutate().catch((e: unknown) => e)
    // Without an idempotency store the executor refuses the retry: it may have been applied.
    expect((error as AsyncOrmError).code).toBe('CONFLICT')
    await settled([comments])
    expect(comments.getCurrentResult().data).toBe(before + 1)
  })

  it.each([
    [502, 'Bad Gateway'],
    [504, 'Gateway Timeout'],
  ])('invalidates after a write a gateway answered %i for, though the executor applied it', async (status, statusText) => {
    queryClient = new QueryClient()
    let lose = false
    const db = createClient<DemoApi, DemoProcedures>({
      url: URL,
      headers: async () => ({ authorization: `Bearer ${await tokenFor(1n)}` }),
      fetch: async (input, init) => {
        const response = await demo.executor(new Request(input as string, init))
        if (!lose) return response
        lose = false
        return new Response('<html>upstream timed out</html>', { status, statusText, headers: { 'content-type': 'text/html' } })
      },
    })
    const comments = mount(db.Comment.query().where('postId', 3).resultSize())
    await settled([comments])
    const before = comments.getCurrentResult().data!
    lose = true
    const error = await new MutationObserver(queryClient, mutationOptions(() => db.Comment.query().insert({ postId: 3, body: 'behind a gateway' }))).mutate().catch((e: unknown) => e)
    expect((error as AsyncOrmError).status).toBe(status)
    await settled([comments])
    expect(comments.getCurrentResult().data).toBe(before + 1)
  })

  it('follows foreign keys after a delete: rows pointing at the deleted ones may go too', async () => {
    const { db, requests, s } = await mountScreen()
    const post = await db.Post.query().insert({ title: 'short-lived', body: '', published: true })
    await settled(Object.values(s))
    requests.length = 0
    await db.Post.query().deleteById(post.id)
    await settled(Object.values(s))
    // Comments reference posts: their readers refetch with the posts' readers.
    expect(carried(s, requests[1]!)).toEqual(['authorWithPosts', 'comments', 'postCounts', 'posts', 'taggedPosts'])
  })

  it.each([
    ['a write', (db: Client<DemoApi, DemoProcedures>) => db.Comment.query().insert({ postId: 1, body: 'hydrated' })],
    ['a transaction', (db: Client<DemoApi, DemoProcedures>) => db.transaction((t) => [t.Comment.query().insert({ postId: 1, body: 'hydrated' })])],
    ['a procedure call', (db: Client<DemoApi, DemoProcedures>) => db.call('moveViews', { from: 1, to: 1, views: 1 })],
  ])('invalidates hydrated queries, which never ran here, after %s through mutationOptions', async (_name, write) => {
    const { db } = recordingClient(demo, 1n)
    const server = new QueryClient()
    const options = queryOptions(db.Comment.query().where('postId', 1).resultSize())
    await server.prefetchQuery(options)
    queryClient = new QueryClient({ defaultOptions: { queries: { staleTime: Infinity } } })
    hydrate(queryClient, dehydrate(server))
    expect(queryClient.getQueryState(options.queryKey)?.isInvalidated).toBe(false)
    await new MutationObserver(queryClient, mutationOptions(() => write(db) as PromiseLike<unknown>)).mutate().catch(() => undefined)
    expect(queryClient.getQueryState(options.queryKey)?.isInvalidated).toBe(true)
  })

  it('asks for the description with a read, and again for another caller, whose answer then serves', async () => {
    // Tags are for admins only here: an anonymous caller's description leaves them out.
    const strict = await openDemo(kind, { api: { ...api, Tag: expose(Tag, { read: { allow: ['admin'], columns: ['id', 'name'] }, relations: ['posts'] }) } })
    try {
      let token: string | undefined = undefined
      const requests: RequestBody[] = []
      const db = createClient<DemoApi, DemoProcedures>({
        url: URL,
        headers: (): Record<string, string> => (token ? { authorization: `Bearer ${token}` } : {}),
        fetch: async (input, init) => {
          requests.push(decode<RequestBody>(String(init?.body)))
          return strict.executor(new Request(input as string, init))
        },
      })
      const watch = watchOf(linkOf(db.Post.query())!)
      watch.ask()
      await db.Post.query().limit(1)
      expect(Object.keys(watch.description!.models).sort()).toEqual(['Author', 'Comment', 'Post', 'Profile'])
      // Known for this caller: not asked again.
      watch.ask()
      await db.Post.query().limit(1)
      token = await tokenFor(1n, { role: 'admin' })
      await db.Post.query().limit(1)
      // Another caller: until it is answered again, the last answer serves.
      expect(Object.keys(watch.description!.models)).not.toContain('Tag')
      watch.ask()
      await db.Tag.query().limit(1)
      expect(Object.keys(watch.description!.models).sort()).toEqual(['Author', 'Comment', 'Post', 'Profile', 'Tag'])
      expect(requests.map((r) => [r.queries.map((q) => q.op), r.describe === true])).toEqual([
        [['select'], true],
        [['select'], false],
        [['select'], false],
        [['select'], true],
      ])
    } finally {
      await strict.close()
    }
  })

  it('asks an executor that does not know the question once, and sends the reads again without it', async () => {
    const requests: { describe: boolean; status: number }[] = []
    const db = createClient<DemoApi, DemoProcedures>({
      url: URL,
      fetch: async (input, init) => {
        const body = decode<RequestBody & { describe?: boolean }>(String(init?.body))
        // An executor from before the description: it refuses fields it does not know.
        if (body.describe !== undefined) {
          requests.push({ describe: true, status: 400 })
          return new Response(encode({ error: { code: 'BAD_REQUEST', message: 'unknown field "describe" in request' } }), { status: 400 })
        }
        requests.push({ describe: false, status: 200 })
        return demo.executor(new Request(input as string, init))
      },
    })
    queryClient = new QueryClient()
    const tags = mount(db.Tag.query().orderBy('id').limit(2))
    await settled([tags])
    expect(tags.getCurrentResult().data).toHaveLength(2)
    await queryClient.invalidateQueries()
    await settled([tags])
    expect(requests).toEqual([
      { describe: true, status: 400 },
      { describe: false, status: 200 },
      { describe: false, status: 200 },
    ])
  })

  it('hands the query’s signal to the request: a query cancelled before it is sent is never sent', async () => {
    queryClient = new QueryClient()
    const { db, requests } = recordingClient(demo, 1n)
    const options = queryOptions(db.Tag.query().where('name', 'never sent'))
    const fetching = queryClient.fetchQuery(options).catch((e: unknown) => e)
    await queryClient.cancelQueries({ queryKey: options.queryKey })
    await fetching
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(requests.filter((r) => r.queries.length > 0)).toHaveLength(0)
  })

  it('types the cache by the key: getQueryData and setQueryData for optimistic updates', async () => {
    queryClient = new QueryClient()
    const { db } = recordingClient(demo, 1n)
    const options = queryOptions(db.Tag.query().select('id', 'name').orderBy('id'))
    const tags = await queryClient.fetchQuery(options)
    queryClient.setQueryData(options.queryKey, (old) => [...(old ?? []), { id: -1, name: 'optimistic' }])
    const cached = queryClient.getQueryData(options.queryKey)
    expect(cached).toHaveLength(tags.length + 1)
    expect(cached?.at(-1)?.name).toBe('optimistic')
  })

  it('pages an infinite query until the rows run out', async () => {
    queryClient = new QueryClient()
    const { db } = recordingClient(demo)
    const qs = db.Post.query().where('authorId', 2n).orderBy('id')
    const total = await qs.resultSize()
    const observer = new InfiniteQueryObserver(queryClient, infiniteQueryOptions(qs, { pageSize: 2 }))
    unsubscribe.push(observer.subscribe(() => undefined))
    for (let i = 0; i < 20 && (observer.getCurrentResult().isPending || observer.getCurrentResult().isFetching); i++) await new Promise((r) => setTimeout(r, 20))
    while (observer.getCurrentResult().hasNextPage) await observer.fetchNextPage()
    const pages = observer.getCurrentResult().data!.pages
    expect(pages).toHaveLength(Math.ceil(total / 2))
    expect(pages.flatMap((p) => p.results.map((row) => row.id))).toEqual((await qs).map((row) => row.id))
    expect(pages.every((p) => p.total === total)).toBe(true)
  })
})
