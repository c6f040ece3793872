/**
 * One pass over an untrusted query: its shape, every identifier against the API
 * metadata, every operator against the fixed lists, every value against the value
 * rules and every number against the limits. What comes out names database columns and
 * relation metadata only; `sql.ts` never sees a client string in an
 * identifier position.
 */
import {
  AGGREGATE_FUNCTIONS,
  ALIAS_PATTERN,
  COMPARISON_OPERATORS,
  READ_OPS,
  type AggregateFunction,
  type ComparisonOperator,
  type ReadOp,
  type Scalar,
} from '../../shared/query-ast.js'
import type { ApiMetadata, ModelMeta, RelationMeta } from '../api/api-metadata.js'
import { ExecutorError } from '../executor-error.js'
import type { CustomTypes } from '../../shared/wire.js'
import type { Limits } from '../limits.js'
import type { StandardSchemaV1 } from '../api/procedures.js'
import {
  array,
  bad,
  checkKeys,
  clip,
  keys,
  optionalBoolean,
  record,
  string,
  ValueRules,
  type CheckedValue,
} from './validate-values.js'

/**
 * Filters on a column: the queried table's own, or (with `join`) a joined relation's,
 * whose value is read under that relation's read policy (null where it has no row the
 * caller may see).
 */
export type CheckedFilter =
  | { readonly kind: 'compare'; readonly column: string; readonly join?: CheckedJoin; readonly op: ComparisonOperator; readonly value: CheckedValue }
  | { readonly kind: 'in'; readonly column: string; readonly join?: CheckedJoin; readonly values: readonly CheckedValue[]; readonly negated: boolean }
  | { readonly kind: 'null'; readonly column: string; readonly join?: CheckedJoin; readonly negated: boolean }
  | {
      readonly kind: 'between'
      readonly column: string
      readonly join?: CheckedJoin
      readonly low: CheckedValue
      readonly high: CheckedValue
      readonly negated: boolean
    }
  /** An inner join's condition: the row has the joined related row, and the caller may see it. */
  | { readonly kind: 'joined'; readonly join: CheckedJoin }
  | { readonly kind: 'and' | 'or'; readonly filters: readonly CheckedFilter[] }
  | { readonly kind: 'not'; readonly filter: CheckedFilter }
  | { readonly kind: 'exists'; readonly relation: RelationMeta; readonly where?: CheckedFilter; readonly negated: boolean }
  | { readonly kind: 'related'; readonly owner: ModelMeta; readonly relation: RelationMeta; readonly ids: CheckedFilter }
  | { readonly kind: 'modifier'; readonly model: ModelMeta; readonly name: string; readonly args: readonly unknown[] }

/**
 * A to-one relation joined to a read (`joinRelated('owner.parent')`): its path as queries
 * name it (`owner:parent`), the relations from the queried model to it, and whether rows
 * without it stay (a left join).
 */
export interface CheckedJoin {
  readonly path: string
  readonly relations: readonly RelationMeta[]
  readonly left: boolean
}

/** A joined relation's column in a select list, under the key the row gets. */
export interface JoinedColumn {
  readonly key: string
  readonly join: CheckedJoin
  readonly column: string
}

/** The rows related to some owner rows (`relatedQuery(relation).for(ids)`), as a filter on the related model. */
export type RelatedFilter = CheckedFilter & { readonly kind: 'related' }

/** A readable column: the key it has in results, and its database name. */
export interface Column {
  readonly prop: string
  readonly column: string
}

export interface CheckedOrder {
  /** A database column of the ordered table (of a joined relation's, with `join`), or (with `alias`) an aggregate alias of the query. */
  readonly column: string
  readonly join?: CheckedJoin
  readonly alias?: true
  readonly direction: 'asc' | 'desc'
  readonly nulls?: 'first' | 'last'
}

/** An aggregate of each row's related rows, selected as a column. */
export interface CheckedRelationAggregate {
  readonly relation: RelationMeta
  readonly fn: AggregateFunction
  /** A column of the related table; absent for `count` of rows. */
  readonly column?: string
  readonly distinct: boolean
  readonly alias: string
  readonly where?: CheckedFilter
}

