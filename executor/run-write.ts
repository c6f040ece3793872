/**
 * Runs checked writes and procedure calls inside the request's transaction. Every path
 * that writes (insert, graph insert, upsert, patch, update, delete) applies the same
 * guarantees, here and nowhere else:
 * - presets (`set`) override client values, and a graph cannot link around them;
 * - update and delete filters are ANDed with the read policy (rows a caller cannot see
 *   behave as absent), and so is an upsert's merge, with the update grant's `set`;
 * - `check` runs on each written row (the insert grant's on inserted rows, the update
 *   grant's on updated ones), failing the write when it says no;
 * - a foreign key the client writes must point at a row the caller may read;
 * - what a write returns is what the caller may read: rows within the read policy,
 *   readable columns only, nothing at all without the read grant.
 */
import type { Knex } from 'knex'
import type { ModelMeta, WriteMeta } from './api-metadata.js'
import type { DbSession, Row } from './db-session.js'
import { ExecutorError } from './executor-error.js'
import { parseArgs } from './procedures.js'
import type { RequestScope } from './request-scope.js'
import { restrict, source, whereClause } from './sql.js'
import { JsonText, type CheckedWriteValue } from './validate-values.js'
import type { CheckedCall, CheckedDelete, CheckedInsert, CheckedInsertRow, CheckedUpdate } from './validate-write.js'
import type { Column } from './validate-query.js'

type Check = ((row: Record<string, unknown>, ctx: unknown) => boolean | Promise<boolean>) | undefined

/** Marks rows an upsert inserted (rather than merged into). */
const INSERTED = '__ao_inserted'

export async function runInsert(session: DbSession, query: CheckedInsert, scope: RequestScope): Promise<unknown> {
  const rows = query.onConflict
    ? await upsert(session, query, scope)
    : (await insertRows(session, query.model, query.rows, scope, query.select)).map((r) => r.shown).filter((row) => row !== undefined)
  scope.budget.chargeRows(rows)
  return query.returning === 'first' ? rows[0] : rows
}

export async function runUpdate(session: DbSession, query: CheckedUpdate, scope: RequestScope): Promise<unknown> {
  const { model } = query
  const grant = model.update!
  const values = toDbValues(model, query.values, presets(model, grant.set, scope), scope)
  await checkReferences(session, model, grant, [values], new Set(query.values.keys()), scope)
  const alias = scope.alias()
  const builder = session.knex({ [alias]: model.table }).update(values)
  restrict(builder, model, alias, scope, grant.where, query.where)
  return finish(session, builder, query, grant.check, scope)
}

export async function runDelete(session: DbSession, query: CheckedDelete, scope: RequestScope): Promise<unknown> {
  const { model } = query
  const alias = scope.alias()
  const builder = session.knex({ [alias]: model.table }).delete()
  restrict(builder, model, alias, scope, model.delete!.where, query.where)
  return finish(session, builder, query, undefined, scope)
}

export async function runCall(session: DbSession, query: CheckedCall, scope: RequestScope): Promise<unknown> {
  const args = await parseArgs(query.procedure, query.args)
  return query.procedure.procedure.run({ trx: session.knex as Knex.Transaction, ctx: scope.ctx, args })
}

async function finish(
  session: DbSession,
  builder: Knex.QueryBuilder,
  query: CheckedUpdate | CheckedDelete,
  check: Check,
  scope: RequestScope,
): Promise<unknown> {
  if (query.returning === 'count' && !check) return Number(await session.run(builder))
  const written = parseRows(query.model, await session.run<Row[]>(builder.returning('*')))
  await checkRows(query.model, written, check, scope)
  if (query.returning === 'count') return written.length
  const rows = shown(query.model, written, query.select, scope)
  scope.budget.chargeRows(rows)
  return query.returning === 'first' ? rows[0] : rows
}

/** The written rows the caller may read, with the columns asked for. */
function shown(model: ModelMeta, rows: readonly Row[], select: readonly Column[], scope: RequestScope): Row[] {
  if (!scope.canRead(model)) return []
  return rows.filter((row) => scope.mayRead(model, row)).map((row) => project(row, select))
}

/**
 * Inserts `rows` of `model` with their graph: to-one parents first (their keys go into
 * the row), then the rows, then to-many children and many-to-many links. `shown` is
 * each row as the caller may see it (`undefined` when it may not), its related rows
 * likewise.
 */
