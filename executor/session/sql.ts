/**
 * Writes SQL for checked queries. Identifiers come from the API metadata (tables,
 * columns, relation keys), are the executor's own (aliases `t0`, `t1`…, internal key
 * names) or are aggregate aliases the validator limited to plain identifiers; all are
 * quoted. Every client value becomes a parameter. Reads send the text straight to pg
 * (`$1` placeholders); writes embed conditions in knex builders (`?` placeholders).
 */
import type { Knex } from 'knex'
import type { Model } from 'objection'
import type { ComparisonOperator } from '../../shared/query-ast.js'
import type { ModelMeta, RelationMeta } from '../api/api-metadata.js'
import type { PolicyFilter, RequestScope } from './request-scope.js'
import { asParameter } from './read-types.js'
import type { CheckedFilter, CheckedJoin, CheckedOrder, Column } from '../validate/validate-query.js'

/** SQL text and its parameters, ready for pg (`$n`) or for a knex raw (`?`). */
export interface Statement {
  readonly text: string
  readonly values: readonly unknown[]
}

/** Delimits a knex-style placeholder until `statement()` (PostgreSQL allows no NUL in SQL text or names). */
const MARK = '\u0000'
// eslint-disable-next-line no-control-regex -- NUL is the delimiter, chosen because SQL text never holds one
const MARKED = /\u0000(\d+)\u0000/g