export interface CheckedSelection {
  readonly model: ModelMeta
  readonly select: readonly Column[]
  /** Columns of joined relations (top level of a read only). */
  readonly joined: readonly JoinedColumn[]
  readonly relationAggregates: readonly CheckedRelationAggregate[]
  readonly where?: CheckedFilter
  readonly orderBy: readonly CheckedOrder[]
  /** For relations: per parent, and absent means "all" (bounded by `maxRelationRows`). */
  readonly limit?: number
  readonly offset: number
  readonly graph: readonly CheckedGraph[]
}

export interface CheckedGraph extends CheckedSelection {
  readonly relation: RelationMeta
}

export interface CheckedAggregate {
  readonly fn: AggregateFunction
  readonly column?: string
  readonly alias: string
  readonly distinct: boolean
}

export interface CheckedRead extends CheckedSelection {
  readonly kind: 'read'
  readonly op: ReadOp
  readonly joins: readonly CheckedJoin[]
  readonly distinct: boolean
  readonly limit: number
  readonly groupBy: readonly Column[]
  readonly aggregates: readonly CheckedAggregate[]
}

const QUERY_KEYS = keys('model', 'op', 'for', 'joins', 'select', 'distinct', 'where', 'orderBy', 'limit', 'offset', 'graph', 'groupBy', 'aggregates', 'cache')
const FOR_KEYS = keys('relation', 'ids')
const JOIN_KEYS = keys('relation', 'left', 'joins')
const CACHE_KEYS = keys('ttl', 'swr')
const GRAPH_KEYS = keys('relation', 'select', 'where', 'orderBy', 'limit', 'offset', 'graph')
const ORDER_KEYS = keys('column', 'direction', 'nulls')
const AGGREGATE_KEYS = keys('fn', 'column', 'alias', 'distinct')
const FILTER_KEYS = {
  compare: keys('kind', 'column', 'op', 'value'),
  in: keys('kind', 'column', 'values', 'negated'),
  null: keys('kind', 'column', 'negated'),
  between: keys('kind', 'column', 'low', 'high', 'negated'),
  and: keys('kind', 'filters'),
  or: keys('kind', 'filters'),
  not: keys('kind', 'filter'),
  exists: keys('kind', 'relation', 'where', 'negated'),
  id: keys('kind', 'ids'),
  modifier: keys('kind', 'name', 'args'),
} as const
const RELATION_AGGREGATE_KEYS = keys('relation', 'fn', 'column', 'distinct', 'alias', 'where')
const OPERATORS = new Set<string>(COMPARISON_OPERATORS)
const LIKE_OPERATORS = new Set<string>(['like', 'ilike', 'not like', 'not ilike'])
const OPS = new Set<string>(READ_OPS)
const TEXT_TYPES = new Set(['text', 'character varying', 'character', 'citext', 'name'])
const NUMERIC_TYPES = new Set(['smallint', 'integer', 'bigint', 'numeric', 'real', 'double precision', 'interval', 'money'])
const MIN_MAX_TYPES = new Set([...NUMERIC_TYPES, 'date', 'timestamp with time zone', 'timestamp without time zone', 'time with time zone', 'time without time zone'])
/** Types PostgreSQL can order (and so min/max/between): all but json, boolean-free aggregates aside. */
const ORDERED = (type: string) => type !== 'json' && type !== 'xml' && type !== 'point'

function typeOf(model: ModelMeta, column: string): string {
  return model.columnTypes.get(column)?.type ?? ''
}
const FUNCTIONS = new Set<string>(AGGREGATE_FUNCTIONS)
const NO_ALIASES: ReadonlySet<string> = new Set()
const NO_JOINS: ReadonlyMap<string, CheckedJoin> = new Map()
const MAX_MODIFIER_ARGS = 16

/** A modifier's arguments as its schema outputs them; a schema must answer synchronously. */
function modifierArgs(name: string, schema: StandardSchemaV1, args: readonly unknown[]): readonly unknown[] {
  const result = schema['~standard'].validate(args)
  if (result instanceof Promise) throw new TypeError(`the schema of modifier ${name} validates asynchronously`)
  if (result.issues) throw bad(`modifier ${name}: ${result.issues.map((issue) => issue.message).join('; ').slice(0, 300)}`)
  const value = result.value
  return Array.isArray(value) ? value : [value]
}
/** Keys that are refused everywhere in the protocol, answers included. */
const RESERVED_KEYS = new Set(['__proto__', 'constructor', 'prototype'])
/** `json` has no equality operator: it cannot be grouped, made distinct or counted distinct. */
const noEquality = (model: ModelMeta, column: string) => typeOf(model, column) === 'json'

