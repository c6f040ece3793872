/**
 * Runs a checked read inside the request's transaction and shapes its result. Rows are
 * plain objects straight from pg (no model hydration), keyed by property name through
 * column aliases.
 */
import type { Knex } from 'knex'
import type { DbSession, Row } from './db-session.js'
import { applyOrder, assertNever, columnsAs, selectFrom } from './compile-query.js'
import { ExecutorError } from './executor-error.js'
import type { Limits } from './limits.js'
import type { RequestScope } from './request-scope.js'
import type { CheckedGraph, CheckedRead, CheckedSelection } from './validate-query.js'

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
      const { builder } = selectFrom(session.knex, read, scope)
      const rows = await session.rows(builder.select(session.knex.raw('1')).limit(1))
      return rows.length > 0
    }
    case 'aggregate':
      return aggregateRows(session, read, scope)
    default:
      return assertNever(read.op)
  }
}

async function selectRows(session: DbSession, read: CheckedRead, limit: number, scope: RequestScope, limits: Limits) {
  const { builder, alias } = selectFrom(session.knex, read, scope)
  const keys = parentKeys(read, alias)
  const columns = columnsAs(read.select, alias)
  if (read.distinct) builder.distinct({ ...columns, ...keys.select })
  else builder.select({ ...columns, ...keys.select })
  applyOrder(builder, read.orderBy, alias)
  builder.limit(limit)
  if (read.offset > 0) builder.offset(read.offset)
  const rows = await session.rows(builder)
  await loadGraph(session, read, rows, keys.names, scope, limits)
  return rows
}

async function countRows(session: DbSession, read: CheckedRead, scope: RequestScope): Promise<number> {
  const { builder, alias } = selectFrom(session.knex, read, scope)
  if (read.distinct) builder.distinct(columnsAs(read.select, alias))
  else builder.select(session.knex.raw('1'))
  const [row] = await session.rows(session.knex.count({ count: '*' }).from(builder.as('counted')))
  return Number(row!.count)
}

async function aggregateRows(session: DbSession, read: CheckedRead, scope: RequestScope) {
  const { builder, alias } = selectFrom(session.knex, read, scope)
  if (read.groupBy.length > 0) builder.select(columnsAs(read.groupBy, alias))
  for (const aggregate of read.aggregates) {
    const target = aggregate.column === undefined ? '*' : `${alias}.${aggregate.column}`
    const as = { [aggregate.alias]: target }
    switch (aggregate.fn) {
      case 'count':
        aggregate.distinct ? builder.countDistinct(as) : builder.count(as)
        break
      case 'sum':
        aggregate.distinct ? builder.sumDistinct(as) : builder.sum(as)
        break
      case 'avg':
        aggregate.distinct ? builder.avgDistinct(as) : builder.avg(as)
        break
      case 'min':
        builder.min(as)
        break
      case 'max':
        builder.max(as)
        break
      default:
        assertNever(aggregate.fn)
    }
  }
  if (read.groupBy.length > 0) builder.groupBy(read.groupBy.map((c) => `${alias}.${c.column}`))
  const grouped = new Set(read.groupBy.map((c) => c.column))
  for (const term of read.orderBy) {
    // Validation allowed only groupBy columns and aggregate aliases here.
    const column = grouped.has(term.column) ? `${alias}.${term.column}` : term.column
    builder.orderBy(column, term.direction, term.nulls)
  }
  builder.limit(read.limit)
  if (read.offset > 0) builder.offset(read.offset)
  const rows = await session.rows(builder)
  const counts = read.aggregates.filter((a) => a.fn === 'count').map((a) => a.alias)
  for (const row of rows) for (const key of counts) row[key] = Number(row[key])
  return rows
}

/** The owner columns each relation of `selection` joins on, selected under internal names. */
function parentKeys(selection: CheckedSelection, alias: string) {
  const select: Record<string, string> = {}
  const names = new Map<string, string>()
  for (const node of selection.graph) {
    for (const column of node.relation.ownerColumns) {
      if (names.has(column)) continue
      const name = `${KEY_PREFIX}${names.size}`
      names.set(column, name)
      select[name] = `${alias}.${column}`
    }
  }
  return { select, names }
}

