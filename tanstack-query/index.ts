/**
 * `async-orm/tanstack-query`: querysets in TanStack Query (React, Vue, Solid, Svelte,
 * Angular: any adapter of `@tanstack/query-core` 5.90 or newer), typed, keyed by their AST, and
 * invalidated after writes by the models they read.
 *
 * - `queryOptions(qs)`: `{ queryKey, queryFn, retry }` for any read.
 * - `infiniteQueryOptions(qs, { pageSize })`: pages of a read (`qs.page(n, pageSize)`).
 * - `mutationOptions(fn)`: a write, a transaction or a procedure call as a mutation.
 *
 * Once a query of a client has run in a `QueryClient`, every write through that client
 * settles into an invalidation there: the queries whose AST reads a model the write may
 * have changed are invalidated (active ones refetch, together, in one request), and no
 * others. The models come from the executor's description of its API, asked for with the
 * first query (`describe`); see `client/model-sets.ts` for what counts as reading.
 *
 * It imports only types from `@tanstack/query-core`: it adds no framework to a bundle.
 */
import type { DataTag, InfiniteData } from '@tanstack/query-core'
import type { ApiDescription } from '../shared/api-description.js'
import { READ_OPS, type Query, type ReadQuery } from '../shared/query-ast.js'
import type { AsyncOrmError } from '../client/client-error.js'
import { linkOf, type ClientLink } from '../client/client-link.js'
import { modelsRead, modelsWritten, overlaps, union, type ModelSet } from './model-sets.js'
import { watchOf, type ClientWatch } from './client-watch.js'
import type { RunOptions } from '../client/deferred.js'
import type { Page } from '../client/types.js'

/** The first element of every key this module makes. */
export const QUERY_KEY_PREFIX = 'async-orm'

/**
 * `['async-orm', url, model, query]`: the executor's URL, the query's model, and the
 * query's AST as a superjson document (plain JSON, Dates and bigints annotated); an
 * infinite query adds `{ pageSize }`. Equal queries (filters in the same order) have equal
 * keys.
 */
export type AsyncOrmQueryKey = readonly [typeof QUERY_KEY_PREFIX, string, string, unknown, ...unknown[]]

/** A read queryset: `db.Post.query()…`, a Django-style `objects.filter(…)`, an aggregate. */
export interface Readable<Out> {
  toJSON(): Query
  fetch(options?: RunOptions): Promise<Out>
}

/** A read that pages: a queryset of rows (`db.Post.query()…`, not `first()` or `count()`). */
export interface Pageable<Row> extends Readable<Row[]> {
  page(page: number, pageSize: number): Readable<Page<Row>>
}

/** Writes are not reads: `queryOptions` refuses them (`returning` is a write's). */
type NotAWrite = { readonly returning?: never }

/**
 * What this module needs of TanStack's `QueryClient`, structurally, so that any copy of
 * `@tanstack/query-core` an app's adapter brings fits.
 */
export interface QueryClientLike {
  invalidateQueries(filters: { queryKey: readonly unknown[]; predicate: (query: CachedQueryLike) => boolean }): Promise<unknown>
}

/** What this module reads of a cached query. */
export interface CachedQueryLike {
  readonly queryKey: readonly unknown[]
}

/** What a query function is given (TanStack's `QueryFunctionContext`, as far as it is read here). */
export interface QueryContext {
  readonly client: QueryClientLike
  readonly signal: AbortSignal
}

/** What a page's query function is given: the page's number too. */
export interface PageContext extends QueryContext {
  readonly pageParam: number
}

/** What a mutation function and its callbacks are given (TanStack's `MutationContext`, as far as it is read here). */
export interface MutationContext {
  readonly client: QueryClientLike
}

export interface AsyncOrmQueryOptions<Out> {
  readonly queryKey: DataTag<AsyncOrmQueryKey, Out, AsyncOrmError>
  readonly queryFn: (context: QueryContext) => Promise<Out>
  readonly retry: (failureCount: number, error: AsyncOrmError) => boolean
}

export interface AsyncOrmInfiniteQueryOptions<Row> {
  readonly queryKey: DataTag<AsyncOrmQueryKey, InfiniteData<Page<Row>, number>, AsyncOrmError>
  readonly queryFn: (context: PageContext) => Promise<Page<Row>>
  readonly initialPageParam: number
  readonly getNextPageParam: (lastPage: Page<Row>, allPages: Page<Row>[], lastPageParam: number) => number | undefined
  readonly getPreviousPageParam: (firstPage: Page<Row>, allPages: Page<Row>[], firstPageParam: number) => number | undefined
  readonly retry: (failureCount: number, error: AsyncOrmError) => boolean
}