export class QueryValidator {
  /** @internal */
  readonly values: ValueRules
  /** Position of the query being checked in its request (refs may point only before it). */
  protected index = 0
  /** `like`/`ilike` filters seen in the query being checked. */
  protected patterns = 0
  /** The relations the read being checked joins, by path; its top-level references may name them. */
  private joined: ReadonlyMap<string, CheckedJoin> = NO_JOINS

  constructor(
    protected readonly api: ApiMetadata,
    protected readonly limits: Limits,
    custom?: CustomTypes,
  ) {
    this.values = new ValueRules(limits, custom)
  }

  /** Validates one query of a request; throws `ExecutorError` naming the offending piece. */
  read(input: unknown): CheckedRead {
    const query = record(input, 'query')
    checkKeys(query, QUERY_KEYS, 'query')
    const modelName = string(query.model, 'query.model')
    const named = this.api.get(modelName)
    if (!named) throw bad(`unknown model "${clip(modelName)}"`)
    if (named.columns.size === 0) throw new ExecutorError('FORBIDDEN', `reading ${named.name} is not allowed`)
    const related = query.for === undefined ? undefined : this.relatedTo(named, query.for)
    const model = related?.relation.target ?? named
    const op = string(query.op, 'query.op')
    if (!OPS.has(op)) throw bad(`unknown operation "${clip(op)}"`)

    // Aggregate fields belong to op "aggregate" only, even when empty: an order term may
    // name an aggregate alias only where the query declares that alias.
    const isAggregate = op === 'aggregate'
    if (!isAggregate && (query.aggregates !== undefined || query.groupBy !== undefined)) {
      throw bad(`aggregates and groupBy need op "aggregate", not "${op}"`)
    }
    const aggregates = isAggregate ? this.aggregates(model, query.aggregates) : []
    if (isAggregate && aggregates.length === 0) throw bad('an aggregate query needs at least one aggregate')
    const aliases = new Set(aggregates.map((a) => a.alias))
    const joined = query.joins === undefined ? NO_JOINS : this.joins(model, query.joins)
    this.joined = joined
    let own: CheckedSelection
    try {
      own = this.selection(model, query, 0, model.name, aliases)
    } finally {
      this.joined = NO_JOINS
    }
    const joins = [...joined.values()]
    // An inner join keeps only rows that have the related row (one the caller may see).
    const conditions: CheckedFilter[] = [
      ...(related ? [related] : []),
      ...joins.filter((join) => !join.left).map((join): CheckedFilter => ({ kind: 'joined', join })),
      ...(own.where ? [own.where] : []),
    ]
    const where: CheckedFilter | undefined = conditions.length > 1 ? { kind: 'and', filters: conditions } : conditions[0]
    const selection = { ...own, ...(where && { where }) }
    const groupBy = query.groupBy === undefined ? [] : this.columns(model, query.groupBy, `${model.name} groupBy`)
    const ungroupable = groupBy.find((c) => noEquality(model, c.column))
    if (ungroupable) throw bad(`"${ungroupable.prop}" is a json column; it cannot be grouped`)
    if (isAggregate) {
      // objection's form: `select('status').count('id as n').groupBy('status')`.
      const grouped = new Set(groupBy.map((c) => c.prop))
      if (selection.relationAggregates.length > 0 || selection.joined.length > 0) throw bad('an aggregate query selects only groupBy columns')
      const ungrouped = query.select === undefined ? undefined : selection.select.find((c) => !grouped.has(c.prop))
      if (ungrouped) throw bad(`an aggregate query selects only groupBy columns; "${ungrouped.prop}" is not one`)
      if (selection.graph.length > 0) throw bad('an aggregate query cannot load relations')
      for (const column of groupBy) {
        if (aliases.has(column.prop)) throw bad(`aggregate alias "${column.prop}" collides with a groupBy column`)
      }
      const groupedColumns = new Set(groupBy.map((c) => c.column))
      for (const order of selection.orderBy) {
        if (order.join || (!order.alias && !groupedColumns.has(order.column))) {
          throw bad('an aggregate query can order only by its groupBy columns and aggregate aliases')
        }
      }
    }
    if (query.cache !== undefined) {
      // A hint for the edge proxy; checked for shape only.
      const cache = record(query.cache, 'cache')
      checkKeys(cache, CACHE_KEYS, 'cache')
      this.values.count(cache.ttl, 'cache ttl', 86_400)
      if (cache.swr !== undefined) this.values.count(cache.swr, 'cache swr', 86_400)
    }
    const distinct = optionalBoolean(query.distinct, 'query.distinct')
    if (distinct && selection.joined.length > 0) throw bad('a distinct query cannot select columns of joined relations')
    if (distinct) {
      const plain = selection.select.find((c) => noEquality(model, c.column))
      if (plain) throw bad(`"${plain.prop}" is a json column; a distinct query cannot select it`)
    }
    if (distinct) {
      // PostgreSQL orders a distinct result only by what it selects.
      const selected = new Set(selection.select.map((c) => c.column))
      if (selection.orderBy.some((o) => o.join || !selected.has(o.column))) throw bad('a distinct query can order only by the columns it selects')
    }
    const limit = selection.limit ?? model.defaultLimit
    // An aggregate row holds the selected groupBy columns (all of them without a select).
    const select = isAggregate && query.select === undefined ? groupBy : selection.select
    return { kind: 'read', ...selection, select, op: op as ReadOp, joins, distinct, limit, groupBy, aggregates }
  }

