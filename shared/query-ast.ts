/**
 * The query AST: plain, readonly data that the client builds, the wire carries and the
 * executor validates and compiles. It is closed: every identifier in it is checked
 * against the exposed API, every operator comes from the lists below, and nothing in it
 * is ever replayed as a method name or pasted into SQL.
 */

/** Values a filter may compare with. Dates and bigints survive the wire intact. */
export type Scalar = string | number | boolean | null | Date | bigint

export const COMPARISON_OPERATORS = [
  '=',
  '!=',
  '<>',
  '<',
  '<=',
  '>',
  '>=',
  'like',
  'ilike',
  'not like',
  'not ilike',
] as const
export type ComparisonOperator = (typeof COMPARISON_OPERATORS)[number]

export type Filter =
  | CompareFilter
  | InFilter
  | NullFilter
  | BetweenFilter
  | AndFilter
  | OrFilter
  | NotFilter
  | ExistsFilter
  | IdFilter

export interface CompareFilter {
  readonly kind: 'compare'
  readonly column: string
  readonly op: ComparisonOperator
  readonly value: Scalar
}
export interface InFilter {
  readonly kind: 'in'
  readonly column: string
  readonly values: readonly Scalar[]
  readonly negated?: boolean
}
export interface NullFilter {
  readonly kind: 'null'
  readonly column: string
  readonly negated?: boolean
}
export interface BetweenFilter {
  readonly kind: 'between'
  readonly column: string
  readonly low: Scalar
  readonly high: Scalar
  readonly negated?: boolean
}
export interface AndFilter {
  readonly kind: 'and'
  readonly filters: readonly Filter[]
}
export interface OrFilter {
  readonly kind: 'or'
  readonly filters: readonly Filter[]
}
export interface NotFilter {
  readonly kind: 'not'
  readonly filter: Filter
}
/** Rows that have (or, negated, lack) a related row matching `where`. */
export interface ExistsFilter {
  readonly kind: 'exists'
  readonly relation: string
  readonly where?: Filter
  readonly negated?: boolean
}

/**
 * Rows whose id is one of `ids` (`findById`, `findByIds`); the executor knows the id
 * columns. A composite id is an array with one value per id column.
 */
export interface IdFilter {
  readonly kind: 'id'
  readonly ids: readonly (Scalar | readonly Scalar[])[]
}

export const FILTER_KINDS = ['compare', 'in', 'null', 'between', 'and', 'or', 'not', 'exists', 'id'] as const
export type FilterKind = Filter['kind']

export interface OrderTerm {
  readonly column: string
  readonly direction: 'asc' | 'desc'
  readonly nulls?: 'first' | 'last'
}

/** One eagerly loaded relation, with its own filter, order and per-parent limit. */
export interface GraphNode {
  readonly relation: string
  readonly select?: readonly string[]
  readonly where?: Filter
  readonly orderBy?: readonly OrderTerm[]
  readonly limit?: number
  readonly offset?: number
  readonly graph?: readonly GraphNode[]
}

export const AGGREGATE_FUNCTIONS = ['count', 'sum', 'avg', 'min', 'max'] as const
export type AggregateFunction = (typeof AGGREGATE_FUNCTIONS)[number]

export interface Aggregate {
  readonly fn: AggregateFunction
  /** Omitted only for `count`, which then counts rows. */
  readonly column?: string
  /** The result key; a plain identifier (letters, digits, `_`). */
  readonly alias: string
  readonly distinct?: boolean
}

/**
 * What a read returns:
 * - `select`: the rows;
 * - `first`: the first row or `undefined`;
 * - `page`: `{ results, total }`, `total` ignoring limit and offset;
 * - `count`: the number of matching rows, ignoring limit and offset;
 * - `exists`: whether any row matches;
 * - `aggregate`: one row per group with the `groupBy` columns and the aggregates.
 */
export const READ_OPS = ['select', 'first', 'page', 'count', 'exists', 'aggregate'] as const
export type ReadOp = (typeof READ_OPS)[number]

export interface ReadQuery {
  readonly model: string
  readonly op: ReadOp
  readonly select?: readonly string[]
  readonly distinct?: boolean
  readonly where?: Filter
  readonly orderBy?: readonly OrderTerm[]
  readonly limit?: number
  readonly offset?: number
  readonly graph?: readonly GraphNode[]
  readonly groupBy?: readonly string[]
  readonly aggregates?: readonly Aggregate[]
}

export type Query = ReadQuery

/** Result keys an aggregate alias may take: a plain identifier PostgreSQL need not fold. */
export const ALIAS_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/
