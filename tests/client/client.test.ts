/**
 * The client against an executor mocked with MSW: the AST each method builds, batching,
 * retries, cancellation and error reporting.
 */
import { http, HttpResponse } from 'msw'
import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { AsyncOrmError, createClient } from '../../client/index.js'
import type { DemoApi, DemoProcedures } from '../../examples/demo/api.js'
import type { Query, ReadQuery } from '../../shared/query-ast.js'
import { decode, encode, type RequestBody } from '../../shared/wire.js'

const URL = 'http://executor.test/orm'
const server = setupServer()
const sent: RequestBody[] = []
const headersSeen: Headers[] = []

/** An executor stand-in that answers each query with `answer(query)`. */
function respondWith(answer: (query: Query) => unknown) {
  server.use(
    http.post(URL, async ({ request }) => {
      headersSeen.push(request.headers)
      const body = decode<RequestBody>(await request.text())
      sent.push(body)
      return new HttpResponse(encode({ results: body.queries.map((q) => ({ data: answer(q) })) }), {
        headers: { 'content-type': 'application/json' },
      })
    }),
  )
}

beforeAll(() => server.listen({ onUnhandledRequest: 'error' }))
afterEach(() => {
  server.resetHandlers()
  sent.length = 0
  headersSeen.length = 0
})
afterAll(() => server.close())

const db = createClient<DemoApi, DemoProcedures>({ url: URL, retryDelay: 1 })