async function insertRows(
  session: DbSession,
  model: ModelMeta,
  rows: readonly CheckedInsertRow[],
  scope: RequestScope,
  select: readonly Column[],
  linked: readonly Record<string, unknown>[] = [],
): Promise<{ full: Row; shown: Row | undefined }[]> {
  const grant = model.insert!
  const preset = presets(model, grant.set, scope)
  const dbRows = rows.map((row, i) => {
    const values = toDbValues(model, row.values, preset, scope)
    const link = linked[i]
    if (link) {
      refuseLinkOverPreset(model, Object.keys(link), preset)
      Object.assign(values, link)
    }
    return values
  })
  const related: Record<string, unknown>[][] = rows.map(() => [])

  for (const [i, row] of rows.entries()) {
    for (const child of row.children) {
      if (child.relation.kind !== 'belongsTo') continue
      refuseLinkOverPreset(model, child.relation.ownerColumns, preset)
      const target = child.relation.target
      const [parent] = await insertRows(session, target, child.rows, scope, columnsOf(target))
      child.relation.ownerColumns.forEach((column, k) => {
        dbRows[i]![column] = parent!.full[propOf(target, child.relation.relatedColumns[k]!)]
      })
      related[i]!.push({ [child.relation.name]: parent!.shown ?? null })
    }
  }

  // Only what the client wrote is checked: presets are the server's, links point at rows just inserted.
  const written = new Set(rows.flatMap((row) => [...row.values.keys()]))
  await checkReferences(session, model, grant, dbRows, written, scope)
  const inserted = parseRows(model, await session.run<Row[]>(session.knex(model.table).insert(dbRows).returning('*')))
  await checkRows(model, inserted, grant.check, scope)

  for (const [i, row] of rows.entries()) {
    const parent = inserted[i]!
    for (const child of row.children) {
      const { relation } = child
      const target = relation.target
      if (relation.kind === 'belongsTo') continue
      let children: { full: Row; shown: Row | undefined }[]
      if (relation.kind === 'hasMany') {
        const keys = Object.fromEntries(relation.relatedColumns.map((column, k) => [column, parent[propOf(model, relation.ownerColumns[k]!)]]))
        children = await insertRows(session, target, child.rows, scope, columnsOf(target), child.rows.map(() => keys))
      } else {
        children = await insertRows(session, target, child.rows, scope, columnsOf(target))
        const join = relation.join!
        const links = children.map((c) =>
          Object.fromEntries([
            ...join.ownerColumns.map((column, k) => [column, parent[propOf(model, relation.ownerColumns[k]!)]]),
            ...join.relatedColumns.map((column, k) => [column, c.full[propOf(target, relation.relatedColumns[k]!)]]),
          ]),
        )
        if (links.length > 0) await session.run(session.knex(join.table).insert(links))
      }
      const visible = children.flatMap((c) => (c.shown === undefined ? [] : [c.shown]))
      related[i]!.push({ [relation.name]: relation.many ? visible : (visible[0] ?? null) })
    }
  }
  const readable = scope.canRead(model)
  return inserted.map((full, i) => ({
    full,
    shown: readable && scope.mayRead(model, full) ? Object.assign(project(full, select), ...related[i]!) : undefined,
  }))
}

/** A graph must not set, through a relation, a column the server presets. */
function refuseLinkOverPreset(model: ModelMeta, columns: readonly string[], preset: Readonly<Record<string, unknown>>): void {
  const column = columns.find((c) => Object.hasOwn(preset, c))
  if (column !== undefined) {
    throw new ExecutorError('FORBIDDEN', `${model.name}.${propOf(model, column)} is set by the server; a graph cannot link it to another row`)
  }
}

/**
 * `insert … on conflict … do update`: inserted rows take the insert grant's presets and
 * check, merged rows the update grant's (its `set` overrides merged values, its `where`
 * and the read policy limit which existing rows may be merged into).
 */
async function upsert(session: DbSession, query: CheckedInsert, scope: RequestScope): Promise<Row[]> {
  const { model, onConflict } = query
  const insert = model.insert!
  const preset = presets(model, insert.set, scope)
  const dbRows = query.rows.map((row) => toDbValues(model, row.values, preset, scope))
  const written = new Set(query.rows.flatMap((row) => [...row.values.keys()]))
  await checkReferences(session, model, insert, dbRows, written, scope)
  const builder = session.knex(model.table).insert(dbRows).onConflict(onConflict!.columns as string[])
  let statement: Knex.QueryBuilder
  if (onConflict!.action === 'ignore') statement = builder.ignore()
  else {
    const update = model.update!
    const merge: Record<string, unknown> = {}
    for (const column of onConflict!.merge) merge[column] = session.knex.raw('excluded.??', [column])
    Object.assign(merge, presets(model, update.set, scope))
    await checkReferences(session, model, update, dbRows, new Set([...written].filter((c) => onConflict!.merge.includes(c))), scope)
    statement = builder.merge(merge)
    // The conflicting row is updated only where this caller may update it.
    restrict(statement, model, model.table, scope, update.where)
  }
  const rows = await session.run<Row[]>(statement.returning(['*', session.knex.raw('(xmax = 0) as ??', [INSERTED])]))
  const inserted = rows.filter((row) => row[INSERTED] === true)
  const merged = rows.filter((row) => row[INSERTED] !== true)
  for (const row of rows) delete row[INSERTED]
  await checkRows(model, parseRows(model, inserted), insert.check, scope)
  if (merged.length > 0) await checkRows(model, parseRows(model, merged), model.update!.check, scope)
  return shown(model, parseRows(model, rows), query.select, scope)
}

