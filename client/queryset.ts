/**
 * Querysets: immutable, lazy, and run by awaiting them (as in objection), by `fetch()`,
 * or by the callback style `execute(cb)`.
 */
import type { AggregateFunction, GraphNode, OrderTerm, Query, Scalar } from '../shared/query-ast.js'
import type { AsyncOrmError } from './client-error.js'
import { FilterBuilder } from './filter-builder.js'
import { parseRelationExpression, type RelationTree } from './relation-expression.js'
import { initialState, toGraphNode, toQuery, type QueryState } from './query-state.js'
import type {
  ColumnOf,
  IsMany,
  Page,
  ReadMode,
  RelationNameOf,
  ResultOf,
  RowOf,
  Simplify,
  TargetOf,
  ValueOf,
} from './types.js'

/** Sends one query and resolves with its data. */
export type Runner = (query: Query, signal?: AbortSignal) => Promise<unknown>

export interface RunOptions {
  readonly signal?: AbortSignal
}

type Callback<T> = (error: AsyncOrmError | null, result?: T) => void

/** What a relation in `withGraphFetched` may say: load it, load its relations, or shape it. */
export type GraphSpec<Api, K extends keyof Api & string> = {
  readonly [R in RelationNameOf<Api, K>]?:
    | boolean
    | GraphSpec<Api, TargetOf<Api, K, R>>
    | ((q: QuerySet<Api, TargetOf<Api, K, R>>) => QuerySet<Api, TargetOf<Api, K, R>, any, any, 'many'>)
}

type NodeRow<Api, T extends keyof Api & string, V> = V extends true
  ? RowOf<Api, T>
  : V extends (q: never) => QuerySet<Api, T, infer S, infer G, 'many'>
    ? Simplify<S & G>
    : V extends object
      ? Simplify<RowOf<Api, T> & GraphRows<Api, T, V>>
      : never

/** The properties `withGraphFetched(spec)` adds to each row. */
export type GraphRows<Api, K extends keyof Api & string, Spec> = {
  -readonly [R in keyof Spec & RelationNameOf<Api, K> as Spec[R] extends false | undefined ? never : R]: IsMany<Api, K, R> extends true
    ? NodeRow<Api, TargetOf<Api, K, R>, Spec[R]>[]
    : NodeRow<Api, TargetOf<Api, K, R>, Spec[R]> | null
}

type AggregateValue<F extends AggregateFunction, V> = F extends 'count'
  ? number
  : F extends 'min' | 'max'
    ? V | null
    : F extends 'sum'
      ? number | bigint | string | null
      : number | string | null

/** `'views'` or `'views as total'`: the column, and the result key. */
type AggregateSpec<C extends string> = C | '*' | `${C | '*'} as ${string}`
type AliasOf<S extends string, F extends string> = S extends `${string} as ${infer A}` ? A : `${F}`
type ColumnIn<S extends string> = S extends `${infer C} as ${string}` ? C : S
type AggregateRow<Api, K extends keyof Api & string, F extends AggregateFunction, S extends string> = {
  [A in AliasOf<S, F>]: AggregateValue<F, ColumnIn<S> extends ColumnOf<Api, K> ? ValueOf<Api, K, ColumnIn<S>> : number>
}

abstract class Runnable<Api, K extends keyof Api & string, Out> extends FilterBuilder<Api, K> {
  /** @internal */
  constructor(
    state: QueryState,
    /** @internal */
    readonly runner: Runner | undefined,
  ) {
    super(state)
  }

  /** The wire form of this query: plain data, safe to log and compare. */
  toJSON(): Query {
    return toQuery(this.state)
  }

  /** Runs the query. */
  fetch(options: RunOptions = {}): Promise<Out> {
    if (!this.runner) {
      return Promise.reject(new TypeError('this queryset describes a relation or a group; it cannot run on its own'))
    }
    return this.runner(this.toJSON(), options.signal) as Promise<Out>
  }

  /** Runs the query and calls `callback(error, result)` (django-async-orm's style). */
  execute(callback: Callback<Out>, options: RunOptions = {}): void {
    this.fetch(options).then(
      (result) => callback(null, result),
      (error: AsyncOrmError) => callback(error),
    )
  }

