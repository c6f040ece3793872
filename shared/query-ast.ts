/**
 * The query AST: plain, readonly data that the client builds, the wire carries and the
 * executor validates and compiles. It is closed: every identifier in it is checked
 * against the exposed API, every operator comes from the lists below, and nothing in it
 * is ever replayed as a method name or pasted into SQL.
 */

/** Values a filter may compare with. Dates and bigints survive the wire intact. */
export type Scalar = string | number | boolean | null | Date | bigint

/**
 * A value taken from the result of an earlier query in the same request, resolved by the
 * executor (`t.ref(0, 'id')` in a transaction). It may point only backwards.
 */
export interface RefValue {
  readonly $ref: { readonly query: number; readonly column: string }
}

/** What a filter compares with: a scalar, or a reference to an earlier result. */
export type FilterValue = Scalar | RefValue

/** A column value in a write: a scalar, a reference, or JSON for json/jsonb columns. */
export type WriteValue = Scalar | RefValue | JsonValue
export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue }

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
  | ModifierFilter

export interface CompareFilter {
  readonly kind: 'compare'
  readonly column: string
  readonly op: ComparisonOperator
  readonly value: FilterValue
}
export interface InFilter {
  readonly kind: 'in'
  readonly column: string
  readonly values: readonly FilterValue[]
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
  readonly low: FilterValue
  readonly high: FilterValue
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

/**
 * Rows one of the model's named modifiers selects (objection's `.modify(name, ...args)`),
 * when the API lists it: the modifier's own where clauses, joins and subqueries decide,
 * its arguments reach it as the API's grant checked them. What it selects or orders by does
 * not apply.
 */
export interface ModifierFilter {
  readonly kind: 'modifier'
  readonly name: string
  readonly args?: readonly unknown[]
}

export const FILTER_KINDS = ['compare', 'in', 'null', 'between', 'and', 'or', 'not', 'exists', 'id', 'modifier'] as const
export type FilterKind = Filter['kind']

export interface OrderTerm {
  readonly column: string
  readonly direction: 'asc' | 'desc'
  readonly nulls?: 'first' | 'last'
}

/**
 * An aggregate of a row's related rows, selected as a column (objection's
 * `select(Person.relatedQuery('pets').count().as('petCount'))`), under the related
 * model's read policy.
 */
export interface RelationAggregate {
  readonly relation: string
  readonly fn: AggregateFunction
  /** Omitted only for `count`, which then counts related rows. */
  readonly column?: string
  readonly distinct?: boolean
  /** The result key; a plain identifier. */
  readonly alias: string
  readonly where?: Filter
}

/**
 * What a read selects: its own columns, columns of joined relations (`'owner.name'`, or
 * `'owner.name as ownerName'` to choose the key), and aggregates of related rows.
 */
export type SelectItem = string | RelationAggregate

/** One eagerly loaded relation, with its own filter, order and per-parent limit. */
export interface GraphNode {
  readonly relation: string
  readonly select?: readonly SelectItem[]
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

/**
 * Reads the rows related to some rows of the query's `model` through its `relation`
 * (objection's `Model.relatedQuery(relation).for(ids)`); everything else in the query
 * (`select`, `where`, `orderBy`…) is then about the related model.
 */
export interface RelatedTo {
  readonly relation: string
  readonly ids: readonly (Scalar | readonly Scalar[])[]
}

/**
 * A to-one relation joined to a read (objection's `joinRelated` / `leftJoinRelated`), so
 * that `where`, `orderBy` and `select` can reference its columns as `owner.name` (nested:
 * `owner:parent.name`). Joined rows are read under their model's read policy: an inner
 * join drops rows whose related row the caller cannot see; a left join keeps them with
 * nulls.
 */
export interface JoinNode {
  readonly relation: string
  readonly left?: boolean
  readonly joins?: readonly JoinNode[]
}

export interface ReadQuery {
  readonly model: string
  readonly op: ReadOp
  readonly for?: RelatedTo
  readonly joins?: readonly JoinNode[]
  readonly select?: readonly SelectItem[]
  readonly distinct?: boolean
  readonly where?: Filter
  readonly orderBy?: readonly OrderTerm[]
  readonly limit?: number
  readonly offset?: number
  readonly graph?: readonly GraphNode[]
  readonly groupBy?: readonly string[]
  readonly aggregates?: readonly Aggregate[]
  /**
   * Lets the edge proxy serve this read from its cache for `ttl` seconds, then stale for
   * `swr` more while it refreshes. The executor ignores it.
   */
  readonly cache?: { readonly ttl: number; readonly swr?: number }
}

/** Column values of one row to write, by property name. */
export type WriteRow = { readonly [column: string]: WriteValue | readonly WriteRow[] | WriteRow }

export const WRITE_OPS = ['insert', 'patch', 'update', 'delete', 'relate', 'unrelate'] as const
export type WriteOp = (typeof WRITE_OPS)[number]

/** Operations that may change rows: the writes, and procedure calls. */
export const CHANGING_OPS: ReadonlySet<string> = new Set([...WRITE_OPS, 'call'])

/**
 * What a write returns: `count` (rows affected), `rows` (the written rows' readable
 * columns) or `first` (the first of them, or `undefined`).
 */
export const RETURNING = ['count', 'rows', 'first'] as const
export type Returning = (typeof RETURNING)[number]

/**
 * Inserts rows. With `graph`, keys naming exposed relations hold related rows to insert
 * too (objection's `insertGraph`). `onConflict` makes it an upsert. With `for`, the rows
 * are of the related model and are inserted into the relation of the one owner row
 * `for.ids` names (objection's `relatedQuery(relation).for(id).insert(rows)`).
 */
export interface InsertQuery {
  readonly model: string
  readonly op: 'insert'
  readonly for?: RelatedTo
  readonly rows: readonly WriteRow[]
  readonly returning: 'rows' | 'first'
  readonly select?: readonly string[]
  readonly graph?: boolean
  readonly onConflict?: {
    readonly columns: readonly string[]
    /** `ignore` skips conflicting rows; `merge` updates `merge` columns (all given ones if absent). */
    readonly action: 'ignore' | 'merge'
    readonly merge?: readonly string[]
  }
}

/**
 * `patch` changes the given columns; `update` must give every updatable column. With
 * `for`, it changes related rows of those rows (`relatedQuery(relation).for(ids).patch(…)`).
 */
export interface UpdateQuery {
  readonly model: string
  readonly op: 'patch' | 'update'
  readonly for?: RelatedTo
  readonly values: WriteRow
  readonly where?: Filter
  readonly returning: Returning
  readonly select?: readonly string[]
}

/** Deletes rows; with `for`, related rows of those rows. */
export interface DeleteQuery {
  readonly model: string
  readonly op: 'delete'
  readonly for?: RelatedTo
  readonly where?: Filter
  readonly returning: Returning
  readonly select?: readonly string[]
}

/**
 * Links existing rows of the related model, by id, to the owner rows `for` names
 * (objection's `relatedQuery(relation).for(ids).relate(ids)`): sets the key of whichever
 * side holds it, or inserts join-table rows. Answers the number of links made.
 */
export interface RelateQuery {
  readonly model: string
  readonly op: 'relate'
  readonly for: RelatedTo
  readonly ids: readonly (Scalar | readonly Scalar[])[]
}

/**
 * Unlinks the related rows matching `where` from the owner rows `for` names (objection's
 * `relatedQuery(relation).for(ids).unrelate()`): sets the key to null, or deletes
 * join-table rows. The related rows themselves stay. Answers the number of links undone.
 */
export interface UnrelateQuery {
  readonly model: string
  readonly op: 'unrelate'
  readonly for: RelatedTo
  readonly where?: Filter
}

/** Calls a server procedure (`db.call(name, args)`); its args are checked by its schema. */
export interface CallQuery {
  readonly op: 'call'
  readonly procedure: string
  readonly args?: unknown
}

export type WriteQuery = InsertQuery | UpdateQuery | DeleteQuery | RelateQuery | UnrelateQuery
export type Query = ReadQuery | WriteQuery | CallQuery

/** Keys objection gives meaning to in graphs; clients may not send them (they link rows). */
export const GRAPH_SPECIAL_KEYS = ['#id', '#ref', '#dbRef'] as const

/** Result keys an aggregate alias may take: a plain identifier PostgreSQL need not fold. */
export const ALIAS_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/
