/**
 * `createClient<typeof api, typeof procedures>({ url })`: one handle per exposed model,
 * typed from the API definition, plus `transaction()` and `call()`. Model names exist
 * only in types, so handles are made on first use.
 */
import type { CallQuery, Query } from '../shared/query-ast.js'
import { Deferred, type RunOptions } from './deferred.js'
import { DjangoQuerySet } from './django.js'
import { QuerySet } from './queryset.js'
import { initialState } from './query-state.js'
import { buildError, messageOf } from './soft-fail.js'
import { Transport, type ClientOptions } from './transport.js'
import type { ModelName, Ref, RelationNameOf, TargetOf } from './types.js'
import { RelatedQuery } from './related-query.js'
import type { Runner } from './runnable.js'
import { LINK, type ClientLink } from './client-link.js'

export interface ModelHandle<Api, K extends ModelName<Api>> {
  /** A new, empty queryset over the model (objection's `Model.query()`). */
  query(): QuerySet<Api, K>
  /** The Django-style manager: `objects.filter({...}).orderBy('-id').slice(0, 5)`. */
  readonly objects: DjangoQuerySet<Api, K>
  /**
   * objection's `Model.relatedQuery(relation)`: `.for(ids)` reads the related rows of
   * these rows; inside `select()`, `.count().as('n')` (or `sum`, `avg`, `min`, `max`) is an
   * aggregate of each row's related rows.
   */
  relatedQuery<R extends RelationNameOf<Api, K>>(relation: R): RelatedQuery<Api, K, TargetOf<Api, K, R>>
}

/** Anything that can go in a transaction: a queryset, a write, a procedure call. */
export interface Sendable<Out = unknown> {
  toJSON(): Query
  fetch(options?: RunOptions): Promise<Out>
}

type ProcedureInput<P> = P extends { readonly '~types'?: { readonly input: infer I } } ? I : never
type ProcedureResult<P> = P extends { readonly '~types'?: { readonly result: infer R } } ? R : unknown

/** A procedure call: run it like a queryset, or put it in a transaction. */
export class Call<Out> extends Deferred<Out> implements Sendable<Out> {
  /** @internal */
  constructor(
    private readonly query: CallQuery,
    private readonly run: ((query: Query, signal?: AbortSignal) => Promise<unknown>) | undefined,
  ) {
    super()
  }

  toJSON(): CallQuery {
    return this.query
  }

  /** @internal The client this call runs on, for integrations. */
  get [LINK](): ClientLink | undefined {
    return (this.run as Runner | undefined)?.link
  }

  override fetch(options: RunOptions = {}): Promise<Out> {
    if (!this.run) return Promise.reject(new TypeError('a call made on a transaction runs with the transaction'))
    return this.run(this.query, options.signal) as Promise<Out>
  }
}

type Models<Api> = { readonly [K in ModelName<Api>]: ModelHandle<Api, K> }

/** What a transaction callback receives: the models, `ref` and `call`. */
export type TransactionScope<Api, Procedures> = Models<Api> & {
  /**
   * The value of `column` in the result of query `index` of this transaction (its first
   * row if it returned several), resolved by the executor. It may point only backwards.
   */
  ref(index: number, column: string): Ref
  call<N extends keyof Procedures & string>(name: N, args: ProcedureInput<Procedures[N]>): Call<ProcedureResult<Procedures[N]>>
}

type Results<T extends readonly Sendable[]> = { -readonly [I in keyof T]: T[I] extends Sendable<infer O> ? O : never }

export type Client<Api, Procedures = {}> = Models<Api> & {
  /**
   * Runs the querysets in one database transaction, in one request: all applied or
   * none. Resolves to their results in order; rejects with the failing query's error
   * (its position in `queryIndex`).
   *
   * @example
   * const [user, post] = await db.transaction((t) => [
   *   t.User.query().insert({ name: 'Ann' }),
   *   t.Post.query().insert({ title: 'Hi', authorId: t.ref(0, 'id') }),
   * ])
   */
  transaction<const T extends readonly Sendable[]>(
    queries: T | ((t: TransactionScope<Api, Procedures>) => T),
    options?: RunOptions,
  ): Promise<Results<T>>
  /** Calls a server procedure; its arguments are checked by the procedure's schema. */
  call<N extends keyof Procedures & string>(name: N, args: ProcedureInput<Procedures[N]>): Call<ProcedureResult<Procedures[N]>>
}

