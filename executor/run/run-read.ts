/**
 * Runs a checked read inside the request's transaction and shapes its result. Rows are
 * plain objects straight from pg (no model hydration), keyed by property name through
 * column aliases.
 */
import type { DbSession, Row } from '../session/db-session.js'
import { ExecutorError } from '../executor-error.js'
import { tooManyRows } from '../session/result-budget.js'
import type { Limits } from '../limits.js'
import type { RequestScope } from '../session/request-scope.js'
import { shapeRows } from '../session/model-json.js'
import { assertNever, columnsAs, fixed, joinOn, limitClause, orderClause, orderTerm, related, source, valueOf, whereClause, type Params, type Source } from '../session/sql.js'
import type { CheckedAggregate, CheckedGraph, CheckedRead, CheckedSelection } from '../validate/validate-query.js'

/** Result keys the executor adds for relation loading and strips before answering. */
const KEY_PREFIX = '__ao_k'
const PARENT_PREFIX = '__ao_p'
const RANK = '__ao_rank'

export async function runRead(session: DbSession, read: CheckedRead, scope: RequestScope, limits: Limits): Promise<unknown> {
  switch (read.op) {
    case 'select':
      return selectRows(session, read, read.limit, scope, limits)
    case 'first':
      return (await selectRows(session, read, 1, scope, limits))[0]
    case 'page': {
      const results = await selectRows(session, read, read.limit, scope, limits)
      return { results, total: await countRows(session, read, scope) }
    }
    case 'count':
      return countRows(session, read, scope)
    case 'exists': {
      const p = session.params()
      const from = source(p, read.model, read.where, scope)
      const rows = await session.rows(p.statement(`select 1 from ${from.from}${whereClause(from.conditions)} limit 1`))
      return rows.length > 0
    }
    case 'aggregate':
      return aggregateRows(session, read, scope)
    default:
      return assertNever(read.op)
  }
}

async function selectRows(session: DbSession, read: CheckedRead, limit: number, scope: RequestScope, limits: Limits) {
  const p = session.params()
  const { text, keyNames } = selectText(p, read, limit, scope)
  const { rows, sizes } = await session.measuredRows(p.statement(text), scope.budget.remainingBytes())
  for (const row of rows) countsAsNumbers(read, row)
  scope.budget.charge(rows.length, sum(sizes))
  shapeRows(read.model, rows, read.select)
  await loadGraph(session, read, rows, keyNames, scope, limits)
  return rows
}

/** The cursor a stream reads its rows with (one per stream, in its own transaction). */
const CURSOR = '"async_orm_stream"'

/**
 * Opens a cursor over `read`'s rows (at most `limit`) in the session's transaction.
 * Each call of what it answers reads the next `size` rows, shaped as a select's, with
 * their relations loaded and charged to `scope`'s budget (a fresh scope per batch: each
 * batch is an answer of its own).
 */
export async function openCursor(
  session: DbSession,
  read: CheckedRead,
  limit: number,
  scope: RequestScope,
  limits: Limits,
): Promise<(size: number, scope: RequestScope) => Promise<Row[]>> {
  const p = session.params()
  const { text, keyNames } = selectText(p, read, limit, scope)
  await session.rows(p.statement(`declare ${CURSOR} no scroll cursor for ${text}`))
  return async (size, batch) => {
    // FETCH takes no parameter; `size` is the executor's own integer.
    const fetch = session.params().statement(`fetch forward ${Math.trunc(size)} from ${CURSOR}`)
    const { rows, sizes } = await session.measuredRows(fetch, batch.budget.remainingBytes())
    for (const row of rows) countsAsNumbers(read, row)
    batch.budget.charge(rows.length, sum(sizes))
    shapeRows(read.model, rows, read.select)
    await loadGraph(session, read, rows, keyNames, batch, limits)
    return rows
  }
}

/** The text of `read`'s select, and the names its relations' keys are selected under. */
function selectText(p: Params, read: CheckedRead, limit: number, scope: RequestScope) {
  const from = source(p, read.model, read.where, scope)
  const keys = parentKeys(p, read, from.alias)
  const columns = [
    ...columnsAs(p, read.select, from.alias),
    ...read.joined.map((joined) => `${valueOf(p, joined, from.alias, scope)} as ${p.id(joined.key)}`),
    ...relationAggregates(p, read, from.alias, scope),
    ...keys.select,
  ]
  const text =
    `select ${read.distinct ? 'distinct ' : ''}${columns.join(', ')} from ${from.from}${whereClause(from.conditions)}` +
    `${orderClause(p, read.orderBy, from.alias, scope)}${limitClause(p, limit, read.offset)}`
  return { text, keyNames: keys.names }
}