  private selection(
    model: ModelMeta,
    query: Record<string, unknown>,
    depth: number,
    path: string,
    aliases: ReadonlySet<string> = NO_ALIASES,
  ): CheckedSelection {
    const { select, joined, relationAggregates } =
      query.select === undefined
        ? { select: [...model.columns].map(([prop, column]) => ({ prop, column })), joined: [], relationAggregates: [] }
        : this.selectItems(model, query.select, `${path} select`, depth)
    const where = query.where === undefined ? undefined : this.filter(model, query.where, depth, 0)
    const orderBy = query.orderBy === undefined ? [] : this.orderBy(model, query.orderBy, path, aliases, depth)
    const limit = query.limit === undefined ? undefined : this.values.count(query.limit, `${path} limit`, model.maxLimit)
    const offset = query.offset === undefined ? 0 : this.values.count(query.offset, `${path} offset`, Number.MAX_SAFE_INTEGER)
    const graph = query.graph === undefined ? [] : this.graph(model, query.graph, depth, path)
    // A loaded relation is a key of each row: a joined column or an aggregate may not take it.
    const clash = [...joined.map((j) => j.key), ...relationAggregates.map((a) => a.alias)].find((key) => graph.some((node) => node.relation.name === key))
    if (clash !== undefined) throw bad(`"${clash}" is both selected and a loaded relation`)
    return { model, select, joined, relationAggregates, ...(where && { where }), orderBy, ...(limit !== undefined && { limit }), offset, graph }
  }

  /** `for`: the rows related to `owner`'s rows with these ids, as a filter on the related model. */
  protected relatedTo(owner: ModelMeta, input: unknown): RelatedFilter {
    const node = record(input, 'for')
    checkKeys(node, FOR_KEYS, 'for')
    const relation = this.relation(owner, node.relation)
    return { kind: 'related', owner, relation, ids: this.ids(owner, node.ids) }
  }