/** A name that needs no escaping inside double quotes, in either placeholder style. */
const PLAIN = /^[^"?]*$/

/**
 * The parameters of one statement, and the quoting its placeholder style needs. A
 * placeholder names its value in either style, so the parts of a statement may be written
 * in any order (a select list after the `where` it precedes): pg's are numbered (`$n`),
 * and knex's positional `?` are put in text order by `statement()`.
 */
export class Params {
  readonly values: unknown[] = []

  constructor(readonly style: 'pg' | 'knex') {}

  /** A placeholder for `value`. */
  add(value: unknown): string {
    this.values.push(asParameter(value))
    return this.style === 'pg' ? `$${this.values.length}` : `${MARK}${this.values.length - 1}${MARK}`
  }

  /**
   * A quoted identifier. `name` is trusted (metadata or the executor's own); quoting
   * keeps reserved words and odd characters literal, and in knex text a `?` in a name
   * is escaped so that knex does not read it as a placeholder.
   */
  id(name: string): string {
    if (!PLAIN.test(name)) return this.quote(name)
    return `"${name}"`
  }

  /** A table name, `schema.table` quoted part by part (as knex does). */
  table(name: string): string {
    if (!name.includes('.')) return this.id(name)
    return name
      .split('.')
      .map((part) => this.id(part))
      .join('.')
  }

  private quote(name: string): string {
    const quoted = `"${name.replaceAll('"', '""')}"`
    return this.style === 'knex' ? quoted.replaceAll('?', '\\?') : quoted
  }

  /** `alias.column`, quoted (an alias may be a table name, `schema.table`). */
  column(alias: string, column: string): string {
    return `${this.table(alias)}.${this.id(column)}`
  }

  /** The statement, its values in the order its text uses them. */
  statement(text: string): Statement {
    if (this.style === 'pg') return { text, values: this.values }
    const values: unknown[] = []
    const positional = text.replace(MARKED, (_, n: string) => {
      values.push(this.values[Number(n)])
      return '?'
    })
    return { text: positional, values }
  }
}

/** A table under a fresh alias with its row conditions: the policy, then the filter. */
export interface Source {
  readonly alias: string
  /** `"table" as "t0"`, joins appended by callers. */
  from: string
  readonly conditions: string[]
}

/** The model's table under a fresh alias, with its read policy (and a write grant's `extra` filter) and `where`. */
export function source(p: Params, model: ModelMeta, where: CheckedFilter | undefined, scope: RequestScope, extra?: PolicyFilter): Source {
  const alias = scope.alias()
  const conditions = policyConditions(p, model, alias, scope, extra)
  if (where) conditions.push(...clientConditions(p, model, alias, scope, extra, conditions.length > 0, where))
  return { alias, from: `${p.table(model.table)} as ${p.id(alias)}`, conditions }
}

/**
 * A client's filter, as conditions that never touch a row outside the policy before the
 * policy has: PostgreSQL orders the conditions of one scan by its own cost estimates, so
 * a pattern match or a relation filter could run on other tenants' rows first and its
 * cost would tell what they hold. Conjuncts that cost the same whatever a row holds
 * (comparisons, `in`, null checks, `between`; indexes may serve them) stay plain; the
 * rest run inside `case when <policy> then … else false end`, which PostgreSQL evaluates
 * in order.
 */
function clientConditions(
  p: Params,
  model: ModelMeta,
  alias: string,
  scope: RequestScope,
  extra: PolicyFilter | undefined,
  policed: boolean,
  where: CheckedFilter,
): string[] {
  const conjuncts = where.kind === 'and' ? where.filters : [where]
  const plain = policed ? conjuncts.filter(leakproof) : conjuncts
  const conditions = plain.map((conjunct) => filter(p, conjunct, alias, scope))
  const guarded = policed ? conjuncts.filter((conjunct) => !leakproof(conjunct)) : []
  if (guarded.length > 0) {
    // The policy's conditions are written again: knex's positional `?` cannot refer back.
    const policy = policyConditions(p, model, alias, scope, extra).join(' and ')
    const inner = guarded.map((conjunct) => filter(p, conjunct, alias, scope)).join(' and ')
    conditions.push(`(case when ${policy} then ${inner} else false end)`)
  }
  return conditions
}

/** Whether evaluating `node` costs the same for any row (no pattern match, no subquery). */
function leakproof(node: CheckedFilter): boolean {
  switch (node.kind) {
    case 'compare':
      return !node.join && !PATTERN_OPERATORS.has(node.op)
    case 'in':
    case 'null':
    case 'between':
      return !node.join
    case 'and':
    case 'or':
      return node.filters.every(leakproof)
    case 'not':
      return leakproof(node.filter)
    case 'exists':
    case 'related':
    case 'modifier':
    case 'joined':
      return false
    default:
      return assertNever(node)
  }
}

const PATTERN_OPERATORS = new Set<ComparisonOperator>(['like', 'ilike', 'not like', 'not ilike'])

/** The conditions of the model's read policy (and of `extra`, a write grant's filter). */
export function policyConditions(
  p: Params,
  model: ModelMeta,
  alias: string,
  scope: RequestScope,
  extra?: PolicyFilter,
): string[] {
  const conditions: string[] = []
  for (const [column, value] of scope.policyTerms(model, extra)) {
    const target = p.column(alias, column)
    if (Array.isArray(value)) conditions.push(inList(p, target, value, false))
    else if (value === null) conditions.push(`${target} is null`)
    else conditions.push(`${target} = ${p.add(value)}`)
  }
  return conditions
}

/**
 * ANDs the model's policy (with a write grant's `extra` filter) and `where` into a knex
 * write builder, whose table is aliased `alias`.
 */
export function restrict(
  builder: Knex.QueryBuilder,
  model: ModelMeta,
  alias: string,
  scope: RequestScope,
  extra: PolicyFilter | undefined,
  where?: CheckedFilter,
): void {
  const p = new Params('knex')
  const conditions = policyConditions(p, model, alias, scope, extra)
  if (where) conditions.push(...clientConditions(p, model, alias, scope, extra, conditions.length > 0, where))
  if (conditions.length === 0) return
  const { text, values } = p.statement(conditions.join(' and '))
  builder.whereRaw(text, values as Knex.RawBinding[])
}

/** `where a and b …`, or nothing. */
export function whereClause(conditions: readonly string[]): string {
  return conditions.length === 0 ? '' : ` where ${conditions.join(' and ')}`
}

/** One checked filter as a condition on the table aliased `alias`. */
export function filter(p: Params, node: CheckedFilter, alias: string, scope: RequestScope): string {
  switch (node.kind) {
    case 'compare':
      return `${valueOf(p, node, alias, scope)} ${operator(node.op)} ${p.add(scope.resolve(node.value))}`
    case 'in':
      return inList(p, valueOf(p, node, alias, scope), node.values.map((value) => scope.resolve(value)), node.negated)
    case 'null':
      return `${valueOf(p, node, alias, scope)} is ${node.negated ? 'not ' : ''}null`
    case 'between': {
      const low = p.add(scope.resolve(node.low))
      const high = p.add(scope.resolve(node.high))
      return `${valueOf(p, node, alias, scope)} ${node.negated ? 'not ' : ''}between ${low} and ${high}`
    }
    case 'joined':
      return `exists (${joinChain(p, node.join, alias, scope, () => '1')})`
    case 'and':
    case 'or':
      // SQL's neutral elements: an empty AND is true, an empty OR false.
      if (node.filters.length === 0) return node.kind === 'and' ? 'true' : 'false'
      return `(${node.filters.map((inner) => filter(p, inner, alias, scope)).join(` ${node.kind} `)})`
    case 'not':
      return `not (${filter(p, node.filter, alias, scope)})`
    case 'exists':
      return `${node.negated ? 'not ' : ''}exists (${related(p, node.relation, alias, node.where, scope)})`
    case 'related':
      return `exists (${owners(p, node.owner, node.relation, node.ids, alias, scope)})`
    case 'modifier':
      return `exists (${modifierRows(p, node, alias, scope)})`
    default:
      return assertNever(node)
  }
}

const OPERATORS: Readonly<Record<ComparisonOperator, string>> = {
  '=': '=',
  '!=': '!=',
  '<>': '<>',
  '<': '<',
  '<=': '<=',
  '>': '>',
  '>=': '>=',
  like: 'like',
  ilike: 'ilike',
  'not like': 'not like',
  'not ilike': 'not ilike',
}

/** The SQL of a validated operator, from a fixed table (never the client's string). */
function operator(op: ComparisonOperator): string {
  return fixed(OPERATORS, op, 'operator')
}

/** `table[key]` for an own key only: a value validated upstream still never reaches SQL unmapped. */
export function fixed<K extends string>(table: Readonly<Record<K, string>>, key: K, what: string): string {
  if (!Object.hasOwn(table, key)) throw new TypeError(`unexpected ${what} ${JSON.stringify(key)}`)
  return table[key]
}

function inList(p: Params, target: string, values: readonly unknown[], negated: boolean): string {
  if (values.length === 0) return negated ? 'true' : 'false'
  return `${target} ${negated ? 'not ' : ''}in (${values.map((value) => p.add(value)).join(', ')})`
}

/**
 * `select <what> from <related> where <joined to the owner row> and <policy> and <where>`:
 * the related rows of one owner row (`what` gets the related table's alias).
 */
export function related(
  p: Params,
  relation: RelationMeta,
  ownerAlias: string,
  where: CheckedFilter | undefined,
  scope: RequestScope,
  what: (alias: string) => string = () => '1',
): string {
  const from = source(p, relation.target, where, scope)
  linkRows(p, from, relation, 'target', ownerAlias, scope)
  return `select ${what(from.alias)} from ${from.from}${whereClause(from.conditions)}`
}

/**
 * `select 1 from <owner> where <owner policy> and <owner ids> and <joined to the related
 * row>`: whether a related row belongs to one of the owners (`relatedQuery(…).for(ids)`).
 */
function owners(p: Params, owner: ModelMeta, relation: RelationMeta, ids: CheckedFilter, targetAlias: string, scope: RequestScope): string {
  const from = source(p, owner, ids, scope)
  linkRows(p, from, relation, 'owner', targetAlias, scope)
  return `select 1 from ${from.from}${whereClause(from.conditions)}`
}

/**
 * Joins `from`, a table on one `side` of `relation`, to the row aliased `otherAlias` on the
 * other side: key equalities, through the join table when the relation has one.
 */
function linkRows(p: Params, from: Source, relation: RelationMeta, side: 'owner' | 'target', otherAlias: string, scope: RequestScope): void {
  const [mine, theirs] = side === 'target' ? [relation.relatedColumns, relation.ownerColumns] : [relation.ownerColumns, relation.relatedColumns]
  const { join } = relation
  let alias = from.alias
  let columns = mine
  if (join) {
    const [joinMine, joinTheirs] = side === 'target' ? [join.relatedColumns, join.ownerColumns] : [join.ownerColumns, join.relatedColumns]
    alias = scope.alias()
    from.from += joinOn(p, join.table, alias, joinMine, from.alias, mine)
    columns = joinTheirs
  }
  columns.forEach((column, i) => from.conditions.push(`${p.column(alias, column)} = ${p.column(otherAlias, theirs[i]!)}`))
}

/**
 * `select 1 from (<the modifier's query>) as m where m.id = <alias>.id`: the model's own
 * modifier, built by objection on the model (its where clauses, joins and subqueries; the
 * arguments as the grant checked them), selecting only the id, matched to the row by id.
 */
function modifierRows(p: Params, node: CheckedFilter & { kind: 'modifier' }, alias: string, scope: RequestScope): string {
  const modelClass = node.model.modelClass as typeof Model & { getIdColumnArray(): string[]; getTableName(): string }
  const table = modelClass.getTableName()
  const ids = modelClass.getIdColumnArray()
  const keys = ids.map((_, i) => `${MODIFIER_KEY}${i}`)
  const builder = modelClass
    .query(scope.knex)
    .modify(node.name, ...node.args)
    .clearSelect()
    .clearOrder()
    .clear(/^(limit|offset)$/)
    .select(ids.map((id, i) => scope.knex.raw('??.?? as ??', [table, id, keys[i]!])))
  const built = builder.toKnexQuery().toSQL()
  let text: string
  if (p.style === 'knex') {
    let next = 0
    text = built.sql.replace(/\\\?|\?/g, (mark) => (mark === '?' ? p.add(built.bindings[next++]) : mark))
  } else {
    const native = built.toNative()
    text = native.sql.replace(/\$(\d+)/g, (_, n: string) => p.add(native.bindings[Number(n) - 1]))
  }
  const m = scope.alias()
  const match = ids.map((id, i) => `${p.column(m, node.model.naming.knexToDb(keys[i]!))} = ${p.column(alias, node.model.naming.knexToDb(id))}`)
  return `select 1 from (${text}) as ${p.id(m)} where ${match.join(' and ')}`
}

/** The key a modifier's query selects the id under (unchanged by snake_case mappers). */
const MODIFIER_KEY = '__ao_m'

/** ` inner join <table> as <alias> on alias.a = other.b and …`. */
export function joinOn(p: Params, table: string, alias: string, columns: readonly string[], otherAlias: string, otherColumns: readonly string[]): string {
  const on = columns.map((column, i) => `${p.column(alias, column)} = ${p.column(otherAlias, otherColumns[i]!)}`)
  return ` inner join ${p.table(table)} as ${p.id(alias)} on ${on.join(' and ')}`
}

/** `t0.column as "prop", …`. */
export function columnsAs(p: Params, columns: readonly Column[], alias: string): string[] {
  return columns.map(({ prop, column }) => `${p.column(alias, column)} as ${p.id(prop)}`)
}

/** ` order by …`, or nothing. */
export function orderClause(p: Params, orderBy: readonly CheckedOrder[], alias: string, scope: RequestScope): string {
  if (orderBy.length === 0) return ''
  if (orderBy.some((term) => term.alias)) throw new TypeError('an aggregate alias orders only an aggregate query')
  return ` order by ${orderBy.map((term) => orderTerm(valueOf(p, term, alias, scope), term)).join(', ')}`
}

/** A column's value for the row aliased `alias`: its own, or a joined relation's. */
export function valueOf(p: Params, ref: { readonly column: string; readonly join?: CheckedJoin }, alias: string, scope: RequestScope): string {
  if (!ref.join) return p.column(alias, ref.column)
  return `(${joinChain(p, ref.join, alias, scope, (last) => p.column(last, ref.column))} limit 1)`
}

/**
 * `select <what> from <first related> inner join <next> … where <first joined to the row>
 * and <each one's read policy>`: the row's joined relation, as far as the caller may see
 * it (to-one relations: at most one row).
 */
function joinChain(p: Params, join: CheckedJoin, ownerAlias: string, scope: RequestScope, what: (alias: string) => string): string {
  let from = ''
  const conditions: string[] = []
  let previous = ownerAlias
  for (const relation of join.relations) {
    const alias = scope.alias()
    const table = `${p.table(relation.target.table)} as ${p.id(alias)}`
    const on = relation.relatedColumns.map((column, k) => `${p.column(alias, column)} = ${p.column(previous, relation.ownerColumns[k]!)}`)
    if (from === '') {
      from = table
      conditions.push(...on)
    } else from += ` inner join ${table} on ${on.join(' and ')}`
    conditions.push(...policyConditions(p, relation.target, alias, scope))
    previous = alias
  }
  return `select ${what(previous)} from ${from}${whereClause(conditions)}`
}

export function orderTerm(target: string, term: CheckedOrder): string {
  return `${target} ${term.direction === 'desc' ? 'desc' : 'asc'}${term.nulls ? ` nulls ${term.nulls === 'first' ? 'first' : 'last'}` : ''}`
}

/** ` limit $n[ offset $m]`. */
export function limitClause(p: Params, limit: number | undefined, offset: number): string {
  return `${limit === undefined ? '' : ` limit ${p.add(limit)}`}${offset > 0 ? ` offset ${p.add(offset)}` : ''}`
}

export function assertNever(value: never): never {
  throw new TypeError(`unexpected ${JSON.stringify(value)}`)
}