describe('the AST a queryset builds', () => {
  const cases: [string, { toJSON(): Query }, Query][] = [
    ['a bare query', db.Author.query(), { model: 'Author', op: 'select' }],
    ['where (column, value)', db.Author.query().where('name', 'Ann'), { model: 'Author', op: 'select', where: { kind: 'compare', column: 'name', op: '=', value: 'Ann' } }],
    ['where null becomes whereNull', db.Author.query().where('bio', null), { model: 'Author', op: 'select', where: { kind: 'null', column: 'bio' } }],
    ['where (column, op, value)', db.Post.query().where('views', '>=', 10), { model: 'Post', op: 'select', where: { kind: 'compare', column: 'views', op: '>=', value: 10 } }],
    ['where with "in"', db.Post.query().where('views', 'in', [1, 2]), { model: 'Post', op: 'select', where: { kind: 'in', column: 'views', values: [1, 2] } }],
    ['where object', db.Post.query().where({ views: 1, published: true }), { model: 'Post', op: 'select', where: { kind: 'and', filters: [{ kind: 'compare', column: 'views', op: '=', value: 1 }, { kind: 'compare', column: 'published', op: '=', value: true }] } }],
    [
      'a or b and c, as SQL reads it',
      db.Post.query().where('views', 1).orWhere('views', 2).andWhere('published', true),
      { model: 'Post', op: 'select', where: { kind: 'or', filters: [{ kind: 'compare', column: 'views', op: '=', value: 1 }, { kind: 'and', filters: [{ kind: 'compare', column: 'views', op: '=', value: 2 }, { kind: 'compare', column: 'published', op: '=', value: true }] }] } },
    ],
    [
      'a grouping callback',
      db.Post.query().where('published', true).where((q) => q.where('views', '<', 5).orWhereNull('title')),
      { model: 'Post', op: 'select', where: { kind: 'and', filters: [{ kind: 'compare', column: 'published', op: '=', value: true }, { kind: 'or', filters: [{ kind: 'compare', column: 'views', op: '<', value: 5 }, { kind: 'null', column: 'title' }] }] } },
    ],
    ['whereNot', db.Post.query().whereNot('views', 3), { model: 'Post', op: 'select', where: { kind: 'not', filter: { kind: 'compare', column: 'views', op: '=', value: 3 } } }],
    ['whereNotIn', db.Post.query().whereNotIn('id', [1]), { model: 'Post', op: 'select', where: { kind: 'in', column: 'id', values: [1], negated: true } }],
    ['whereNotNull', db.Author.query().whereNotNull('bio'), { model: 'Author', op: 'select', where: { kind: 'null', column: 'bio', negated: true } }],
    ['whereBetween', db.Post.query().whereBetween('views', [1, 9]), { model: 'Post', op: 'select', where: { kind: 'between', column: 'views', low: 1, high: 9 } }],
    ['whereILike', db.Post.query().whereILike('title', '%x%'), { model: 'Post', op: 'select', where: { kind: 'compare', column: 'title', op: 'ilike', value: '%x%' } }],
    ['whereExists with a filter', db.Author.query().whereExists('posts', (p) => p.where('views', '>', 1)), { model: 'Author', op: 'select', where: { kind: 'exists', relation: 'posts', where: { kind: 'compare', column: 'views', op: '>', value: 1 } } }],
    ['whereNotExists', db.Post.query().whereNotExists('tags'), { model: 'Post', op: 'select', where: { kind: 'exists', relation: 'tags', negated: true } }],
    ['select, orderBy, limit, offset', db.Post.query().select('id', 'title').orderBy('views', 'desc').orderBy('id').limit(5).offset(10), { model: 'Post', op: 'select', select: ['id', 'title'], orderBy: [{ column: 'views', direction: 'desc' }, { column: 'id', direction: 'asc' }], limit: 5, offset: 10 }],
    ['orderBy with nulls and the array form', db.Author.query().orderBy([{ column: 'rating', order: 'desc', nulls: 'last' }]), { model: 'Author', op: 'select', orderBy: [{ column: 'rating', direction: 'desc', nulls: 'last' }] }],
    ['distinct', db.Post.query().distinct('authorId'), { model: 'Post', op: 'select', select: ['authorId'], distinct: true }],
    ['first', db.Post.query().first(), { model: 'Post', op: 'first' }],
    ['findById', db.Author.query().findById(7n), { model: 'Author', op: 'first', where: { kind: 'id', ids: [7n] } }],
    ['findByIds', db.Tag.query().findByIds([1, 2]), { model: 'Tag', op: 'select', where: { kind: 'id', ids: [1, 2] } }],
    ['page', db.Post.query().page(2, 10), { model: 'Post', op: 'page', limit: 10, offset: 20 }],
    ['range', db.Post.query().range(5, 9), { model: 'Post', op: 'page', limit: 5, offset: 5 }],
    ['resultSize', db.Post.query().resultSize(), { model: 'Post', op: 'count' }],
    ['count()', db.Post.query().count(), { model: 'Post', op: 'count' }],
    ['exists', db.Post.query().exists(), { model: 'Post', op: 'exists' }],
    ['aggregates with groupBy', db.Post.query().groupBy('authorId').count('* as n').sum('views'), { model: 'Post', op: 'aggregate', groupBy: ['authorId'], aggregates: [{ fn: 'count', alias: 'n' }, { fn: 'sum', alias: 'sum', column: 'views' }] }],
    ['countDistinct', db.Post.query().countDistinct('authorId as authors'), { model: 'Post', op: 'aggregate', aggregates: [{ fn: 'count', alias: 'authors', column: 'authorId', distinct: true }] }],
    [
      'withGraphFetched, object form with a callback',
      db.Author.query().withGraphFetched({ profile: true, posts: (p) => p.select('id').where('views', '>', 1).orderBy('id').limit(2).withGraphFetched({ tags: true }) }),
      { model: 'Author', op: 'select', graph: [{ relation: 'profile' }, { relation: 'posts', select: ['id'], where: { kind: 'compare', column: 'views', op: '>', value: 1 }, orderBy: [{ column: 'id', direction: 'asc' }], limit: 2, graph: [{ relation: 'tags' }] }] },
    ],
    ['withGraphFetched, string form', db.Post.query().withGraphFetched('[author.profile, tags, comments.[author, post]]'), { model: 'Post', op: 'select', graph: [{ relation: 'author', graph: [{ relation: 'profile' }] }, { relation: 'tags' }, { relation: 'comments', graph: [{ relation: 'author' }, { relation: 'post' }] }] }],
    ['Django filter, exclude, orderBy and slice', db.Post.objects.filter({ views__gte: 18, title__istartswith: 'a_%' }).exclude({ authorId: 1n }).orderBy('-createdAt', 'id').slice(5, 10), {
      model: 'Post', op: 'select',
      where: { kind: 'and', filters: [
        { kind: 'and', filters: [{ kind: 'compare', column: 'views', op: '>=', value: 18 }, { kind: 'compare', column: 'title', op: 'ilike', value: 'a\\_\\%%' }] },
        { kind: 'not', filter: { kind: 'compare', column: 'authorId', op: '=', value: 1n } },
      ] },
      orderBy: [{ column: 'createdAt', direction: 'desc' }, { column: 'id', direction: 'asc' }], limit: 5, offset: 5,
    }],
    ['Django lookups of every kind', db.Author.objects.filter({ name__iexact: 'ann', bio__contains: 'x', rating__isnull: false, id__range: [1n, 5n], createdAt__lt: new Date(0), name__endswith: 'n' }), {
      model: 'Author', op: 'select',
      where: { kind: 'and', filters: [
        { kind: 'compare', column: 'name', op: 'ilike', value: 'ann' },
        { kind: 'compare', column: 'bio', op: 'like', value: '%x%' },
        { kind: 'null', column: 'rating', negated: true },
        { kind: 'between', column: 'id', low: 1n, high: 5n },
        { kind: 'compare', column: 'createdAt', op: '<', value: new Date(0) },
        { kind: 'compare', column: 'name', op: 'like', value: '%n' },
      ] },
    }],
    ['a Django lookup through a relation', db.Author.objects.filter({ posts__tags__name: 'edge' }), { model: 'Author', op: 'select', where: { kind: 'exists', relation: 'posts', where: { kind: 'exists', relation: 'tags', where: { kind: 'compare', column: 'name', op: '=', value: 'edge' } } } }],
  ]

  const writeCases: [string, { toJSON(): Query }, Query][] = [
    ['insert one', db.Tag.query().insert({ name: 'x' }), { model: 'Tag', op: 'insert', rows: [{ name: 'x' }], returning: 'first' }],
    ['insert many', db.Tag.query().insert([{ name: 'x' }, { name: 'y' }]), { model: 'Tag', op: 'insert', rows: [{ name: 'x' }, { name: 'y' }], returning: 'rows' }],
    ['insert returning columns', db.Tag.query().insert({ name: 'x' }).returning('id'), { model: 'Tag', op: 'insert', rows: [{ name: 'x' }], returning: 'first', select: ['id'] }],
    ['upsert ignore', db.Tag.query().insert({ name: 'x' }).onConflict('name').ignore(), { model: 'Tag', op: 'insert', rows: [{ name: 'x' }], returning: 'first', onConflict: { columns: ['name'], action: 'ignore' } }],
    ['upsert merge', db.Profile.query().insert({ website: 'w' }).onConflict('authorId').merge('website'), { model: 'Profile', op: 'insert', rows: [{ website: 'w' }], returning: 'first', onConflict: { columns: ['authorId'], action: 'merge', merge: ['website'] } }],
    ['insertGraph', db.Post.query().insertGraph({ title: 't', tags: [{ name: 'n' }] }), { model: 'Post', op: 'insert', rows: [{ title: 't', tags: [{ name: 'n' }] }], returning: 'first', graph: true }],
    ['patch with a filter', db.Post.query().where('id', 1).patch({ title: 't' }), { model: 'Post', op: 'patch', values: { title: 't' }, where: { kind: 'compare', column: 'id', op: '=', value: 1 }, returning: 'count' }],
    ['patch returning rows', db.Post.query().where('id', 1).patch({ title: 't' }).returning(), { model: 'Post', op: 'patch', values: { title: 't' }, where: { kind: 'compare', column: 'id', op: '=', value: 1 }, returning: 'rows' }],
    ['patchAndFetchById', db.Post.query().patchAndFetchById(3, { title: 't' }), { model: 'Post', op: 'patch', values: { title: 't' }, where: { kind: 'id', ids: [3] }, returning: 'first' }],
    ['update', db.Post.query().where('id', 1).update({ title: 't', body: 'b', published: true }), { model: 'Post', op: 'update', values: { title: 't', body: 'b', published: true }, where: { kind: 'compare', column: 'id', op: '=', value: 1 }, returning: 'count' }],
    ['delete', db.Comment.query().where('postId', 1).delete(), { model: 'Comment', op: 'delete', where: { kind: 'compare', column: 'postId', op: '=', value: 1 }, returning: 'count' }],
    ['deleteById', db.Comment.query().deleteById(5), { model: 'Comment', op: 'delete', where: { kind: 'id', ids: [5] }, returning: 'count' }],
    ['a procedure call', db.call('moveViews', { from: 1, to: 2, views: 3 }), { op: 'call', procedure: 'moveViews', args: { from: 1, to: 2, views: 3 } }],
  ]

  it.each(writeCases)('%s', (_name, qs, expected) => {
    expect(qs.toJSON()).toEqual(expected)
  })

  it.each(cases)('%s', (_name, qs, expected) => {
    expect(qs.toJSON()).toEqual(expected)
  })

  it('leaves the queryset it started from unchanged', () => {
    const base = db.Post.query().where('views', 1)
    const derived = base.orderBy('id').limit(1)
    expect(base.toJSON()).toEqual({ model: 'Post', op: 'select', where: { kind: 'compare', column: 'views', op: '=', value: 1 } })
    expect(derived.toJSON()).toMatchObject({ limit: 1 })
  })

  it('refuses undefined values instead of dropping the filter: the queryset rejects with BAD_REQUEST', async () => {
    const bad = { code: 'BAD_REQUEST', message: 'undefined value for column "views"' }
    await expect(db.Post.query().where('views', undefined as never)).rejects.toMatchObject(bad)
    await expect(db.Post.objects.filter({ views: undefined })).rejects.toMatchObject({ code: 'BAD_REQUEST' })
    // Chaining on goes on failing with the first error.
    await expect(db.Post.query().where('views', undefined as never).orderBy('id').limit(3).first()).rejects.toMatchObject(bad)
  })

  it('refuses relation expressions it cannot send, rejecting (never throwing) with an AsyncOrmError', async () => {
    for (const bad of ['*', 'posts.*', 'posts^', 'posts(', 'posts(published', '[posts', '__proto__']) {
      let qs: PromiseLike<unknown> | undefined
      expect(() => (qs = db.Author.query().withGraphFetched(bad)), bad).not.toThrow()
      await expect(qs, bad).rejects.toMatchObject({ name: 'AsyncOrmError', code: 'BAD_REQUEST' })
    }
  })

  it('reads modifiers in relation expressions as objection writes them', () => {
    expect((db.Author.query().withGraphFetched('[posts(recent, popular).tags, profile]').toJSON() as ReadQuery).graph).toEqual([
      { relation: 'posts', where: { kind: 'and', filters: [{ kind: 'modifier', name: 'recent' }, { kind: 'modifier', name: 'popular' }] }, graph: [{ relation: 'tags' }] },
      { relation: 'profile' },
    ])
  })

  it('rejects every other builder mistake the same way, and transactions that hold one', async () => {
    await expect(db.Post.query().where('views', 'between' as never, 1)).rejects.toMatchObject({ code: 'BAD_REQUEST', message: 'unknown operator between' })
    await expect(db.Post.query().orderBy('id', 'sideways' as never)).rejects.toMatchObject({ code: 'BAD_REQUEST' })
    await expect(db.Post.objects.slice(5, 2)).rejects.toMatchObject({ code: 'BAD_REQUEST' })
    await expect(db.Post.query().where('id', 1).patch({ title: 'x' }).onConflict('id').ignore()).rejects.toMatchObject({ code: 'BAD_REQUEST', message: 'onConflict() applies to inserts' })
    await expect(db.transaction((t) => [t.Post.query().where('views', undefined as never)])).rejects.toMatchObject({ name: 'AsyncOrmError', code: 'BAD_REQUEST' })
    await expect(db.transaction((t) => [t.Tag.query().insert({ name: 'x' }), t.Tag.query().insert({ name: t.ref(-1, 'id') as never })])).rejects.toMatchObject({ code: 'BAD_REQUEST' })
  })
})