  /** A select list: readable columns, and aggregates of related rows (`relatedQuery(…).count().as(…)`). */
  private selectItems(
    model: ModelMeta,
    input: unknown,
    what: string,
    depth: number,
  ): { select: Column[]; joined: JoinedColumn[]; relationAggregates: CheckedRelationAggregate[] } {
    const items = array(input, what)
    const strings = items.filter((item) => typeof item === 'string')
    const joinedNames = depth === 0 && this.joined.size > 0 ? strings.filter((name) => name.includes('.')) : []
    const names = strings.filter((name) => !joinedNames.includes(name))
    const select = names.length === 0 ? [] : this.columns(model, names, what)
    if (strings.length === 0 && items.length === 0) throw bad(`${what} is empty`)
    const taken = new Set(select.map((c) => c.prop))
    const joined = joinedNames.map((name): JoinedColumn => {
      const match = /^(.+?)\s+as\s+(.+)$/i.exec(name)
      const reference = this.joinedColumn(match ? match[1]! : name)
      const key = match ? match[2]! : reference.prop
      if (!ALIAS_PATTERN.test(key) || RESERVED_KEYS.has(key) || key.startsWith('__ao_')) throw bad(`"${clip(key)}" cannot be a result key (a plain identifier)`)
      if (taken.has(key)) throw bad(`"${key}" is selected twice; name one with "as"`)
      taken.add(key)
      return { key, join: reference.join, column: reference.column }
    })
    const relationAggregates = items
      .filter((item) => typeof item !== 'string')
      .map((item) => {
        const node = record(item, 'relation aggregate')
        checkKeys(node, RELATION_AGGREGATE_KEYS, 'relation aggregate')
        if (depth + 1 > this.limits.maxGraphDepth) {
          throw new ExecutorError('LIMIT_EXCEEDED', `relations nest deeper than ${this.limits.maxGraphDepth} levels`)
        }
        const relation = this.relation(model, node.relation)
        const { fn, column, alias, distinct } = this.aggregate(relation.target, node)
        if (taken.has(alias)) throw bad(`"${alias}" is selected twice`)
        taken.add(alias)
        const where = node.where === undefined ? undefined : this.filter(relation.target, node.where, depth + 1, 0)
        return { relation, fn, ...(column !== undefined && { column }), distinct, alias, ...(where && { where }) }
      })
    return { select, joined, relationAggregates }
  }

  /** `joins`: to-one relations of `model`, nested, each path once. */
  private joins(model: ModelMeta, input: unknown): Map<string, CheckedJoin> {
    const out = new Map<string, CheckedJoin>()
    const walk = (owner: ModelMeta, list: unknown, prefix: string, chain: readonly RelationMeta[]) => {
      if (chain.length + 1 > this.limits.maxGraphDepth) {
        throw new ExecutorError('LIMIT_EXCEEDED', `relations nest deeper than ${this.limits.maxGraphDepth} levels`)
      }
      for (const item of array(list, 'joins')) {
        const node = record(item, 'join')
        checkKeys(node, JOIN_KEYS, 'join')
        const relation = this.relation(owner, node.relation)
        if (relation.join && !relation.many) throw bad(`joinRelated does not take ${owner.name}.${relation.name}, a to-one relation through a join table`)
        if (relation.many) {
          throw bad(`joinRelated takes to-one relations; ${owner.name}.${relation.name} is to-many (filter with whereExists, load with withGraphFetched)`)
        }
        const path = prefix === '' ? relation.name : `${prefix}:${relation.name}`
        if (out.has(path)) throw bad(`relation "${path}" is joined twice`)
        const relations = [...chain, relation]
        out.set(path, { path, relations, left: optionalBoolean(node.left, 'join left') })
        if (node.joins !== undefined) walk(relation.target, node.joins, path, relations)
      }
    }
    walk(model, input, '', [])
    if (out.size === 0) throw bad('joins is empty')
    return out
  }

  /** `owner.name` / `owner:parent.name`: a readable column of a joined relation. */
  private joinedColumn(name: string): { join: CheckedJoin; prop: string; column: string; model: ModelMeta } {
    const dot = name.lastIndexOf('.')
    const path = name.slice(0, dot)
    const join = this.joined.get(path)
    if (dot <= 0 || !join) throw bad(`"${clip(name)}" names no joined relation (join it first: joinRelated('${clip(path)}'))`)
    const target = join.relations[join.relations.length - 1]!.target
    const prop = name.slice(dot + 1)
    const column = target.columns.get(prop)
    if (column === undefined) throw bad(`unknown column "${clip(prop)}" on ${target.name}`)
    return { join, prop, column, model: target }
  }

  /**
   * The column a filter or order term names: `model`'s own, or, at the top level of a read
   * that joins relations, a joined relation's (`owner.name`).
   */
  private reference(model: ModelMeta, input: unknown, what: string, depth: number): { model: ModelMeta; column: string; join?: CheckedJoin } {
    const name = string(input, what)
    if (depth === 0 && this.joined.size > 0 && name.includes('.')) {
      const { join, column, model: target } = this.joinedColumn(name)
      return { model: target, column, join }
    }
    if (name.includes('.') && !model.columns.has(name)) throw bad(`"${clip(name)}" names no joined relation (join it first with joinRelated)`)
    return { model, column: this.column(model, name, what).column }
  }