/** TanStack's mutation callbacks, typed with the write's result and `AsyncOrmError`. */
export interface MutationCallbacks<Variables, Out, OnMutateResult> {
  readonly onMutate?: (variables: Variables, context: MutationContext) => OnMutateResult | Promise<OnMutateResult>
  readonly onSuccess?: (data: Out, variables: Variables, onMutateResult: OnMutateResult | undefined, context: MutationContext) => unknown
  readonly onError?: (error: AsyncOrmError, variables: Variables, onMutateResult: OnMutateResult | undefined, context: MutationContext) => unknown
  readonly onSettled?: (data: Out | undefined, error: AsyncOrmError | null, variables: Variables, onMutateResult: OnMutateResult | undefined, context: MutationContext) => unknown
}

export interface AsyncOrmMutationOptions<Variables, Out, OnMutateResult = unknown> extends MutationCallbacks<Variables, Out, OnMutateResult> {
  readonly mutationFn: (variables: Variables, context: MutationContext) => Promise<Out>
  /** Calls the given `onSettled`, then waits for the queries the write invalidated to refetch: the mutation stays pending until then. */
  readonly onSettled: (data: Out | undefined, error: AsyncOrmError | null, variables: Variables, onMutateResult: OnMutateResult | undefined, context: MutationContext) => Promise<void>
}

/**
 * The options of a query that runs `qs`, for `useQuery`, `useSuspenseQuery`,
 * `queryClient.fetchQuery`, `prefetchQuery`…; `queryKey` is typed with the result, so
 * `queryClient.getQueryData(key)` and `setQueryData(key, …)` are too.
 *
 * @example
 * const posts = useQuery(queryOptions(db.Post.query().where('published', true).orderBy('id')))
 */
export function queryOptions<Out>(qs: Readable<Out> & NotAWrite): AsyncOrmQueryOptions<Out> {
  const { link, query } = readOf(qs, 'queryOptions')
  return {
    queryKey: [QUERY_KEY_PREFIX, link.url, query.model, link.plain(query)] as unknown as AsyncOrmQueryOptions<Out>['queryKey'],
    queryFn: (context) => {
      watch(link, context.client)
      return qs.fetch({ signal: context.signal })
    },
    retry,
  }
}

/**
 * The options of an infinite query over `qs`, `pageSize` rows a page: page `n` is
 * `qs.page(n, pageSize)` (`{ results, total }`), from 0 while rows remain.
 *
 * @example
 * const feed = useInfiniteQuery(infiniteQueryOptions(db.Post.query().orderBy('id', 'desc'), { pageSize: 20 }))
 * feed.data?.pages.flatMap((page) => page.results)
 */
export function infiniteQueryOptions<Row>(qs: Pageable<Row>, options: { readonly pageSize: number }): AsyncOrmInfiniteQueryOptions<Row> {
  const { link, query } = readOf(qs, 'infiniteQueryOptions')
  const pageSize = options?.pageSize
  if (!Number.isSafeInteger(pageSize) || pageSize < 1) throw new TypeError('infiniteQueryOptions() needs a pageSize: a positive integer')
  if (query.op !== 'select') throw new TypeError(`infiniteQueryOptions() pages a queryset of rows, not a ${query.op} query`)
  if (query.limit !== undefined || query.offset !== undefined) throw new TypeError('infiniteQueryOptions() pages the queryset itself: leave out limit() and offset()')
  return {
    queryKey: [QUERY_KEY_PREFIX, link.url, query.model, link.plain(query), { pageSize }] as unknown as AsyncOrmInfiniteQueryOptions<Row>['queryKey'],
    queryFn: (context) => {
      watch(link, context.client)
      return qs.page(context.pageParam, pageSize).fetch({ signal: context.signal })
    },
    initialPageParam: 0,
    getNextPageParam: (last, _pages, param) => ((param + 1) * pageSize < last.total ? param + 1 : undefined),
    getPreviousPageParam: (_first, _pages, param) => (param > 0 ? param - 1 : undefined),
    retry,
  }
}

/**
 * The options of a mutation that runs what `fn` returns: a write (`db.Post.query().insert(…)`),
 * a transaction (`db.transaction(…)`) or a procedure call (`db.call(…)`), with TanStack's
 * callbacks (`onMutate` for optimistic updates, `onError`, `onSuccess`, `onSettled`) typed
 * by its result and `AsyncOrmError`. The queries the write invalidates have refetched
 * before the mutation settles.
 *
 * @example
 * const addPost = useMutation(mutationOptions((title: string) => db.Post.query().insert({ title })))
 */
export function mutationOptions<Variables = void, Out = unknown, OnMutateResult = unknown>(
  fn: (variables: Variables) => PromiseLike<Out>,
  callbacks: MutationCallbacks<Variables, Out, OnMutateResult> = {},
): AsyncOrmMutationOptions<Variables, Out, OnMutateResult> {
  if (typeof fn !== 'function') throw new TypeError('mutationOptions() takes a function of the variables that returns a write, a transaction or a call')
  return {
    ...callbacks,
    mutationFn: async (variables, context) => {
      const work = fn(variables)
      // A write's own client is known before it is sent: it invalidates here even if no query ran yet.
      const link = linkOf(work)
      if (link) watch(link, context.client)
      return await work
    },
    onSettled: async (data, error, variables, onMutateResult, context) => {
      await callbacks.onSettled?.(data, error, variables, onMutateResult, context)
      await Promise.all(invalidating.get(context.client) ?? [])
    },
  }
}