  // A queryset is a thenable, so `await qs` runs it, as in objection.
  then<A = Out, B = never>(
    onFulfilled?: ((value: Out) => A | PromiseLike<A>) | null,
    onRejected?: ((reason: AsyncOrmError) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.fetch().then(onFulfilled, onRejected)
  }

  catch<B = never>(onRejected?: ((reason: AsyncOrmError) => B | PromiseLike<B>) | null): Promise<Out | B> {
    return this.fetch().catch(onRejected)
  }

  finally(onFinally?: (() => void) | null): Promise<Out> {
    return this.fetch().finally(onFinally)
  }

  /** Orders by a column; call again for further keys. */
  orderBy(column: ColumnOf<Api, K>, direction?: 'asc' | 'desc', nulls?: 'first' | 'last'): this
  /** Orders by several columns: `[{ column: 'name' }, { column: 'id', order: 'desc' }]`. */
  orderBy(terms: readonly { column: ColumnOf<Api, K>; order?: 'asc' | 'desc'; nulls?: 'first' | 'last' }[]): this
  orderBy(
    column: string | readonly { column: string; order?: 'asc' | 'desc'; nulls?: 'first' | 'last' }[],
    direction: 'asc' | 'desc' = 'asc',
    nulls?: 'first' | 'last',
  ): this {
    const terms = typeof column === 'string' ? [{ column, order: direction, nulls }] : column
    const added = terms.map((t): OrderTerm => orderTerm(t.column, t.order ?? 'asc', t.nulls))
    return this.with({ orderBy: [...this.state.orderBy, ...added] })
  }

  limit(count: number): this {
    return this.with({ limit: count })
  }

  offset(count: number): this {
    return this.with({ offset: count })
  }
}

/**
 * A read of model `K`. `S` is the selected row, `G` what relation loading adds, `M` what
 * the query resolves to (rows, one row, a page, a count or a boolean).
 */
export class QuerySet<Api, K extends keyof Api & string, S = RowOf<Api, K>, G = {}, M extends ReadMode = 'many'> extends Runnable<
  Api,
  K,
  ResultOf<Simplify<S & G>, M>
> {
  /** Returns only these columns (default: every readable column). */
  select<C extends ColumnOf<Api, K>>(...columns: (C | readonly C[])[]): QuerySet<Api, K, Pick<RowOf<Api, K>, C>, G, M> {
    return this.with({ select: columns.flat() as string[] }) as never
  }

  /** `select distinct` these columns. */
  distinct<C extends ColumnOf<Api, K>>(...columns: (C | readonly C[])[]): QuerySet<Api, K, Pick<RowOf<Api, K>, C>, G, M> {
    return this.with({ select: columns.flat() as string[], distinct: true }) as never
  }

  /** Resolves to the first row, or `undefined`. */
  first(): QuerySet<Api, K, S, G, 'first'> {
    return this.with({ op: 'first' }) as never
  }

  /** The row with this id (a composite id is an array), or `undefined`. */
  findById(id: Scalar | readonly Scalar[]): QuerySet<Api, K, S, G, 'first'> {
    return this.with({ op: 'first', terms: [...this.state.terms, { or: false, filter: { kind: 'id', ids: [id] } }] }) as never
  }

  /** The rows with these ids. */
  findByIds(ids: readonly (Scalar | readonly Scalar[])[]): this {
    return this.with({ terms: [...this.state.terms, { or: false, filter: { kind: 'id', ids } }] })
  }

  /** Page `page` (from 0) of `pageSize` rows: `{ results, total }`. */
  page(page: number, pageSize: number): QuerySet<Api, K, S, G, 'page'> {
    return this.with({ op: 'page', limit: pageSize, offset: page * pageSize }) as never
  }

  /** Rows `start` to `end`, both included: `{ results, total }`. */
  range(start: number, end: number): QuerySet<Api, K, S, G, 'page'> {
    return this.with({ op: 'page', limit: Math.max(0, end - start + 1), offset: start }) as never
  }

  /** The number of matching rows, ignoring limit and offset. */
  resultSize(): QuerySet<Api, K, S, G, 'count'> {
    return this.with({ op: 'count' }) as never
  }

  /** Whether any row matches. */
  exists(): QuerySet<Api, K, S, G, 'exists'> {
    return this.with({ op: 'exists' }) as never
  }

  /**
   * With no argument: the number of matching rows (as `resultSize()`). With a column,
   * an aggregate: `count('id as n')` → rows `{ n }`, per group with `groupBy`.
   */
  count(): QuerySet<Api, K, S, G, 'count'>
  count<const Spec extends AggregateSpec<ColumnOf<Api, K>>>(spec: Spec): AggregateQuerySet<Api, K, AggregateRow<Api, K, 'count', Spec>>
  count(spec?: string): unknown {
    return spec === undefined ? this.with({ op: 'count' }) : this.aggregate('count', spec, false)
  }

  /** `count(distinct column)`. */
  countDistinct<const Spec extends AggregateSpec<ColumnOf<Api, K>>>(spec: Spec): AggregateQuerySet<Api, K, AggregateRow<Api, K, 'count', Spec>> {
    return this.aggregate('count', spec, true)
  }
  sum<const Spec extends AggregateSpec<ColumnOf<Api, K>>>(spec: Spec): AggregateQuerySet<Api, K, AggregateRow<Api, K, 'sum', Spec>> {
    return this.aggregate('sum', spec, false)
  }
  avg<const Spec extends AggregateSpec<ColumnOf<Api, K>>>(spec: Spec): AggregateQuerySet<Api, K, AggregateRow<Api, K, 'avg', Spec>> {
    return this.aggregate('avg', spec, false)
  }
  min<const Spec extends AggregateSpec<ColumnOf<Api, K>>>(spec: Spec): AggregateQuerySet<Api, K, AggregateRow<Api, K, 'min', Spec>> {
    return this.aggregate('min', spec, false)
  }
  max<const Spec extends AggregateSpec<ColumnOf<Api, K>>>(spec: Spec): AggregateQuerySet<Api, K, AggregateRow<Api, K, 'max', Spec>> {
    return this.aggregate('max', spec, false)
  }

  /** Groups rows for aggregates: each result row has these columns and the aggregates. */
  groupBy<C extends ColumnOf<Api, K>>(...columns: (C | readonly C[])[]): AggregateQuerySet<Api, K, Pick<RowOf<Api, K>, C>> {
    const state: QueryState = { ...this.state, op: 'aggregate', groupBy: columns.flat() as string[] }
    return new AggregateQuerySet(state, this.runner)
  }

  /**
   * Loads relations in one query per relation level, each under the related model's
   * read policy. A relation maps to `true`, to nested relations, or to a callback that
   * filters, orders, limits (per parent row) and nests.
   *
   * @example
   * db.User.query().withGraphFetched({
   *   posts: (p) => p.where('published', true).orderBy('createdAt', 'desc').limit(3).withGraphFetched({ tags: true }),
   *   org: true,
   * })
   * db.User.query().withGraphFetched('[posts.tags, org]') // objection's string form, untyped
   */
  withGraphFetched<const Spec extends GraphSpec<Api, K>>(spec: Spec): QuerySet<Api, K, S, G & GraphRows<Api, K, Spec>, M>
  withGraphFetched(expression: string): QuerySet<Api, K, S, G & Record<string, unknown>, M>
  withGraphFetched(spec: object | string): unknown {
    const tree = typeof spec === 'string' ? parseRelationExpression(spec) : spec
    return this.with({ graph: mergeGraph(this.state.graph, graphNodes(tree)) })
  }

  private aggregate(fn: AggregateFunction, spec: string, distinct: boolean): AggregateQuerySet<Api, K, never> {
    return new AggregateQuerySet(withAggregate(this.state, fn, spec, distinct), this.runner)
  }
}

/** An aggregate read: resolves to rows of groupBy columns and aggregates (`R`). */
export class AggregateQuerySet<Api, K extends keyof Api & string, R> extends Runnable<Api, K, Simplify<R>[]> {
  groupBy<C extends ColumnOf<Api, K>>(...columns: (C | readonly C[])[]): AggregateQuerySet<Api, K, R & Pick<RowOf<Api, K>, C>> {
    return this.with({ groupBy: [...(this.state.groupBy ?? []), ...(columns.flat() as string[])] }) as never
  }
  count<const Spec extends AggregateSpec<ColumnOf<Api, K>>>(spec: Spec): AggregateQuerySet<Api, K, R & AggregateRow<Api, K, 'count', Spec>> {
    return this.aggregate('count', spec, false)
  }
  countDistinct<const Spec extends AggregateSpec<ColumnOf<Api, K>>>(spec: Spec): AggregateQuerySet<Api, K, R & AggregateRow<Api, K, 'count', Spec>> {
    return this.aggregate('count', spec, true)
  }
  sum<const Spec extends AggregateSpec<ColumnOf<Api, K>>>(spec: Spec): AggregateQuerySet<Api, K, R & AggregateRow<Api, K, 'sum', Spec>> {
    return this.aggregate('sum', spec, false)
  }
  avg<const Spec extends AggregateSpec<ColumnOf<Api, K>>>(spec: Spec): AggregateQuerySet<Api, K, R & AggregateRow<Api, K, 'avg', Spec>> {
    return this.aggregate('avg', spec, false)
  }
  min<const Spec extends AggregateSpec<ColumnOf<Api, K>>>(spec: Spec): AggregateQuerySet<Api, K, R & AggregateRow<Api, K, 'min', Spec>> {
    return this.aggregate('min', spec, false)
  }
  max<const Spec extends AggregateSpec<ColumnOf<Api, K>>>(spec: Spec): AggregateQuerySet<Api, K, R & AggregateRow<Api, K, 'max', Spec>> {
    return this.aggregate('max', spec, false)
  }