  private graph(model: ModelMeta, input: unknown, depth: number, path: string): CheckedGraph[] {
    if (depth + 1 > this.limits.maxGraphDepth) {
      throw new ExecutorError('LIMIT_EXCEEDED', `relations nest deeper than ${this.limits.maxGraphDepth} levels`)
    }
    const seen = new Set<string>()
    return array(input, `${path} graph`).map((item) => {
      const node = record(item, 'graph node')
      checkKeys(node, GRAPH_KEYS, 'graph node')
      const relation = this.relation(model, node.relation)
      if (seen.has(relation.name)) throw bad(`relation "${relation.name}" is loaded twice`)
      seen.add(relation.name)
      const nested = `${path}.${relation.name}`
      return { relation, ...this.selection(relation.target, node, depth + 1, nested) }
    })
  }

  protected relation(model: ModelMeta, input: unknown): RelationMeta {
    const name = string(input, 'relation')
    const relation = model.relations.get(name)
    if (!relation) throw bad(`unknown relation "${clip(name)}" on ${model.name}`)
    if (relation.target.columns.size === 0) {
      throw new ExecutorError('FORBIDDEN', `reading ${relation.target.name} is not allowed`)
    }
    return relation
  }

  protected column(model: ModelMeta, input: unknown, what: string): Column {
    const prop = string(input, what)
    const column = model.columns.get(prop)
    if (column === undefined) throw bad(`unknown column "${clip(prop)}" on ${model.name}`)
    return { prop, column }
  }

  protected columns(model: ModelMeta, input: unknown, what: string): Column[] {
    const list = array(input, what)
    if (list.length === 0) throw bad(`${what} is empty`)
    const seen = new Set<string>()
    return list.map((item) => {
      const column = this.column(model, item, what)
      if (seen.has(column.prop)) throw bad(`column "${column.prop}" appears twice in ${what}`)
      seen.add(column.prop)
      return column
    })
  }

  /** Order terms: readable columns of `model`, or (aggregate queries) the query's own aliases. */
  private orderBy(model: ModelMeta, input: unknown, path: string, aliases: ReadonlySet<string>, depth: number): CheckedOrder[] {
    return array(input, `${path} orderBy`).map((item) => {
      const term = record(item, 'orderBy term')
      checkKeys(term, ORDER_KEYS, 'orderBy term')
      const direction = term.direction
      if (direction !== 'asc' && direction !== 'desc') throw bad('orderBy direction must be "asc" or "desc"')
      const nulls = term.nulls
      if (nulls !== undefined && nulls !== 'first' && nulls !== 'last') throw bad('orderBy nulls must be "first" or "last"')
      const name = string(term.column, 'orderBy column')
      if (!model.columns.has(name) && aliases.has(name)) return { column: name, alias: true, direction, ...(nulls && { nulls }) }
      const { model: owner, column, join } = this.reference(model, name, 'orderBy', depth)
      if (!ORDERED(typeOf(owner, column))) throw bad(`cannot order by "${clip(name)}"`)
      return { column, ...(join && { join }), direction, ...(nulls && { nulls }) }
    })
  }

  private aggregates(model: ModelMeta, input: unknown): CheckedAggregate[] {
    const list = array(input, 'aggregates')
    const aliases = new Set<string>()
    return list.map((item) => {
      const node = record(item, 'aggregate')
      checkKeys(node, AGGREGATE_KEYS, 'aggregate')
      const aggregate = this.aggregate(model, node)
      if (aliases.has(aggregate.alias)) throw bad(`aggregate alias "${aggregate.alias}" appears twice`)
      aliases.add(aggregate.alias)
      return aggregate
    })
  }