/** Retries a query only where TanStack's retry can help: the executor or the network was unreachable. */
function retry(failureCount: number, error: AsyncOrmError): boolean {
  return failureCount < 3 && (error?.code === 'NETWORK_ERROR' || error?.code === 'UNAVAILABLE')
}

function readOf(qs: { toJSON(): Query }, caller: string): { link: ClientLink; query: ReadQuery } {
  const query = typeof qs?.toJSON === 'function' ? qs.toJSON() : undefined
  if (!query || !(READ_OPS as readonly string[]).includes(query.op)) {
    throw new TypeError(`${caller}() takes a read queryset (db.Model.query()…); for writes, transactions and calls use mutationOptions()`)
  }
  const link = linkOf(qs)
  if (!link) throw new TypeError(`${caller}() takes a queryset of a client (db.Model.query()…), not one of a transaction's scope`)
  return { link, query: query as ReadQuery }
}

/** Invalidations in flight, by query client: a mutation's `onSettled` waits for them. */
const invalidating = new WeakMap<QueryClientLike, Set<Promise<void>>>()

/**
 * The query clients each client's writes invalidate queries in, held weakly: a client
 * outlives query clients (one per test, per server-rendered request), and a collected one
 * leaves the set.
 */
const watchers = new WeakMap<ClientLink, { readonly clients: Set<WeakRef<QueryClientLike>>; readonly known: WeakSet<QueryClientLike> }>()
const collected = new FinalizationRegistry<{ readonly clients: Set<WeakRef<QueryClientLike>>; readonly held: WeakRef<QueryClientLike> }>(({ clients, held }) => clients.delete(held))

/** Makes writes through `link` invalidate the queries they may change in `client`. */
function watch(link: ClientLink, client: QueryClientLike): void {
  const clientWatch = watchOf(link)
  // Asked with the first query (or again, for another caller), so that writes find it.
  clientWatch.ask()
  let watcher = watchers.get(link)
  if (!watcher) {
    const created = { clients: new Set<WeakRef<QueryClientLike>>(), known: new WeakSet<QueryClientLike>() }
    watchers.set(link, (watcher = created))
    clientWatch.onWrites((writes) => {
      for (const held of created.clients) {
        const current = held.deref()
        if (current) track(current, invalidate(link, clientWatch, current, writes))
        else created.clients.delete(held)
      }
    })
  }
  if (watcher.known.has(client)) return
  watcher.known.add(client)
  const held = new WeakRef(client)
  watcher.clients.add(held)
  collected.register(client, { clients: watcher.clients, held })
}

function track(client: QueryClientLike, invalidation: Promise<void>): void {
  let pending = invalidating.get(client)
  if (!pending) invalidating.set(client, (pending = new Set()))
  const done: Promise<void> = invalidation.finally(() => pending.delete(done))
  pending.add(done)
}

/** What the read of each cached query reads, by the description it was worked out with. */
const readsOf = new WeakMap<CachedQueryLike, { api: ApiDescription | undefined; models: ModelSet }>()

/**
 * Invalidates, at once, the queries of `link` in `client` that `writes` may have changed:
 * by the description known now (without one, by the conservative rule), never waiting for
 * one in flight; one that is out of date for the caller is asked for again.
 */
async function invalidate(link: ClientLink, clientWatch: ClientWatch, client: QueryClientLike, writes: readonly Query[]): Promise<void> {
  const api = clientWatch.description
  clientWatch.ask()
  let written: ModelSet
  try {
    written = union(writes.map((write) => modelsWritten(write, api)))
  } catch {
    // A write this module cannot read (a newer client's): any query may show it.
    written = 'all'
  }
  try {
    await client.invalidateQueries({
      queryKey: [QUERY_KEY_PREFIX, link.url],
      predicate: (cached) => overlaps(modelsOf(cached, api), written),
    })
  } catch {
    // A refetch's failure shows on its query; the write itself is settled.
  }
}

function modelsOf(cached: CachedQueryLike, api: ApiDescription | undefined): ModelSet {
  const known = readsOf.get(cached)
  if (known && known.api === api) return known.models
  const document = cached.queryKey[3] as { json?: unknown } | undefined
  const query = document?.json as Query | undefined
  let models: ModelSet = 'all'
  try {
    if (query && typeof query === 'object' && typeof query.op === 'string') models = modelsRead(query, api)
  } catch {
    // A key under this prefix that this module did not make: any write may concern it.
  }
  readsOf.set(cached, { api, models })
  return models
}