/**
 * Refuses a written foreign key (a client value) that points at a row of an exposed
 * model the caller may not read, with the message a missing row gets: a row outside the
 * policy is indistinguishable from one that does not exist.
 */
async function checkReferences(
  session: DbSession,
  model: ModelMeta,
  grant: WriteMeta,
  rows: readonly Readonly<Record<string, unknown>>[],
  written: ReadonlySet<string>,
  scope: RequestScope,
): Promise<void> {
  if (!grant.checkReferences) return
  for (const reference of model.references) {
    if (!reference.columns.some((column) => written.has(column))) continue
    const tuples = new Map<string, unknown[]>()
    for (const row of rows) {
      const tuple = reference.columns.map((column) => row[column])
      if (tuple.some((value) => value === null || value === undefined)) continue
      tuples.set(JSON.stringify(tuple, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}` : v)), tuple)
    }
    if (tuples.size === 0) continue
    const missing = () =>
      new ExecutorError('CONFLICT', `${reference.columns.map((column) => propOf(model, column)).join(', ')} does not refer to an existing row`)
    if (!scope.canRead(reference.target)) throw missing()
    const p = session.params()
    const from = source(p, reference.target, undefined, scope)
    const targets = reference.targetColumns.map((column) => p.column(from.alias, column))
    const list = [...tuples.values()].map((tuple) => `(${tuple.map((value) => p.add(value)).join(', ')})`)
    from.conditions.push(`(${targets.join(', ')}) in (${list.join(', ')})`)
    const found = await session.rows(p.statement(`select count(*) as "found" from (select distinct ${targets.join(', ')} from ${from.from}${whereClause(from.conditions)}) as "referenced"`))
    if (Number(found[0]?.found) !== tuples.size) throw missing()
  }
}

/** Client values (database column → value), overridden by the policy's presets. */
function toDbValues(
  model: ModelMeta,
  values: ReadonlyMap<string, CheckedWriteValue>,
  preset: Readonly<Record<string, unknown>>,
  scope: RequestScope,
): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [column, value] of values) out[column] = value instanceof JsonText ? value.text : scope.resolve(value)
  return Object.assign(out, preset)
}

/** The policy's `set(ctx)`, as database columns; JSON columns are serialized. */
function presets(model: ModelMeta, set: ((ctx: unknown) => Readonly<Record<string, unknown>>) | undefined, scope: RequestScope) {
  if (!set) return {}
  let values: Readonly<Record<string, unknown>>
  try {
    values = set(scope.ctx)
  } catch (error) {
    // A preset that cannot be computed (say, for an anonymous caller) denies the write.
    throw new ExecutorError('FORBIDDEN', `writing ${model.name} is not allowed`, { cause: error })
  }
  const out: Record<string, unknown> = {}
  for (const prop of Object.keys(values)) {
    const value = values[prop]
    if (value === undefined) throw new ExecutorError('FORBIDDEN', `writing ${model.name} is not allowed`)
    const column = model.toColumn(prop)
    const type = model.columnTypes.get(column)?.type
    out[column] = (type === 'json' || type === 'jsonb') && value !== null ? JSON.stringify(value) : value
  }
  return out
}

/** Rows from `returning *`: database names → properties, int8 as bigint. */
function parseRows(model: ModelMeta, rows: Row[]): Row[] {
  return rows.map((row) => {
    const out: Row = {}
    for (const column of Object.keys(row)) {
      const value = row[column]
      const type = model.columnTypes.get(column)?.type
      out[model.allProps.get(column) ?? column] = type === 'bigint' && (typeof value === 'string' || typeof value === 'number') ? BigInt(value) : value
    }
    return out
  })
}

async function checkRows(model: ModelMeta, rows: readonly Row[], check: Check, scope: RequestScope): Promise<void> {
  if (!check) return
  for (const row of rows) {
    let passed: boolean
    try {
      passed = (await check({ ...row }, scope.ctx)) === true
    } catch (error) {
      throw new ExecutorError('FORBIDDEN', `a written ${model.name} row does not pass the policy check`, { cause: error })
    }
    if (!passed) {
      throw new ExecutorError('FORBIDDEN', `a written ${model.name} row does not pass the policy check`)
    }
  }
}

function project(row: Row, select: readonly Column[]): Row {
  const out: Row = {}
  for (const { prop } of select) out[prop] = row[prop]
  return out
}

function columnsOf(model: ModelMeta): Column[] {
  return [...model.columns].map(([prop, column]) => ({ prop, column }))
}

/** The property a database column has in a parsed row. */
function propOf(model: ModelMeta, column: string): string {
  return model.allProps.get(column) ?? column
}