  /** One aggregate: a function from the fixed list, over a readable column of `model`, under a plain alias. */
  private aggregate(model: ModelMeta, node: Record<string, unknown>): CheckedAggregate {
    const fn = string(node.fn, 'aggregate fn')
    if (!FUNCTIONS.has(fn)) throw bad(`unknown aggregate function "${clip(fn)}"`)
    const alias = string(node.alias, 'aggregate alias')
    if (!ALIAS_PATTERN.test(alias)) throw bad('an aggregate alias must be a plain identifier (letters, digits, _)')
    // Keys starting with __ao_ are the executor's own (the keys rows are matched to parents by).
    if (RESERVED_KEYS.has(alias) || alias.startsWith('__ao_')) throw bad(`"${alias}" cannot be an aggregate alias`)
    const distinct = optionalBoolean(node.distinct, 'aggregate distinct')
    if (node.column === undefined) {
      if (fn !== 'count' || distinct) throw bad(`${fn} needs a column`)
      return { fn: 'count', alias, distinct }
    }
    const column = this.column(model, node.column, 'aggregate').column
    if (distinct && noEquality(model, column)) throw bad(`${fn} distinct does not apply to the json column "${clip(String(node.column))}"`)
    const type = typeOf(model, column)
    if ((fn === 'sum' || fn === 'avg') && !NUMERIC_TYPES.has(type)) throw bad(`${fn} applies to numeric columns; "${clip(String(node.column))}" is not one`)
    if ((fn === 'min' || fn === 'max') && !MIN_MAX_TYPES.has(type) && !TEXT_TYPES.has(type)) throw bad(`${fn} does not apply to "${clip(String(node.column))}"`)
    return { fn: fn as AggregateFunction, column, alias, distinct }
  }

  protected filter(model: ModelMeta, input: unknown, graphDepth: number, nesting: number): CheckedFilter {
    if (nesting > this.limits.maxAstDepth) throw new ExecutorError('LIMIT_EXCEEDED', 'filters nest too deeply')
    const node = record(input, 'filter')
    const kind = string(node.kind, 'filter kind')
    switch (kind) {
      case 'compare': {
        checkKeys(node, FILTER_KEYS.compare, 'compare filter')
        const { model: owner, column, join } = this.reference(model, node.column, 'filter', graphDepth)
        const op = string(node.op, 'operator')
        if (!OPERATORS.has(op)) throw bad(`unknown operator "${clip(op)}"`)
        const like = LIKE_OPERATORS.has(op)
        if (like && !TEXT_TYPES.has(typeOf(owner, column))) throw bad(`"${op}" applies to text columns; "${clip(String(node.column))}" is not one`)
        if (!like) this.comparable(owner, column, String(node.column))
        const value = like ? this.pattern(node.value, op) : this.values.value(node.value, this.index)
        if (value === null) throw bad(`compare with null using whereNull, not "${op}"`)
        return { kind, column, ...(join && { join }), op: op as ComparisonOperator, value }
      }
      case 'in': {
        checkKeys(node, FILTER_KEYS.in, 'in filter')
        const { model: owner, column, join } = this.reference(model, node.column, 'filter', graphDepth)
        this.comparable(owner, column, String(node.column))
        const list = array(node.values, 'in values')
        if (list.length > this.limits.maxInList) {
          throw new ExecutorError('LIMIT_EXCEEDED', `an IN list has more than ${this.limits.maxInList} values`)
        }
        const values = list.map((v) => this.values.value(v, this.index))
        return { kind, column, ...(join && { join }), values, negated: optionalBoolean(node.negated, 'negated') }
      }
      case 'null': {
        checkKeys(node, FILTER_KEYS.null, 'null filter')
        const { column, join } = this.reference(model, node.column, 'filter', graphDepth)
        return { kind, column, ...(join && { join }), negated: optionalBoolean(node.negated, 'negated') }
      }
      case 'between': {
        checkKeys(node, FILTER_KEYS.between, 'between filter')
        const { model: owner, column, join } = this.reference(model, node.column, 'filter', graphDepth)
        if (!ORDERED(typeOf(owner, column))) throw bad(`between does not apply to "${clip(String(node.column))}"`)
        const low = this.values.value(node.low, this.index)
        const high = this.values.value(node.high, this.index)
        if (low === null || high === null) throw bad('between bounds cannot be null')
        return { kind, column, ...(join && { join }), low, high, negated: optionalBoolean(node.negated, 'negated') }
      }
      case 'and':
      case 'or': {
        checkKeys(node, FILTER_KEYS[kind], `${kind} filter`)
        const filters = array(node.filters, `${kind} filters`).map((f) => this.filter(model, f, graphDepth, nesting + 1))
        return { kind, filters }
      }
      case 'not': {
        checkKeys(node, FILTER_KEYS.not, 'not filter')
        return { kind, filter: this.filter(model, node.filter, graphDepth, nesting + 1) }
      }
      case 'exists': {
        checkKeys(node, FILTER_KEYS.exists, 'exists filter')
        if (graphDepth + 1 > this.limits.maxGraphDepth) {
          throw new ExecutorError('LIMIT_EXCEEDED', `relations nest deeper than ${this.limits.maxGraphDepth} levels`)
        }
        const relation = this.relation(model, node.relation)
        const where = node.where === undefined ? undefined : this.filter(relation.target, node.where, graphDepth + 1, nesting + 1)
        return { kind, relation, ...(where && { where }), negated: optionalBoolean(node.negated, 'negated') }
      }
      case 'id': {
        checkKeys(node, FILTER_KEYS.id, 'id filter')
        return this.ids(model, node.ids)
      }
      case 'modifier': {
        checkKeys(node, FILTER_KEYS.modifier, 'modifier')
        const name = string(node.name, 'modifier name')
        const grant = model.modifiers.get(name)
        // Unlisted and missing modifiers are refused alike.
        if (grant === undefined) throw bad(`unknown modifier "${clip(name)}" on ${model.name}`)
        const args = node.args === undefined ? [] : array(node.args, 'modifier args')
        if (args.length > MAX_MODIFIER_ARGS) throw bad(`a modifier takes at most ${MAX_MODIFIER_ARGS} arguments`)
        return { kind, model, name, args: grant === true ? args.map((arg) => this.values.scalar(arg)) : modifierArgs(name, grant, args) }
      }
      default:
        throw bad(`unknown filter kind "${clip(kind)}"`)
    }
  }