/** Names a model may not have, because the client uses them. */
const RESERVED = new Set(['transaction', 'call', 'then'])

export function createClient<Api, Procedures = {}>(options: ClientOptions): Client<Api, Procedures> {
  if (typeof options?.url !== 'string' || options.url === '') throw new TypeError('createClient() needs a url')
  if (options.fetch === undefined && !/^[a-z][a-z0-9+.-]*:/i.test(options.url) && !hasPageBase()) {
    // Resolving it would fail on every request, as a retried NETWORK_ERROR: say so now.
    throw new TypeError(
      `createClient(): the url "${options.url}" is relative, and here (Node, a worker) there is no page to resolve it against: give an absolute URL, or an ofetch instance with a baseURL as fetch`,
    )
  }
  const transport = new Transport(options)
  const run: Runner = Object.assign((query: Query, signal?: AbortSignal) => transport.send(query, signal), {
    stream: (query: Query, signal?: AbortSignal) => transport.stream(query, signal),
    link: transport,
  })
  const handles = models<Api>(run)
  const call = (runner: typeof run | undefined) => (procedure: string, args: unknown) =>
    new Call({ op: 'call', procedure, ...(args !== undefined && { args }) }, runner)
  const atomic = async (queries: readonly Sendable[] | ((t: unknown) => readonly Sendable[]), runOptions: RunOptions = {}) => {
    let list: readonly Sendable[]
    try {
      list = typeof queries === 'function' ? queries(Object.assign(Object.create(models<Api>(undefined)), { ref, call: call(undefined) })) : queries
    } catch (error) {
      throw buildError(messageOf(error))
    }
    if (!Array.isArray(list) || list.length === 0) throw buildError('transaction() needs a non-empty array of querysets')
    const failed = list.find((q) => (q as { state?: { failure?: string } }).state?.failure !== undefined)
    if (failed) throw buildError((failed as unknown as { state: { failure: string } }).state.failure)
    return transport.sendAtomic(list.map((q) => q.toJSON()), runOptions.signal)
  }
  // The promise names its client, as querysets do: an integration that is handed it can tell.
  const transaction = (queries: readonly Sendable[] | ((t: unknown) => readonly Sendable[]), runOptions?: RunOptions) => Object.assign(atomic(queries, runOptions), { [LINK]: transport })
  const extras: Record<string, unknown> = { transaction, call: call(run) }
  return new Proxy({} as Client<Api, Procedures>, {
    get(_target, name) {
      if (typeof name !== 'string' || name === 'then' || name in Object.prototype) return undefined
      return Object.hasOwn(extras, name) ? extras[name] : handles(name)
    },
  })
}

/** Model handles made on first use; without a runner their querysets only describe queries. */
function models<Api>(run: Runner | undefined) {
  const handles = new Map<string, ModelHandle<Api, never>>()
  const get = (name: string) => {
    let handle = handles.get(name)
    if (!handle) {
      const query = () => new QuerySet(initialState(name), run) as QuerySet<Api, never>
      handle = {
        query,
        objects: new DjangoQuerySet(name as never, query()),
        relatedQuery: (relation: string) => new RelatedQuery(name as never, relation, run) as never,
      }
      handles.set(name, handle)
    }
    return handle
  }
  if (run) return get
  return new Proxy({} as Record<string, unknown>, {
    get: (_target, name) => (typeof name !== 'string' || RESERVED.has(name) || name in Object.prototype ? undefined : get(name)),
  }) as never
}

/** A reference to a column of an earlier query's result in the same request. */
export function ref(index: number, column: string): Ref {
  if (!Number.isSafeInteger(index) || index < 0) throw new TypeError('ref() takes the index of an earlier query')
  return { $ref: { query: index, column } }
}

/** Whether relative URLs resolve here: a page (or a service worker's scope) gives them a base. */
function hasPageBase(): boolean {
  const location = (globalThis as { location?: { href?: unknown } }).location
  return typeof location?.href === 'string' && /^[a-z][a-z0-9+.-]*:\/\//i.test(location.href)
}
