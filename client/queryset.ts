/**
 * Querysets: immutable, lazy, and run by awaiting them (as in objection), by `fetch()`,
 * or by the callback style `execute(cb)`.
 */
import type { AggregateFunction, GraphNode, JoinNode, Scalar, SelectItem, WriteRow } from '../shared/query-ast.js'
import { RelationAggregateSelection, type AggregatesOf } from './related-query.js'
import { Runnable, type RunOptions } from './runnable.js'
import { parseRelationExpression, type RelationTree } from './relation-expression.js'
import { initialState, toGraphNode, toQuery, type Mutation, type QueryState } from './query-state.js'
import { MutationQuerySet } from './mutation.js'
import { buildError, failSoftly } from './soft-fail.js'
import type {
  CanDelete,
  InsertGraphOf,
  AvgValue,
  InsertRowOf,
  JoinedRowOf,
  JoinedSelectOf,
  PatchOf,
  UpdateOf,
  ColumnOf,
  IsMany,
  Page,
  ReadMode,
  RelationNameOf,
  ResultOf,
  RowOf,
  Simplify,
  SumValue,
  TargetOf,
  ValueOf,
} from './types.js'
import type { IdValue } from './types.js'


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
      ? SumValue<V>
      : AvgValue<V>

/** `'views'` or `'views as total'`: the column, and the result key. */
type AggregateSpec<C extends string> = C | '*' | `${C | '*'} as ${string}`
type AliasOf<S extends string, F extends string> = S extends `${string} as ${infer A}` ? A : `${F}`
type ColumnIn<S extends string> = S extends `${infer C} as ${string}` ? C : S
type AggregateRow<Api, K extends keyof Api & string, F extends AggregateFunction, S extends string> = {
  [A in AliasOf<S, F>]: AggregateValue<F, ColumnIn<S> extends ColumnOf<Api, K> ? ValueOf<Api, K, ColumnIn<S>> : number>
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
  /**
   * Returns only these columns (default: every readable column), and aggregates of
   * related rows made with `relatedQuery`:
   *
   * @example
   * db.Person.query().select('id', 'firstName', db.Person.relatedQuery('pets').count().as('petCount'))
   * // select id, first_name, (select count(*) from animals where animals.owner_id = persons.id) as "petCount" from persons
   */
  select<C extends ColumnOf<Api, K>>(...columns: (C | readonly C[])[]): QuerySet<Api, K, Pick<RowOf<Api, K>, C>, G, M>
  select<const Items extends readonly (ColumnOf<Api, K> | JoinedSelectOf<Api, K> | RelationAggregateSelection<string, unknown>)[]>(
    ...items: Items
  ): QuerySet<
    Api,
    K,
    Pick<RowOf<Api, K>, Extract<Items[number], ColumnOf<Api, K>>> &
      JoinedRowOf<Api, K, Exclude<Extract<Items[number], string>, ColumnOf<Api, K>>> &
      AggregatesOf<Extract<Items[number], RelationAggregateSelection<string, unknown>>>,
    G,
    M
  >
  select(...items: unknown[]): unknown {
    const select: SelectItem[] = []
    for (const item of items.flat() as (string | RelationAggregateSelection<string, unknown>)[]) {
      if (typeof item === 'string') select.push(item)
      else if (item instanceof RelationAggregateSelection) {
        if (item.failure !== undefined) throw new TypeError(item.failure)
        select.push(item.node)
      } else throw new TypeError('select() takes column names, joined columns and relatedQuery(…) aggregates')
    }
    return this.with({ select }) as never
  }

  /**
   * Joins to-one relations (an inner join: rows without the related row, or whose related
   * row the caller may not see, are left out), so that `where…`, `orderBy` and `select`
   * can name their columns as `'owner.name'` (nested: `'owner:parent.name'`). Takes a
   * relation expression without modifiers: `'owner'`, `'[owner, category]'`, `'owner.parent'`.
   *
   * @example
   * db.Animal.query().joinRelated('owner').where('owner.lastName', 'Hill').select('id', 'name', 'owner.firstName as ownerName')
   * // select a.id, a.name, (select p.first_name from persons p where p.id = a.owner_id) as "ownerName" from animals a
   * //   where exists (select 1 from persons p where p.id = a.owner_id) and (select p.last_name …) = 'Hill'
   */
  joinRelated(expression: string): this {
    return this.join(expression, false)
  }

  /** `joinRelated` under objection's other name. */
  innerJoinRelated(expression: string): this {
    return this.join(expression, false)
  }

  /** Like `joinRelated`, keeping rows without the related row (its columns are then null). */
  leftJoinRelated(expression: string): this {
    return this.join(expression, true)
  }

  private join(expression: string, left: boolean): this {
    return this.with({ joins: mergeJoins(this.state.joins ?? [], joinNodes(parseRelationExpression(expression), left)) })
  }

  /** `select distinct` these columns. */
  distinct<C extends ColumnOf<Api, K>>(...columns: (C | readonly C[])[]): QuerySet<Api, K, Pick<RowOf<Api, K>, C>, G, M> {
    return this.with({ select: columns.flat() as string[], distinct: true }) as never
  }

  /**
   * The rows as they arrive, for answers too large to hold at once: the executor reads
   * them with a cursor, 1,000 at a time (each with its relations), and sends each batch
   * as the client takes it. Rows are typed as `fetch()` types them. The query's `limit`
   * may go up to the executor's `maxStreamRows` (100,000 by default); without one, the
   * stream sends every matching row, and fails with `LIMIT_EXCEEDED` after
   * `maxStreamRows` of them if there are more. Stopping early (`break`, or the `signal`)
   * cancels the answer, and the executor lets go of its connection.
   *
   * @example
   * for await (const post of db.Post.query().where('published', true).orderBy('id').stream()) {
   *   await write(post)
   * }
   */
  stream(this: QuerySet<Api, K, S, G, 'many'>, options: RunOptions = {}): AsyncGenerator<Simplify<S & G>, void, undefined> {
    const { runner, state } = this
    return (async function* () {
      if (state.failure !== undefined) throw buildError(state.failure)
      if (!runner?.stream) throw new TypeError('this queryset describes a relation or a group; it cannot run on its own')
      const query = toQuery(state)
      if (query.op !== 'select') throw new TypeError(`stream() sends rows as they come: "${query.op}" answers at once; use fetch()`)
      yield* runner.stream(query, options.signal) as AsyncIterable<Simplify<S & G>>
    })()
  }

  /** Resolves to the first row, or `undefined`. */
  first(): QuerySet<Api, K, S, G, 'first'> {
    return this.with({ op: 'first' }) as never
  }

  /** The row with this id (a composite id is an array), or `undefined`. */
  findById(id: IdValue | readonly IdValue[]): QuerySet<Api, K, S, G, 'first'> {
    // A custom-typed id travels as its type (superjson) and is checked by the executor.
    return this.with({ op: 'first', terms: [...this.state.terms, { or: false, filter: { kind: 'id', ids: [id as Scalar] } }] }) as never
  }

  /** The rows with these ids. */
  findByIds(ids: readonly (IdValue | readonly IdValue[])[]): this {
    return this.with({ terms: [...this.state.terms, { or: false, filter: { kind: 'id', ids: ids as readonly Scalar[] } }] })
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

  /**
   * Inserts one row (resolving to it) or several (resolving to them), with the
   * readable columns of each. Columns outside the insert grant are refused.
   *
   * @example
   * await db.Post.query().insert({ title: 'Hi', authorId: 1n })
   * // insert into posts (title, author_id) values ('Hi', 1) returning *
   */
  insert(row: InsertRowOf<Api, K>): MutationQuerySet<Api, K, RowOf<Api, K>>
  insert(rows: readonly InsertRowOf<Api, K>[]): MutationQuerySet<Api, K, RowOf<Api, K>[]>
  insert(rows: object | readonly object[]): unknown {
    return this.write(rows, false)
  }

  /**
   * Inserts rows with related rows under exposed relation keys, each under the related
   * model's insert grant (objection's `insertGraph`; `#id`, `#ref` and `#dbRef` are refused).
   */
  insertGraph(graph: InsertGraphOf<Api, K>): MutationQuerySet<Api, K, RowOf<Api, K> & Record<string, unknown>>
  insertGraph(graphs: readonly InsertGraphOf<Api, K>[]): MutationQuerySet<Api, K, (RowOf<Api, K> & Record<string, unknown>)[]>
  insertGraph(graphs: object | readonly object[]): unknown {
    return this.write(graphs, true)
  }

  /** Changes the given columns of the matching rows; resolves to the number changed. */
  patch(values: PatchOf<Api, K>): MutationQuerySet<Api, K, number, M extends 'first' ? true : false> {
    return this.mutate({ op: 'patch', values: values as WriteRow, returning: 'count' })
  }

  /** Replaces every updatable column of the matching rows; resolves to the number changed. */
  update(values: UpdateOf<Api, K>): MutationQuerySet<Api, K, number, M extends 'first' ? true : false> {
    return this.mutate({ op: 'update', values: values as WriteRow, returning: 'count' })
  }

  /** Deletes the matching rows; resolves to the number deleted. */
  delete(...granted: CanDelete<Api, K> extends true ? [] : [never]): MutationQuerySet<Api, K, number, M extends 'first' ? true : false> {
    void granted
    return this.mutate({ op: 'delete', returning: 'count' })
  }

  /** Patches the row with this id and resolves to it (`undefined` if there is none). */
  patchAndFetchById(id: IdValue | readonly IdValue[], values: PatchOf<Api, K>): MutationQuerySet<Api, K, RowOf<Api, K> | undefined> {
    return this.findByIds([id]).mutate({ op: 'patch', values: values as WriteRow, returning: 'first' })
  }

  /** Updates the row with this id and resolves to it (`undefined` if there is none). */
  updateAndFetchById(id: IdValue | readonly IdValue[], values: UpdateOf<Api, K>): MutationQuerySet<Api, K, RowOf<Api, K> | undefined> {
    return this.findByIds([id]).mutate({ op: 'update', values: values as WriteRow, returning: 'first' })
  }

  /** Deletes the row with this id; resolves to the number deleted (0 or 1). */
  deleteById(id: IdValue | readonly IdValue[], ...granted: CanDelete<Api, K> extends true ? [] : [never]): MutationQuerySet<Api, K, number, true> {
    void granted
    return this.findById(id).mutate({ op: 'delete', returning: 'count' })
  }

  private write(rows: object | readonly object[], graph: boolean): MutationQuerySet<Api, K, never> {
    const many = Array.isArray(rows)
    const list = (many ? rows : [rows]) as WriteRow[]
    return this.mutate({ op: 'insert', rows: list, returning: many ? 'rows' : 'first', ...(graph && { graph: true }) })
  }

  private mutate(mutation: Mutation): MutationQuerySet<Api, K, never> {
    return new MutationQuerySet({ ...this.state, mutation }, this.runner)
  }
}

/**
 * The related rows of some rows, `db.Person.relatedQuery('pets').for(ids)`: a queryset of
 * the related model (read, `insert`, `patch`, `update`, `delete` them) that can also link
 * and unlink existing rows.
 */
export class RelatedQuerySet<Api, K extends keyof Api & string> extends QuerySet<Api, K> {
  /**
   * Links existing rows, by id, to the owner rows; resolves to the number of links made.
   * Each row named must be one the caller may read (and, on the side whose key or join
   * rows change, update), or nothing changes and it rejects with `NOT_FOUND`. A
   * many-to-many link that exists already is kept.
   *
   * @example
   * await db.Person.relatedQuery('movies').for(1).relate([3, 4])
   * // insert into persons_movies (person_id, movie_id) values (1, 3), (1, 4) on conflict do nothing
   */
  relate(ids: IdValue | readonly (IdValue | readonly IdValue[])[]): MutationQuerySet<Api, K, number> {
    const list = (Array.isArray(ids) ? ids : [ids]) as readonly (Scalar | readonly Scalar[])[]
    return new MutationQuerySet({ ...this.state, mutation: { op: 'relate', ids: list } }, this.runner)
  }

  /**
   * Unlinks the related rows (those matching the `where…` calls before or after it) from
   * the owner rows, leaving the rows themselves; resolves to the number of links undone.
   *
   * @example
   * await db.Person.relatedQuery('pets').for(1).unrelate().where('name', 'Doggo')
   * // update animals set owner_id = null where owner_id = 1 and name = 'Doggo'
   */
  unrelate(): MutationQuerySet<Api, K, number> {
    return new MutationQuerySet({ ...this.state, mutation: { op: 'unrelate' } }, this.runner)
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

/** A relation tree as joins; modifiers do not apply to a join. */
function joinNodes(tree: RelationTree, left: boolean): JoinNode[] {
  return Object.entries(tree).map(([relation, value]) => {
    if (typeof value === 'function') throw new TypeError(`joinRelated takes no modifiers ("${relation}")`)
    const nested = value === true ? [] : joinNodes(value, left)
    return { relation, ...(left && { left: true }), ...(nested.length > 0 && { joins: nested }) }
  })
}

/** Joining a relation again merges its nested joins; the later call decides inner or left. */
function mergeJoins(current: readonly JoinNode[], added: readonly JoinNode[]): JoinNode[] {
  const out = [...current]
  for (const node of added) {
    const i = out.findIndex((n) => n.relation === node.relation)
    if (i === -1) out.push(node)
    else {
      const joins = mergeJoins(out[i]!.joins ?? [], node.joins ?? [])
      out[i] = { relation: node.relation, ...(node.left && { left: true }), ...(joins.length > 0 && { joins }) }
    }
  }
  return out
}

/** Calling `withGraphFetched` twice merges the trees; a relation given again is replaced. */
function mergeGraph(current: readonly GraphNode[], added: GraphNode[]): GraphNode[] {
  const names = new Set(added.map((n) => n.relation))
  return [...current.filter((n) => !names.has(n.relation)), ...added]
}

export type { Page }

failSoftly(QuerySet)
failSoftly(RelatedQuerySet)
failSoftly(AggregateQuerySet)