describe('running querysets', () => {
  it('sends querysets started in the same tick in one request', async () => {
    respondWith((q) => (q.op === 'count' ? 42 : [{ id: 1n, name: 'model' in q ? q.model : '' }]))
    const [a, b, c] = await Promise.all([db.Author.query(), db.Tag.query().limit(1), db.Post.query().count()])
    expect(sent).toHaveLength(1)
    expect(sent[0]!.queries.map((q) => ('model' in q ? q.model : ''))).toEqual(['Author', 'Tag', 'Post'])
    expect(sent[0]!.v).toBe(1)
    expect(a).toEqual([{ id: 1n, name: 'Author' }])
    expect(b).toEqual([{ id: 1n, name: 'Tag' }])
    expect(c).toBe(42)
  })

  it('joins the batch after awaits in the same task', async () => {
    respondWith(() => [])
    const later = async () => {
      await null
      await null
      return db.Tag.query()
    }
    await Promise.all([db.Author.query(), later()])
    expect(sent).toHaveLength(1)
  })

  it('splits batches at maxSize and sends one request per query when batching is off', async () => {
    respondWith(() => [])
    const small = createClient<DemoApi>({ url: URL, batch: { maxSize: 2 } })
    await Promise.all([small.Tag.query(), small.Tag.query(), small.Tag.query()])
    expect(sent.map((b) => b.queries.length)).toEqual([2, 1])
    sent.length = 0
    const single = createClient<DemoApi>({ url: URL, batch: false })
    await Promise.all([single.Tag.query(), single.Tag.query()])
    expect(sent.map((b) => b.queries.length)).toEqual([1, 1])
  })

  it('rejects only the query that failed', async () => {
    server.use(
      http.post(URL, () =>
        new HttpResponse(encode({ results: [{ data: [] }, { error: { code: 'FORBIDDEN', message: 'reading Tag is not allowed' } }] })),
      ),
    )
    const [ok, failed] = await Promise.allSettled([db.Author.query(), db.Tag.query()])
    expect(ok).toEqual({ status: 'fulfilled', value: [] })
    expect(failed.status === 'rejected' && failed.reason).toMatchObject({ name: 'AsyncOrmError', code: 'FORBIDDEN', status: 403, message: 'reading Tag is not allowed' })
  })

  it('reports whole-request errors with method, URL, status and code', async () => {
    server.use(http.post(URL, () => new HttpResponse(encode({ error: { code: 'UNAUTHENTICATED', message: 'bad token' } }), { status: 401 })))
    const error = await db.Author.query().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(AsyncOrmError)
    expect(error).toMatchObject({ code: 'UNAUTHENTICATED', status: 401, message: `[POST ${URL}] 401 UNAUTHENTICATED: bad token` })
  })

  it('tells a response that is not from an executor from one that is', async () => {
    server.use(http.post(URL, () => new HttpResponse('<html>Bad gateway</html>', { status: 502, statusText: 'Bad Gateway' })))
    await expect(db.Author.query()).rejects.toMatchObject({ code: 'UNAVAILABLE', status: 502 })
  })

  it('retries reads after 503 and network errors, with backoff', async () => {
    let calls = 0
    server.use(
      http.post(URL, async ({ request }) => {
        calls++
        if (calls === 1) return new HttpResponse(null, { status: 503 })
        if (calls === 2) return HttpResponse.error()
        const body = decode<RequestBody>(await request.text())
        return new HttpResponse(encode({ results: body.queries.map(() => ({ data: 'ok' })) }))
      }),
    )
    expect(await db.Author.query()).toBe('ok')
    expect(calls).toBe(3)
  })

  it('gives up after the configured retries with a network error (status 0)', async () => {
    let calls = 0
    server.use(http.post(URL, () => (calls++, HttpResponse.error())))
    const error = (await createClient<DemoApi>({ url: URL, retry: 1, retryDelay: 1 }).Author.query().catch((e: AsyncOrmError) => e)) as AsyncOrmError
    expect(calls).toBe(2)
    expect(error).toMatchObject({ code: 'NETWORK_ERROR', status: 0, isNetworkError: true })
    expect(error.message).toContain(`[POST ${URL}]`)
  })

  it('does not retry a server error that is not 503', async () => {
    let calls = 0
    server.use(http.post(URL, () => (calls++, new HttpResponse(encode({ error: { code: 'INTERNAL', message: 'internal error', requestId: 'r1' } }), { status: 500 }))))
    await expect(db.Author.query()).rejects.toMatchObject({ code: 'INTERNAL', status: 500, requestId: 'r1' })
    expect(calls).toBe(1)
  })

  it('cancels with an AbortSignal', async () => {
    let aborted = false
    server.use(
      http.post(URL, async ({ request }) => {
        await new Promise((resolve) => {
          request.signal.addEventListener('abort', () => ((aborted = true), resolve(null)))
          setTimeout(resolve, 2000)
        })
        return new HttpResponse(encode({ results: [{ data: [] }] }))
      }),
    )
    const controller = new AbortController()
    const pending = db.Author.query().fetch({ signal: controller.signal })
    setTimeout(() => controller.abort(), 20)
    await expect(pending).rejects.toMatchObject({ code: 'ABORTED', status: 0 })
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(aborted).toBe(true)
    const already = AbortSignal.abort()
    await expect(db.Author.query().fetch({ signal: already })).rejects.toMatchObject({ code: 'ABORTED' })
  })

  it('sends nothing for a caller that gave up while its headers were made', async () => {
    respondWith(() => [])
    const slow = createClient<DemoApi>({ url: URL, headers: () => new Promise((resolve) => setTimeout(() => resolve({ authorization: 'Bearer t' }), 40)) })
    const controller = new AbortController()
    const pending = slow.Tag.query().fetch({ signal: controller.signal })
    setTimeout(() => controller.abort(), 10)
    await expect(pending).rejects.toMatchObject({ code: 'ABORTED' })
    await new Promise((resolve) => setTimeout(resolve, 80))
    expect(sent).toHaveLength(0)
  })

  it('sends the headers option, called for each request', async () => {
    respondWith(() => [])
    let n = 0
    const authed = createClient<DemoApi>({ url: URL, headers: async () => ({ authorization: `Bearer t${++n}` }) })
    await authed.Tag.query()
    await authed.Tag.query()
    expect(headersSeen.map((h) => h.get('authorization'))).toEqual(['Bearer t1', 'Bearer t2'])
    expect(headersSeen[0]!.get('content-type')).toBe('application/json')
  })

  it('sends back the newest WAL position any answer carried (async-orm-lsn), and none before one did', async () => {
    const answers = ['0/16B3748', 'A/10', '9/FFFFFFFF', 'not a position', '1F/0']
    let sentCount = 0
    server.use(
      http.post(URL, async ({ request }) => {
        headersSeen.push(request.headers)
        const body = decode<RequestBody>(await request.text())
        const position = answers[sentCount++]
        return new HttpResponse(encode({ results: body.queries.map(() => ({ data: [] })) }), {
          headers: { 'content-type': 'application/json', ...(position && { 'async-orm-lsn': position }) },
        })
      }),
      http.post(`${URL}/refused`, () => new HttpResponse(encode({ error: { code: 'CONFLICT', message: 'no' } }), { status: 409, headers: { 'async-orm-lsn': 'FF/0' } })),
    )
    const client = createClient<DemoApi>({ url: URL })
    for (let i = 0; i < answers.length + 1; i++) await client.Tag.query()
    // 9/FFFFFFFF is older than A/10; a value that is not a position is ignored.
    expect(headersSeen.map((h) => h.get('async-orm-lsn'))).toEqual([null, '0/16B3748', 'A/10', 'A/10', 'A/10', '1F/0'])
    // A failed answer's counts too: a write of unknown outcome is checked at that position.
    const refused = createClient<DemoApi>({ url: `${URL}/refused` })
    await expect(refused.Tag.query()).rejects.toMatchObject({ code: 'CONFLICT' })
    headersSeen.length = 0
    server.use(http.post(`${URL}/refused`, ({ request }) => (headersSeen.push(request.headers), new HttpResponse(encode({ results: [{ data: [] }] }), { headers: { 'content-type': 'application/json' } }))))
    await refused.Tag.query()
    expect(headersSeen[0]!.get('async-orm-lsn')).toBe('FF/0')
  })

  it('runs with execute(callback), fetch() and then()', async () => {
    respondWith(() => [{ id: 1, name: 'edge' }])
    const viaCallback = await new Promise((resolve) => db.Tag.query().execute((error, rows) => resolve({ error, rows })))
    expect(viaCallback).toEqual({ error: null, rows: [{ id: 1, name: 'edge' }] })
    expect(await db.Tag.query().fetch()).toEqual([{ id: 1, name: 'edge' }])
    expect(await db.Tag.objects.filter({ name: 'edge' })).toEqual([{ id: 1, name: 'edge' }])
  })

  it('is not itself a thenable, and unknown keys are not models', async () => {
    expect(await Promise.resolve(db)).toBe(db)
    expect((db as unknown as Record<string, unknown>).toString).toBeUndefined()
  })

  it('sends a transaction alone, atomic, with refs, and one Idempotency-Key for its retries', async () => {
    let calls = 0
    const keys: (string | null)[] = []
    server.use(
      http.post(URL, async ({ request }) => {
        keys.push(request.headers.get('idempotency-key'))
        if (++calls === 1) return new HttpResponse(null, { status: 503 })
        const body = decode<RequestBody>(await request.text())
        sent.push(body)
        return new HttpResponse(encode({ results: body.queries.map((_q, i) => ({ data: { id: i + 10 } })) }))
      }),
    )
    const results = await db.transaction((t) => [
      t.Post.query().insert({ title: 'Hi' }),
      t.Comment.query().insert({ postId: t.ref(0, 'id'), body: 'x' }),
    ])
    expect(results).toEqual([{ id: 10 }, { id: 11 }])
    expect(sent[0]).toMatchObject({ v: 1, atomic: true })
    expect(sent[0]!.queries[1]).toMatchObject({ rows: [{ postId: { $ref: { query: 0, column: 'id' } }, body: 'x' }] })
    expect(keys).toHaveLength(2)
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/)
    expect(keys[1]).toBe(keys[0])
  })

  it('rejects a failed transaction with the failing query and its position', async () => {
    server.use(
      http.post(URL, () =>
        new HttpResponse(encode({ failed: 1, results: [{ error: { code: 'CONFLICT', message: 'not applied: query 1 of the transaction failed' } }, { error: { code: 'CONFLICT', message: 'a row with the same name already exists' } }] })),
      ),
    )
    const error = await db.transaction([db.Tag.query().insert({ name: 'a' }), db.Tag.query().insert({ name: 'b' })]).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'CONFLICT', queryIndex: 1, message: 'transaction query 1: a row with the same name already exists' })
  })

  it('sends no Idempotency-Key with reads, and does not retry writes when told not to', async () => {
    respondWith(() => [])
    await db.Tag.query()
    expect(headersSeen[0]!.get('idempotency-key')).toBeNull()
    let calls = 0
    server.use(http.post(URL, () => (calls++, new HttpResponse(null, { status: 503 }))))
    const careful = createClient<DemoApi>({ url: URL, retryDelay: 1, retryMutations: false })
    await expect(careful.Tag.query().insert({ name: 'x' })).rejects.toMatchObject({ code: 'UNAVAILABLE', status: 503 })
    expect(calls).toBe(1)
  })

  it('waits windowMs for more queries before sending', async () => {
    respondWith(() => [])
    const windowed = createClient<DemoApi>({ url: URL, batch: { windowMs: 30 } })
    const first = windowed.Tag.query().fetch()
    await new Promise((resolve) => setTimeout(resolve, 10))
    await Promise.all([first, windowed.Author.query().fetch()])
    expect(sent).toHaveLength(1)
    expect(sent[0]!.queries).toHaveLength(2)
  })

  it('gives up on a request after the timeout, as a network error', async () => {
    server.use(
      http.post(URL, async () => {
        await new Promise((resolve) => setTimeout(resolve, 500))
        return new HttpResponse(encode({ results: [{ data: [] }] }))
      }),
    )
    const impatient = createClient<DemoApi>({ url: URL, timeout: 50, retry: 0 })
    await expect(impatient.Tag.query()).rejects.toMatchObject({ code: 'NETWORK_ERROR', status: 0, message: `[POST ${URL}] network error: no answer within 50 ms` })
  })

  it('looks the global fetch up on each request, so a mock installed after createClient applies', async () => {
    const created = createClient<DemoApi>({ url: 'http://late.test/orm', retry: 0 })
    const original = globalThis.fetch
    const calls: string[] = []
    globalThis.fetch = async (input) => {
      calls.push(String(input))
      return new Response(encode({ results: [{ data: [{ id: 1, name: 'late' }] }] }))
    }
    try {
      await expect(created.Tag.query()).resolves.toEqual([{ id: 1, name: 'late' }])
      expect(calls).toEqual(['http://late.test/orm'])
    } finally {
      globalThis.fetch = original
    }
  })

  it('treats a connection lost while reading the body as a network error, and retries reads after it', async () => {
    let attempts = 0
    const flaky = createClient<DemoApi>({
      url: URL,
      retryDelay: 1,
      fetch: async () => {
        attempts++
        const body = new ReadableStream<Uint8Array>({
          start: (controller) => (attempts === 1 ? controller.error(new TypeError('socket hang up')) : (controller.enqueue(new TextEncoder().encode(encode({ results: [{ data: 3 }] }))), controller.close())),
        })
        return new Response(body, { status: 200 })
      },
    })
    await expect(flaky.Tag.query().count()).resolves.toBe(3)
    expect(attempts).toBe(2)
    const broken = createClient<DemoApi>({ url: URL, retry: 0, fetch: async () => new Response(new ReadableStream({ start: (c) => c.error(new TypeError('socket hang up')) })) })
    await expect(broken.Tag.query().count()).rejects.toMatchObject({ code: 'NETWORK_ERROR', message: `[POST ${URL}] network error: socket hang up` })
  })

  it('Django get() asks for two rows and names the model when none match', async () => {
    respondWith(() => [])
    await expect(db.Tag.objects.get({ name: 'x' })).rejects.toMatchObject({ code: 'NOT_FOUND', message: 'Tag matching query does not exist' })
    expect(sent[0]!.queries[0]).toMatchObject({ limit: 2 })
  })
})

describe('configuration mistakes', () => {
  it('refuses a relative url where nothing can resolve it, at once rather than as retried network errors', () => {
    expect(() => createClient<DemoApi>({ url: '/orm' })).toThrow(/the url "\/orm" is relative, and here \(Node, a worker\) there is no page to resolve it against/)
    expect(() => createClient<DemoApi>({ url: '' })).toThrow('createClient() needs a url')
    // An absolute url, or a fetch that knows its base (an ofetch instance with a baseURL), is fine.
    expect(() => createClient<DemoApi>({ url: 'http://executor.test/orm' })).not.toThrow()
    expect(() => createClient<DemoApi>({ url: '/orm', fetch: async () => new Response('') })).not.toThrow()
  })
})