  /**
   * A `like`/`ilike` pattern, bounded in what it may cost to match: its length, its
   * unescaped `%` wildcards (each one multiplies the backtracking a match may need) and the
   * number of patterns in one query.
   */
  private pattern(input: unknown, op: string): string {
    const pattern = this.values.string(input, `${op} pattern`)
    if (++this.patterns > this.limits.maxPatternFilters) {
      throw new ExecutorError('LIMIT_EXCEEDED', `a query may have at most ${this.limits.maxPatternFilters} like/ilike filters`)
    }
    if (pattern.length > this.limits.maxPatternLength) {
      throw new ExecutorError('LIMIT_EXCEEDED', `a like pattern is longer than ${this.limits.maxPatternLength} characters`)
    }
    let wildcards = 0
    for (let i = 0; i < pattern.length; i++) {
      if (pattern[i] === '\\') i++
      else if (pattern[i] === '%') wildcards++
    }
    if (wildcards > this.limits.maxPatternWildcards) {
      throw new ExecutorError('LIMIT_EXCEEDED', `a like pattern has more than ${this.limits.maxPatternWildcards} % wildcards`)
    }
    return pattern
  }

  /** `json` (unlike `jsonb`) has no equality or ordering in PostgreSQL. */
  private comparable(model: ModelMeta, column: string, name: string): void {
    if (typeOf(model, column) === 'json') throw bad(`"${clip(name)}" is a json column; it cannot be compared`)
  }

  protected ids(model: ModelMeta, input: unknown): CheckedFilter {
    if (model.idProps.length === 0) throw bad(`${model.name} has no readable id column`)
    const ids = array(input, 'ids')
    if (ids.length > this.limits.maxInList) {
      throw new ExecutorError('LIMIT_EXCEEDED', `more than ${this.limits.maxInList} ids`)
    }
    const columns = model.idProps.map((prop) => model.columns.get(prop)!)
    if (columns.length === 1) {
      const values = ids.map((id) => this.idPart(id))
      return { kind: 'in', column: columns[0]!, values, negated: false }
    }
    const filters = ids.map((id): CheckedFilter => {
      const parts = array(id, 'composite id')
      if (parts.length !== columns.length) throw bad(`an id of ${model.name} has ${columns.length} parts`)
      return {
        kind: 'and',
        filters: columns.map((column, i) => ({ kind: 'compare', column, op: '=', value: this.idPart(parts[i]) })),
      }
    })
    return { kind: 'or', filters }
  }

  private idPart(input: unknown): Scalar {
    const value = this.values.scalar(input)
    if (value === null) throw bad('an id cannot be null')
    return value
  }


}

