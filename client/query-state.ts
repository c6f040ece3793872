/**
 * The data a queryset holds, and how it becomes a wire `Query`. Querysets are immutable:
 * every method makes a new state, so a queryset can be shared and extended freely.
 */
import type { Aggregate, Filter, GraphNode, InsertQuery, JoinNode, OrderTerm, Query, ReadOp, RelatedTo, Returning, Scalar, SelectItem, WriteRow } from '../shared/query-ast.js'

/** One `where`/`orWhere` call, in order; SQL precedence (AND before OR) groups them. */
export interface Term {
  readonly or: boolean
  readonly filter: Filter
}

export interface QueryState {
  readonly model: string
  readonly op: ReadOp
  readonly terms: readonly Term[]
  readonly select?: readonly SelectItem[]
  /** `relatedQuery(relation).for(ids)`: the related rows of these rows of `model`. */
  readonly relatedTo?: RelatedTo
  /** `joinRelated` / `leftJoinRelated`: to-one relations whose columns the query references. */
  readonly joins?: readonly JoinNode[]
  readonly distinct?: boolean
  readonly orderBy: readonly OrderTerm[]
  readonly limit?: number
  readonly offset?: number
  readonly graph: readonly GraphNode[]
  readonly groupBy?: readonly string[]
  readonly aggregates: readonly Aggregate[]
  /** Set when the queryset writes instead of reading. */
  readonly mutation?: Mutation
  readonly cache?: { readonly ttl: number; readonly swr?: number }
  /** Set when a builder method could not build: running the queryset rejects with it. */
  readonly failure?: string
}

export type Mutation =
  | {
      readonly op: 'insert'
      readonly rows: readonly WriteRow[]
      readonly returning: 'rows' | 'first'
      readonly graph?: boolean
      readonly onConflict?: InsertQuery['onConflict']
    }
  | { readonly op: 'patch' | 'update'; readonly values: WriteRow; readonly returning: Returning }
  | { readonly op: 'delete'; readonly returning: Returning }
  | { readonly op: 'relate'; readonly ids: readonly (Scalar | readonly Scalar[])[] }
  | { readonly op: 'unrelate' }

export function initialState(model: string): QueryState {
  return { model, op: 'select', terms: [], orderBy: [], graph: [], aggregates: [] }
}

/** `a or b and c` → `or(a, and(b, c))`, as SQL reads the same chain of knex calls. */
export function termsToFilter(terms: readonly Term[]): Filter | undefined {
  if (terms.length === 0) return undefined
  const groups: Filter[][] = [[]]
  for (const term of terms) {
    if (term.or && groups[groups.length - 1]!.length > 0) groups.push([])
    groups[groups.length - 1]!.push(term.filter)
  }
  const conjunction = (group: Filter[]): Filter => (group.length === 1 ? group[0]! : { kind: 'and', filters: group })
  return groups.length === 1 ? conjunction(groups[0]!) : { kind: 'or', filters: groups.map(conjunction) }
}

export function toQuery(state: QueryState): Query {
  const where = termsToFilter(state.terms)
  const { mutation } = state
  if (mutation) {
    // A write returns columns only: relation aggregates are refused by the executor.
    const select = state.select && { select: state.select as readonly string[] }
    // Through `relatedQuery(relation).for(ids)`, a write is of the related rows.
    const related = state.relatedTo && { for: state.relatedTo }
    switch (mutation.op) {
      case 'insert':
        return {
          model: state.model,
          op: 'insert',
          ...related,
          rows: mutation.rows,
          returning: mutation.returning,
          ...select,
          ...(mutation.graph && { graph: true }),
          ...(mutation.onConflict && { onConflict: mutation.onConflict }),
        }
      case 'patch':
      case 'update':
        return { model: state.model, op: mutation.op, ...related, values: mutation.values, ...(where && { where }), returning: mutation.returning, ...select }
      case 'delete':
        return { model: state.model, op: 'delete', ...related, ...(where && { where }), returning: mutation.returning, ...select }
      case 'relate':
        // The executor refuses a `where` here: relate names its rows by id.
        return { model: state.model, op: 'relate', for: state.relatedTo!, ids: mutation.ids, ...(where && ({ where } as object)) }
      case 'unrelate':
        return { model: state.model, op: 'unrelate', for: state.relatedTo!, ...(where && { where }) }
    }
  }
  return {
    model: state.model,
    op: state.op,
    ...(state.relatedTo && { for: state.relatedTo }),
    ...(state.joins && { joins: state.joins }),
    ...(state.select && { select: state.select }),
    ...(state.distinct && { distinct: true }),
    ...(where && { where }),
    ...(state.orderBy.length > 0 && { orderBy: state.orderBy }),
    ...(state.limit !== undefined && { limit: state.limit }),
    ...(state.offset !== undefined && { offset: state.offset }),
    ...(state.graph.length > 0 && { graph: state.graph }),
    ...(state.groupBy && { groupBy: state.groupBy }),
    ...(state.aggregates.length > 0 && { aggregates: state.aggregates }),
    ...(state.cache && { cache: state.cache }),
  }
}

/** The part of a state a relation node carries in `withGraphFetched`. */
export function toGraphNode(relation: string, state: QueryState): GraphNode {
  const where = termsToFilter(state.terms)
  return {
    relation,
    ...(state.select && { select: state.select }),
    ...(where && { where }),
    ...(state.orderBy.length > 0 && { orderBy: state.orderBy }),
    ...(state.limit !== undefined && { limit: state.limit }),
    ...(state.offset !== undefined && { offset: state.offset }),
    ...(state.graph.length > 0 && { graph: state.graph }),
  }
}