async function countRows(session: DbSession, read: CheckedRead, scope: RequestScope): Promise<number> {
  const p = session.params()
  const from = source(p, read.model, read.where, scope)
  const counted = read.distinct ? `distinct ${columnsAs(p, read.select, from.alias).join(', ')}` : '1'
  const text = `select count(*) as "count" from (select ${counted} from ${from.from}${whereClause(from.conditions)}) as "counted"`
  const [row] = await session.rows(p.statement(text))
  return Number(row!.count)
}

async function aggregateRows(session: DbSession, read: CheckedRead, scope: RequestScope) {
  const p = session.params()
  const from = source(p, read.model, read.where, scope)
  const { alias } = from
  const columns = columnsAs(p, read.select, alias)
  for (const aggregate of read.aggregates) {
    const target = aggregate.column === undefined ? '*' : p.column(alias, aggregate.column)
    columns.push(`${fixed(AGGREGATES, aggregate.fn, 'aggregate')}(${aggregate.distinct ? 'distinct ' : ''}${target}) as ${p.id(aggregate.alias)}`)
  }
  // Validation allowed only groupBy columns and the query's own aggregate aliases.
  const order = read.orderBy.map((term) => orderTerm(term.alias ? p.id(term.column) : p.column(alias, term.column), term))
  const text =
    `select ${columns.join(', ')} from ${from.from}${whereClause(from.conditions)}` +
    `${read.groupBy.length > 0 ? ` group by ${read.groupBy.map((c) => p.column(alias, c.column)).join(', ')}` : ''}` +
    `${order.length > 0 ? ` order by ${order.join(', ')}` : ''}${limitClause(p, read.limit, read.offset)}`
  const { rows, sizes } = await session.measuredRows(p.statement(text), scope.budget.remainingBytes())
  scope.budget.charge(rows.length, sum(sizes))
  const counts = read.aggregates.filter((a) => a.fn === 'count').map((a) => a.alias)
  for (const row of rows) for (const key of counts) row[key] = Number(row[key])
  return rows
}

/**
 * `(select count(*) from <related> where <joined> and <policy> and <where>) as "alias"`,
 * one per aggregate of related rows the selection asks for.
 */
function relationAggregates(p: Params, selection: CheckedSelection, alias: string, scope: RequestScope): string[] {
  return selection.relationAggregates.map((aggregate) => {
    const what = (related: string) =>
      `${fixed(AGGREGATES, aggregate.fn, 'aggregate')}(${aggregate.distinct ? 'distinct ' : ''}${aggregate.column === undefined ? '*' : p.column(related, aggregate.column)})`
    return `(${related(p, aggregate.relation, alias, aggregate.where, scope, what)}) as ${p.id(aggregate.alias)}`
  })
}

function sum(values: readonly number[]): number {
  let total = 0
  for (const value of values) total += value
  return total
}

/** `count` answers int8: as numbers, as every other count does. */
function countsAsNumbers(selection: CheckedSelection, row: Row): void {
  for (const aggregate of selection.relationAggregates) {
    if (aggregate.fn === 'count') row[aggregate.alias] = Number(row[aggregate.alias])
  }
}

/** Each aggregate function's SQL name, from a fixed table. */
const AGGREGATES: Readonly<Record<CheckedAggregate['fn'], string>> = { count: 'count', sum: 'sum', avg: 'avg', min: 'min', max: 'max' }

/** The owner columns each relation of `selection` joins on, selected under internal names. */
function parentKeys(p: Params, selection: CheckedSelection, alias: string) {
  const select: string[] = []
  const names = new Map<string, string>()
  for (const node of selection.graph) {
    for (const column of node.relation.ownerColumns) {
      if (names.has(column)) continue
      const name = `${KEY_PREFIX}${names.size}`
      names.set(column, name)
      select.push(`${p.column(alias, column)} as ${p.id(name)}`)
    }
  }
  return { select, names }
}

/**
 * Loads each relation of `selection` for all `parents` in one query (per-parent limits by
 * `row_number()`), attaches the rows, charges the answer's budget with them, then loads
 * their own relations. Objection's semantics: many → array, one → row or null.
 */