  private aggregate(fn: AggregateFunction, spec: string, distinct: boolean): AggregateQuerySet<Api, K, never> {
    return new AggregateQuerySet(withAggregate(this.state, fn, spec, distinct), this.runner)
  }
}

/** Adds `fn(column) as alias` (from `'column'` or `'column as alias'`) to an aggregate read. */
function withAggregate(state: QueryState, fn: AggregateFunction, spec: string, distinct: boolean): QueryState {
  const match = /^\s*(.+?)\s+as\s+(.+?)\s*$/i.exec(spec)
  const column = (match ? match[1]! : spec).trim()
  const alias = match ? match[2]! : fn
  const aggregate = { fn, alias, ...(column !== '*' && { column }), ...(distinct && { distinct }) }
  return { ...state, op: 'aggregate', aggregates: [...state.aggregates, aggregate] }
}

function orderTerm(column: string, direction: string, nulls: 'first' | 'last' | undefined): OrderTerm {
  const dir = direction.toLowerCase()
  if (dir !== 'asc' && dir !== 'desc') throw new TypeError(`order direction must be "asc" or "desc", not "${direction}"`)
  return { column, direction: dir, ...(nulls && { nulls }) }
}

/** Turns a relation tree (object form) into graph nodes. */
function graphNodes(tree: RelationTree | object): GraphNode[] {
  const nodes: GraphNode[] = []
  for (const relation of Object.keys(tree)) {
    const value = (tree as Record<string, unknown>)[relation]
    if (value === false || value === undefined) continue
    if (value === true) nodes.push({ relation })
    else if (typeof value === 'function') {
      const built = value(new QuerySet(initialState(''), undefined))
      if (!(built instanceof QuerySet)) throw new TypeError(`the withGraphFetched callback for "${relation}" must return its queryset`)
      nodes.push(toGraphNode(relation, built.state))
    } else if (value !== null && typeof value === 'object') {
      nodes.push({ relation, graph: graphNodes(value) })
    } else {
      throw new TypeError(`withGraphFetched: "${relation}" must be true, an object or a callback`)
    }
  }
  return nodes
}

/** Calling `withGraphFetched` twice merges the trees; a relation given again is replaced. */
function mergeGraph(current: readonly GraphNode[], added: GraphNode[]): GraphNode[] {
  const names = new Set(added.map((n) => n.relation))
  return [...current.filter((n) => !names.has(n.relation)), ...added]
}

export type { Page }
