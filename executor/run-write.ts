/**
 * Runs checked writes and procedure calls inside the request's transaction. Every
 * write carries the model's policy: presets (`set`) override client values, update and
 * delete filters are ANDed with the read policy (rows a caller cannot see behave as
 * absent), and `check` is run on each written row, failing the write when it says no.
 */
import type { Knex } from 'knex'
import type { ModelMeta } from './api-metadata.js'
import type { DbSession, Row } from './db-session.js'
import { ExecutorError } from './executor-error.js'
import { parseArgs } from './procedures.js'
import type { RequestScope } from './request-scope.js'
import { restrict } from './sql.js'
import { JsonText, type CheckedWriteValue } from './validate-values.js'
import type { CheckedCall, CheckedDelete, CheckedInsert, CheckedInsertRow, CheckedUpdate } from './validate-write.js'
import type { Column } from './validate-query.js'

type Check = ((row: Record<string, unknown>, ctx: unknown) => boolean | Promise<boolean>) | undefined

export async function runInsert(session: DbSession, query: CheckedInsert, scope: RequestScope): Promise<unknown> {
  const rows = query.onConflict
    ? await upsert(session, query, scope)
    : (await insertRows(session, query.model, query.rows, scope, query.select)).map((r) => r.shown)
  return query.returning === 'first' ? rows[0] : rows
}

export async function runUpdate(session: DbSession, query: CheckedUpdate, scope: RequestScope): Promise<unknown> {
  const { model } = query
  const grant = model.update!
  const values = toDbValues(model, query.values, presets(model, grant.set, scope), scope)
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
  const rows = written.map((row) => project(row, query.select))
  return query.returning === 'first' ? rows[0] : rows
}

/**
 * Inserts `rows` of `model` with their graph: to-one parents first (their keys go into
 * the row), then the rows, then to-many children and many-to-many links.
 */
async function insertRows(
  session: DbSession,
  model: ModelMeta,
  rows: readonly CheckedInsertRow[],
  scope: RequestScope,
  select: readonly Column[],
  fixed: readonly Record<string, unknown>[] = [],
): Promise<{ full: Row; shown: Row }[]> {
  const grant = model.insert!
  const preset = presets(model, grant.set, scope)
  const dbRows = rows.map((row, i) => ({ ...toDbValues(model, row.values, preset, scope), ...fixed[i] }))
  const related: Record<string, unknown>[][] = rows.map(() => [])

  for (const [i, row] of rows.entries()) {
    for (const child of row.children) {
      if (child.relation.kind !== 'belongsTo') continue
      const target = child.relation.target
      const [parent] = await insertRows(session, target, child.rows, scope, columnsOf(target))
      child.relation.ownerColumns.forEach((column, k) => {
        dbRows[i]![column] = parent!.full[propOf(target, child.relation.relatedColumns[k]!)]
      })
      related[i]!.push({ [child.relation.name]: parent!.shown })
    }
  }

  const inserted = parseRows(model, await session.run<Row[]>(session.knex(model.table).insert(dbRows).returning('*')))
  await checkRows(model, inserted, grant.check, scope)

  for (const [i, row] of rows.entries()) {
    const parent = inserted[i]!
    for (const child of row.children) {
      const { relation } = child
      const target = relation.target
      if (relation.kind === 'belongsTo') continue
      let children: { full: Row; shown: Row }[]
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
      const shown = children.map((c) => c.shown)
      related[i]!.push({ [relation.name]: relation.many ? shown : (shown[0] ?? null) })
    }
  }
  return inserted.map((full, i) => ({ full, shown: Object.assign(project(full, select), ...related[i]!) }))
}

async function upsert(session: DbSession, query: CheckedInsert, scope: RequestScope): Promise<Row[]> {
  const { model, onConflict } = query
  const grant = model.insert!
  const preset = presets(model, grant.set, scope)
  const dbRows = query.rows.map((row) => toDbValues(model, row.values, preset, scope))
  const builder = session.knex(model.table).insert(dbRows).onConflict(onConflict!.columns as string[])
  let statement: Knex.QueryBuilder
  if (onConflict!.action === 'ignore') statement = builder.ignore()
  else {
    statement = builder.merge(onConflict!.merge as string[])
    // The conflicting row is updated only where this caller may update it.
    restrict(statement, model, model.table, scope, model.update!.where)
  }
  const written = parseRows(model, await session.run<Row[]>(statement.returning('*')))
  await checkRows(model, written, grant.check, scope)
  return written.map((row) => project(row, query.select))
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