async function loadGraph(
  session: DbSession,
  selection: CheckedSelection,
  parents: Row[],
  keyNames: ReadonlyMap<string, string>,
  scope: RequestScope,
  limits: Limits,
): Promise<void> {
  if (selection.graph.length === 0) return
  for (const node of selection.graph) {
    const ownerKeys = node.relation.ownerColumns.map((column) => keyNames.get(column)!)
    const loaded = parents.length === 0 ? undefined : await loadRelation(session, node, parents, ownerKeys, scope, limits)
    const children = loaded?.rows ?? []
    const byParent = new Map<string, Row[]>()
    const parentKeys = node.relation.ownerColumns.map((_, i) => `${PARENT_PREFIX}${i}`)
    for (const child of children) {
      const key = tupleKey(child, parentKeys)
      let list = byParent.get(key)
      if (!list) byParent.set(key, (list = []))
      list.push(child)
      for (const name of parentKeys) delete child[name]
    }
    for (const parent of parents) {
      const list = byParent.get(tupleKey(parent, ownerKeys)) ?? []
      const attached = node.relation.many ? list : list.slice(0, 1)
      parent[node.relation.name] = node.relation.many ? list : (list[0] ?? null)
      // A row appears in the answer once for every time each of its parents does.
      const weight = scope.weight(parent)
      for (const child of attached) scope.addWeight(child, weight)
    }
    let rows = 0
    let bytes = 0
    children.forEach((child, i) => {
      const weight = scope.weight(child)
      rows += weight
      bytes += weight * loaded!.sizes[i]!
    })
    scope.budget.charge(rows, bytes)
    if (loaded) await loadGraph(session, node, children, loaded.keyNames, scope, limits)
  }
  for (const parent of parents) for (const name of keyNames.values()) delete parent[name]
}

/** One relation level's rows for all parents, with the key columns their own relations need. */
async function loadRelation(
  session: DbSession,
  node: CheckedGraph,
  parents: Row[],
  ownerKeys: string[],
  scope: RequestScope,
  limits: Limits,
): Promise<{ rows: Row[]; sizes: readonly number[]; keyNames: ReadonlyMap<string, string> } | undefined> {
  const { relation } = node
  const tuples = distinctTuples(parents, ownerKeys)
  if (tuples.length === 0) return undefined
  const p = session.params()
  const from: Source = source(p, node.model, node.where, scope)
  const { alias } = from
  const keys = parentKeys(p, node, alias)
  // The columns that say which parent a row belongs to.
  let parentColumns: string[]
  const join = relation.join
  if (join) {
    const joinAlias = scope.alias()
    from.from += joinOn(p, join.table, joinAlias, join.relatedColumns, alias, relation.relatedColumns)
    parentColumns = join.ownerColumns.map((column) => p.column(joinAlias, column))
  } else {
    parentColumns = relation.relatedColumns.map((column) => p.column(alias, column))
  }
  const list = tuples.map((tuple) => (tuple.length === 1 ? p.add(tuple[0]) : `(${tuple.map((value) => p.add(value)).join(', ')})`))
  from.conditions.push(`${parentColumns.length === 1 ? parentColumns[0]! : `(${parentColumns.join(', ')})`} in (${list.join(', ')})`)

  const names = [
    ...node.select.map((c) => c.prop),
    ...node.relationAggregates.map((a) => a.alias),
    ...keys.names.values(),
    ...parentColumns.map((_, i) => `${PARENT_PREFIX}${i}`),
  ]
  const select = [
    ...columnsAs(p, node.select, alias),
    ...relationAggregates(p, node, alias, scope),
    ...keys.select,
    ...parentColumns.map((column, i) => `${column} as ${p.id(`${PARENT_PREFIX}${i}`)}`),
  ]
  // Every row read is attached to a parent at least once: never read more than the
  // answer may still hold.
  const room = Math.min(limits.maxRelationRows, scope.budget.remainingRows())
  const cap = room + 1
  let text: string
  if (node.limit === undefined && node.offset === 0) {
    text = `select ${select.join(', ')} from ${from.from}${whereClause(from.conditions)}${orderClause(p, node.orderBy, alias, scope)} limit ${p.add(cap)}`
  } else {
    const order = node.orderBy.map((term) => orderTerm(p.column(alias, term.column), term)).join(', ')
    const rank = `row_number() over (partition by ${parentColumns.join(', ')}${order ? ` order by ${order}` : ''}) as ${p.id(RANK)}`
    const inner = `select ${[...select, rank].join(', ')} from ${from.from}${whereClause(from.conditions)}`
    const window = [`${p.id(RANK)} > ${p.add(node.offset)}`]
    if (node.limit !== undefined) window.push(`${p.id(RANK)} <= ${p.add(node.offset + node.limit)}`)
    text = `select ${names.map((name) => p.id(name)).join(', ')} from (${inner}) as "ranked" where ${window.join(' and ')} order by ${p.id(RANK)} limit ${p.add(cap)}`
  }
  const { rows, sizes } = await session.measuredRows(p.statement(text), scope.budget.remainingBytes())
  for (const row of rows) countsAsNumbers(node, row)
  if (rows.length === cap) {
    if (room < limits.maxRelationRows) throw tooManyRows(scope.budget.maxRows)
    throw new ExecutorError('LIMIT_EXCEEDED', `relation ${relation.name} matched more than ${limits.maxRelationRows} rows; give it a limit`)
  }
  shapeRows(node.model, rows, node.select)
  return { rows, sizes, keyNames: keys.names }
}