/**
 * Loads each relation of `selection` for all `parents` in one query (per-parent limits by
 * `row_number()`), then recurses. Objection's semantics: many → array, one → row or null.
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
    const children = parents.length === 0 ? [] : await loadRelation(session, node, parents, ownerKeys, scope, limits)
    const byParent = new Map<string, Row[]>()
    for (const child of children) {
      const key = tupleKey(child, node.relation.ownerColumns.map((_, i) => `${PARENT_PREFIX}${i}`))
      let list = byParent.get(key)
      if (!list) byParent.set(key, (list = []))
      list.push(child)
      for (let i = 0; i < node.relation.ownerColumns.length; i++) delete child[`${PARENT_PREFIX}${i}`]
    }
    for (const parent of parents) {
      const list = byParent.get(tupleKey(parent, ownerKeys)) ?? []
      parent[node.relation.name] = node.relation.many ? list : (list[0] ?? null)
    }
  }
  for (const parent of parents) for (const name of keyNames.values()) delete parent[name]
}

async function loadRelation(
  session: DbSession,
  node: CheckedGraph,
  parents: Row[],
  ownerKeys: string[],
  scope: RequestScope,
  limits: Limits,
): Promise<Row[]> {
  const { relation } = node
  const tuples = distinctTuples(parents, ownerKeys)
  if (tuples.length === 0) return []
  const { builder, alias } = selectFrom(session.knex, node, scope)
  const keys = parentKeys(node, alias)
  // The columns that say which parent a row belongs to.
  let parentColumns: string[]
  const join = relation.join
  if (join) {
    const joinAlias = scope.alias()
    builder.join({ [joinAlias]: join.table }, function () {
      join.relatedColumns.forEach((column, i) => {
        this.on(`${joinAlias}.${column}`, '=', `${alias}.${relation.relatedColumns[i]!}`)
      })
    })
    parentColumns = join.ownerColumns.map((column) => `${joinAlias}.${column}`)
  } else {
    parentColumns = relation.relatedColumns.map((column) => `${alias}.${column}`)
  }
  if (parentColumns.length === 1) builder.whereIn(parentColumns[0]!, tuples.map((t) => t[0] as Knex.Value))
  else builder.whereIn(parentColumns, tuples as Knex.Value[][])

  const select: Record<string, unknown> = { ...columnsAs(node.select, alias), ...keys.select }
  parentColumns.forEach((column, i) => (select[`${PARENT_PREFIX}${i}`] = column))
  const cap = limits.maxRelationRows + 1
  let rows: Row[]
  if (node.limit === undefined && node.offset === 0) {
    builder.select(select)
    applyOrder(builder, node.orderBy, alias)
    rows = await session.rows(builder.limit(cap))
  } else {
    const order = node.orderBy.map((t) => `?? ${t.direction}${t.nulls ? ` nulls ${t.nulls}` : ''}`).join(', ')
    const window = `row_number() over (partition by ${parentColumns.map(() => '??').join(', ')}${order ? ` order by ${order}` : ''}) as ??`
    builder.select(select, session.knex.raw(window, [...parentColumns, ...node.orderBy.map((t) => `${alias}.${t.column}`), RANK]))
    const ranked = session.knex.from(builder.as('ranked')).select(Object.keys(select)).where(RANK, '>', node.offset)
    if (node.limit !== undefined) ranked.where(RANK, '<=', node.offset + node.limit)
    rows = await session.rows(ranked.orderBy(RANK).limit(cap))
  }
  if (rows.length === cap) {
    throw new ExecutorError(
      'LIMIT_EXCEEDED',
      `relation ${relation.name} matched more than ${limits.maxRelationRows} rows; give it a limit`,
    )
  }
  await loadGraph(session, node, rows, keys.names, scope, limits)
  return rows
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
  if (read.op !== 'first' || read.graph.length > 0 || read.orderBy.length > 0 || read.offset > 0 || read.distinct) return undefined
  if (model.idProps.length !== 1 || where?.kind !== 'in' || where.negated || where.values.length !== 1) return undefined
  const idColumn = model.columns.get(model.idProps[0]!)
  const id = where.values[0]
  if (where.column !== idColumn || id === null || typeof id === 'object') return undefined
  return { group: `${model.name}\u0000${read.select.map((c) => c.prop).join(',')}`, id }
}

/** Runs point reads of one model (same columns) as one query; each gets its row or `undefined`. */
export async function runPointReads(session: DbSession, reads: readonly CheckedRead[], ids: readonly unknown[], scope: RequestScope): Promise<unknown[]> {
  const { model, select } = reads[0]!
  const idColumn = model.columns.get(model.idProps[0]!)!
  const { builder, alias } = selectFrom(session.knex, { model }, scope)
  builder.whereIn(`${alias}.${idColumn}`, [...new Set(ids)] as Knex.Value[])
  builder.select({ ...columnsAs(select, alias), [`${KEY_PREFIX}id`]: `${alias}.${idColumn}` })
  const rows = await session.rows(builder)
  const byId = new Map<string, Row>()
  for (const row of rows) {
    byId.set(keyPart(row[`${KEY_PREFIX}id`]), row)
    delete row[`${KEY_PREFIX}id`]
  }
  return ids.map((id) => {
    const row = byId.get(keyPart(id))
    return row === undefined ? undefined : { ...row }
  })
}