function distinctTuples(rows: Row[], keys: string[]): unknown[][] {
  const seen = new Set<string>()
  const tuples: unknown[][] = []
  for (const row of rows) {
    const tuple = keys.map((key) => row[key])
    if (tuple.some((value) => value === null || value === undefined)) continue
    const key = tupleKey(row, keys)
    if (seen.has(key)) continue
    seen.add(key)
    tuples.push(tuple)
  }
  return tuples
}

/** A Map key for a row's values at `keys`; numbers and bigints of equal value share a key. */
function tupleKey(row: Row, keys: readonly string[]): string {
  if (keys.length === 1) return keyPart(row[keys[0]!])
  return keys.map((key) => keyPart(row[key])).join('\u0001')
}

function keyPart(value: unknown): string {
  if (value instanceof Date) return `d:${value.getTime()}`
  if (typeof value === 'bigint') return `n:${value}`
  return `${typeof value === 'number' ? 'n' : typeof value}:${String(value)}`
}

/**
 * The id a read looks up when it is a plain point read (`findById` with one id on a
 * single-column key, no order, offset or relations), or `undefined`. Point reads of one
 * model in one request can share a single `where id in (…)` query.
 */
export function pointReadKey(read: CheckedRead): { group: string; id: unknown } | undefined {
  const { where, model } = read
  if (read.op !== 'first' || read.graph.length > 0 || read.joins.length > 0 || read.orderBy.length > 0 || read.offset > 0 || read.distinct) return undefined
  if (model.idProps.length !== 1 || where?.kind !== 'in' || where.negated || where.values.length !== 1) return undefined
  const idColumn = model.columns.get(model.idProps[0]!)
  const id = where.values[0]
  if (where.column !== idColumn || id === null || typeof id === 'object') return undefined
  // Only ids whose match in the answer can be told in JavaScript as PostgreSQL tells it.
  if (idKey(model.columnTypes.get(idColumn)?.type ?? '', id) === undefined) return undefined
  return { group: `${model.name}\u0000${read.select.map((c) => c.prop).join(',')}`, id }
}

const INTEGER_TYPES = new Set(['smallint', 'integer', 'bigint'])
const TEXT_TYPES = new Set(['text', 'character varying', 'citext'])

/**
 * An id as PostgreSQL compares it with a column of `type`: integers whatever their form
 * (`5`, `5n`, `'05'`), uuids in any case, text exactly; `undefined` for anything else.
 */
function idKey(type: string, value: unknown): string | undefined {
  if (INTEGER_TYPES.has(type)) {
    if (typeof value === 'bigint') return `${value}`
    if (typeof value === 'number' && Number.isSafeInteger(value)) return `${value}`
    if (typeof value === 'string' && /^\s*[+-]?\d{1,19}\s*$/.test(value)) return `${BigInt(value.trim())}`
    return undefined
  }
  if (type === 'uuid') return typeof value === 'string' ? value.toLowerCase() : undefined
  if (TEXT_TYPES.has(type)) return typeof value === 'string' ? value : undefined
  return undefined
}

/** Runs point reads of one model (same columns) as one query; each gets its row or `undefined`. */
export async function runPointReads(session: DbSession, reads: readonly CheckedRead[], ids: readonly unknown[], scope: RequestScope): Promise<unknown[]> {
  const { model, select } = reads[0]!
  const idColumn = model.columns.get(model.idProps[0]!)!
  const type = model.columnTypes.get(idColumn)?.type ?? ''
  const p = session.params()
  const from = source(p, model, undefined, scope)
  from.conditions.push(`${p.column(from.alias, idColumn)} in (${[...new Set(ids)].map((id) => p.add(id)).join(', ')})`)
  const columns = [...columnsAs(p, select, from.alias), `${p.column(from.alias, idColumn)} as ${p.id(`${KEY_PREFIX}id`)}`]
  const { rows } = await session.measuredRows(p.statement(`select ${columns.join(', ')} from ${from.from}${whereClause(from.conditions)}`), scope.budget.remainingBytes())
  const byId = new Map<string | undefined, Row>()
  for (const row of rows) {
    byId.set(idKey(type, row[`${KEY_PREFIX}id`]), row)
    delete row[`${KEY_PREFIX}id`]
  }
  shapeRows(model, rows, select)
  const results = ids.map((id) => {
    const row = byId.get(idKey(type, id))
    return row === undefined ? undefined : { ...row }
  })
  scope.budget.chargeRows(results.filter((row) => row !== undefined))
  return results
}
