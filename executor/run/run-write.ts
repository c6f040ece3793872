/**
 * Runs checked writes and procedure calls inside the request's transaction. Writes go
 * through the app's objection models (`Model.query(trx)`), so the model's own rules hold
 * for every row a client writes: `jsonSchema` validation, `$beforeInsert` /
 * `$beforeUpdate` / `$afterInsert` / `$afterUpdate` hooks and static query hooks, with the
 * request's transaction, and the model's JSON and column mapping. A model that has none of
 * those of its own (`writesOwnSql`) is written as the executor's own SQL, the statement
 * objection would send, as reads are. Every path that writes
 * (insert, graph insert, upsert, patch, update, delete) applies the same guarantees on top,
 * here and nowhere else:
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
import { Model, type QueryBuilder } from 'objection'
import { propOf, type ModelMeta, type RelationMeta, type WriteMeta } from '../api/api-metadata.js'
import type { DbSession, Row } from '../session/db-session.js'
import { ExecutorError } from '../executor-error.js'
import { shapeWritten } from '../session/model-json.js'
import { asParameter } from '../session/read-types.js'
import { parseArgs } from '../api/procedures.js'
import type { RequestScope } from '../session/request-scope.js'
import { restrict, source, whereClause, type Params } from '../session/sql.js'
import type { PolicyFilter } from '../session/request-scope.js'
import { JsonText, valuesKey, type CheckedWriteValue } from '../validate/validate-values.js'
import type { CheckedCall, CheckedDelete, CheckedInsert, CheckedInsertRow, CheckedQuery, CheckedUpdate } from '../validate/validate-write.js'
import type { Column } from '../validate/validate-query.js'

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
  const preset = presets(model, grant.set, scope)
  const links = query.links ? propsOf(model, query.links, scope) : {}
  refuseLinkOverPreset(model, links, preset)
  // Links were checked by the relation write that made them; the client's values are checked here.
  const values = { ...propsOf(model, query.values, scope), ...links, ...preset }
  await checkReferences(session, model, grant, [values], writtenProps(model, query.values), scope)
  const set = Object.keys(values).filter((prop) => values[prop] !== undefined)
  if (set.length > 0 && writesOwnSql(model, 'Update')) {
    // What objection's patch and update send for such a model: the given columns, no others.
    return finishOwn(session, query, grant.where, grant.check, scope, (p, alias) => {
      const assignments = set.map((prop) => `${p.id(model.toColumn(prop))} = ${p.add(columnValue(values[prop]))}`)
      return `update ${p.table(model.table)} as ${p.id(alias)} set ${assignments.join(', ')}`
    })
  }
  const builder = modelQuery(session, model)
  if (query.op === 'update') builder.update(toModelJson(model, values) as never)
  else builder.patch(toModelJson(model, values) as never)
  restrict(builder as unknown as Knex.QueryBuilder, model, model.table, scope, grant.where, query.where)
  return finish(session, builder, query, grant.check, scope)
}

export async function runDelete(session: DbSession, query: CheckedDelete, scope: RequestScope): Promise<unknown> {
  const { model } = query
  if (writesOwnSql(model, 'Delete')) return finishOwn(session, query, model.delete!.where, undefined, scope, (p, alias) => `delete from ${p.table(model.table)} as ${p.id(alias)}`)
  const builder = modelQuery(session, model).delete()
  restrict(builder as unknown as Knex.QueryBuilder, model, model.table, scope, model.delete!.where, query.where)
  return finish(session, builder, query, undefined, scope)
}

export async function runCall(session: DbSession, query: CheckedCall, scope: RequestScope): Promise<unknown> {
  const args = await parseArgs(query.procedure, query.args)
  return query.procedure.procedure.run({ trx: session.knex as Knex.Transaction, ctx: scope.ctx, args })
}

async function finish(
  session: DbSession,
  builder: QueryBuilder<Model, unknown>,
  query: CheckedUpdate | CheckedDelete,
  check: Check,
  scope: RequestScope,
): Promise<unknown> {
  if (query.returning === 'count' && !check) return Number(await session.run(builder as never))
  return answerWritten(rowsOf(query.model, await session.run<Model[]>(builder.returning('*') as never), scope), query, check, scope)
}

/**
 * `finish` for an update or delete written as the executor's own SQL (see `writesOwnSql`):
 * `head` (`update <table> as <alias> set …`, `delete from <table> as <alias>`) with the
 * model's policy, the grant's `where` and the client's filter, as `restrict` adds them to
 * objection's builder; answered with the count, or the rows, as objection answers.
 */
async function finishOwn(
  session: DbSession,
  query: CheckedUpdate | CheckedDelete,
  extra: PolicyFilter | undefined,
  check: Check,
  scope: RequestScope,
  head: (p: Params, alias: string) => string,
): Promise<unknown> {
  const { model } = query
  const p = session.params()
  const { alias, conditions } = source(p, model, query.where, scope, extra)
  const text = `${head(p, alias)}${whereClause(conditions)}`
  if (query.returning === 'count' && !check) return session.affected(p.statement(text))
  return answerWritten(await session.rows(p.statement(`${text} returning ${everyColumn(p, model, alias)}`)), query, check, scope)
}

/** Written rows checked, and answered as the query asks: their count, or those the caller may read. */
async function answerWritten(written: Row[], query: CheckedUpdate | CheckedDelete, check: Check, scope: RequestScope): Promise<unknown> {
  await checkRows(query.model, written, check, scope)
  if (query.returning === 'count') return written.length
  const rows = shown(query.model, written, query.select, scope)
  scope.budget.chargeRows(rows)
  return query.returning === 'first' ? rows[0] : rows
}

/** The written rows the caller may read, with the columns asked for. */
function shown(model: ModelMeta, rows: readonly Row[], select: readonly Column[], scope: RequestScope): Row[] {
  if (!scope.canRead(model)) return []
  return rows.filter((row) => scope.mayRead(model, row)).map((row) => shapeWritten(model, project(row, select)))
}

/**
 * Inserts `rows` of `model` with their graph: to-one parents first (their keys go into
 * the row), then the rows, then to-many children and many-to-many links. `shown` is
 * each row as the caller may see it (`undefined` when it may not), its related rows
 * likewise.
 */
export async function insertRows(
  session: DbSession,
  model: ModelMeta,
  rows: readonly CheckedInsertRow[],
  scope: RequestScope,
  select: readonly Column[],
  linked: readonly Record<string, unknown>[] = [],
): Promise<{ full: Row; shown: Row | undefined }[]> {
  const grant = model.insert!
  const preset = presets(model, grant.set, scope)
  const values = rows.map((row, i) => {
    const out = { ...propsOf(model, row.values, scope), ...preset }
    const link = linked[i]
    if (link) {
      refuseLinkOverPreset(model, link, preset)
      Object.assign(out, link)
    }
    return out
  })
  const related: Record<string, unknown>[][] = rows.map(() => [])

  for (const [i, row] of rows.entries()) {
    for (const child of row.children) {
      if (child.relation.kind !== 'belongsTo') continue
      const owner = child.relation.ownerColumns.map((column) => propOf(model, column))
      refuseLinkOverPreset(model, Object.fromEntries(owner.map((prop) => [prop, NOT_YET])), preset)
      const target = child.relation.target
      const [parent] = await insertRows(session, target, child.rows, scope, columnsOf(target))
      owner.forEach((prop, k) => {
        values[i]![prop] = parent!.full[propOf(target, child.relation.relatedColumns[k]!)]
      })
      related[i]!.push({ [child.relation.name]: parent!.shown ?? null })
    }
  }

  // Only what the client wrote is checked: presets are the server's, links point at rows just inserted.
  const written = new Set(rows.flatMap((row) => [...writtenProps(model, row.values)]))
  await checkReferences(session, model, grant, values, written, scope)
  const inserted = writesOwnSql(model, 'Insert')
    ? await insertStatement(session, model, values)
    : rowsOf(model, await session.run<Model[]>(modelQuery(session, model).insert(values.map((v) => toModelJson(model, v)) as never).returning('*') as never), scope)
  await checkRows(model, inserted, grant.check, scope)

  for (const [i, row] of rows.entries()) {
    const parent = inserted[i]!
    for (const child of row.children) {
      const { relation } = child
      const target = relation.target
      if (relation.kind === 'belongsTo') continue
      let children: { full: Row; shown: Row | undefined }[]
      if (relation.kind === 'hasMany') {
        const keys = Object.fromEntries(relation.relatedColumns.map((column, k) => [propOf(target, column), parent[propOf(model, relation.ownerColumns[k]!)]]))
        children = await insertRows(session, target, child.rows, scope, columnsOf(target), child.rows.map(() => keys))
      } else {
        children = await insertRows(session, target, child.rows, scope, columnsOf(target))
        await link(session, relation, parent, model, children.map((c) => c.full))
      }
      const visible = children.flatMap((c) => (c.shown === undefined ? [] : [c.shown]))
      related[i]!.push({ [relation.name]: relation.many ? visible : (visible[0] ?? null) })
    }
  }
  const readable = scope.canRead(model)
  return inserted.map((full, i) => ({
    full,
    shown: readable && scope.mayRead(model, full) ? Object.assign(shapeWritten(model, project(full, select)), ...related[i]!) : undefined,
  }))
}

/**
 * `insert into <table> (<columns>) values (…), … returning <every column as its property>`:
 * what objection's insert sends and answers for a model with nothing of its own to run
 * (`writesOwnSql`), written directly. A column some rows give and others do not takes its
 * default in those, as knex writes it.
 */
async function insertStatement(session: DbSession, model: ModelMeta, values: readonly Readonly<Record<string, unknown>>[]): Promise<Row[]> {
  const p = session.params()
  // An undefined value is left out, as knex leaves it out.
  const given = (row: Readonly<Record<string, unknown>>, prop: string) => Object.hasOwn(row, prop) && row[prop] !== undefined
  const props = [...new Set(values.flatMap((row) => Object.keys(row).filter((prop) => given(row, prop))))]
  const tuples = values.map((row) => `(${props.map((prop) => (given(row, prop) ? p.add(columnValue(row[prop])) : 'default')).join(', ')})`)
  const into = props.length === 0 ? 'default values' : `(${props.map((prop) => p.id(model.toColumn(prop))).join(', ')}) values ${tuples.join(', ')}`
  if (props.length === 0 && values.length > 1) {
    // PostgreSQL has no multi-row `default values`: one statement per row, as rare as it is.
    const rows: Row[] = []
    for (const row of values) rows.push(...(await insertStatement(session, model, [row])))
    return rows
  }
  return session.rows(p.statement(`insert into ${p.table(model.table)} ${into} returning ${everyColumn(p, model)}`))
}

/** Every column of the model's table under its property's name, as objection's `returning('*')` answers them. */
function everyColumn(p: Params, model: ModelMeta, alias?: string): string {
  return [...model.allProps].map(([column, prop]) => `${alias === undefined ? p.id(column) : p.column(alias, column)} as ${p.id(prop)}`).join(', ')
}

/** A written value as a statement parameter: JSON as its text, the rest as reads bind them. */
function columnValue(value: unknown): unknown {
  return value instanceof JsonText ? value.text : asParameter(value)
}

/**
 * Whether every statement `query` makes is the executor's own SQL (see `writesOwnSql`):
 * reads, and inserts (graphs included) of models objection would add nothing to. A request
 * of only such queries needs no knex transaction object.
 */
export function ownStatementsOnly(query: CheckedQuery): boolean {
  if (query.kind === 'read') return true
  if (query.kind === 'update') return writesOwnSql(query.model, 'Update')
  if (query.kind === 'delete') return writesOwnSql(query.model, 'Delete')
  if (query.kind !== 'insert' || query.for || query.onConflict) return false
  const own = (model: ModelMeta, rows: readonly CheckedInsertRow[]): boolean =>
    writesOwnSql(model, 'Insert') && rows.every((row) => row.children.every((child) => own(child.relation.target, child.rows)))
  return own(query.model, query.rows)
}

/** objection's methods that could change what an insert or update writes or answers. */
const MODEL_JSON_METHODS = [
  '$beforeValidate',
  '$validate',
  '$afterValidate',
  '$parseJson',
  '$formatDatabaseJson',
  '$parseDatabaseJson',
  '$toDatabaseJson',
  '$setJson',
  '$setDatabaseJson',
  '$set',
] as const

/** objection's static methods on the write path: a validator of the model's own (objection's custom validation), its instance makers. */
const MODEL_STATICS = ['createValidator', 'fromJson', 'fromDatabaseJson', 'ensureModel', 'ensureModelArray'] as const

/** Whether a new instance of the model has properties of its own (class field defaults, which objection writes). */
function hasInstanceDefaults(modelClass: typeof Model): boolean {
  try {
    return Object.keys(new (modelClass as unknown as new () => object)()).length > 0
  } catch {
    return true
  }
}

const ownSql = new WeakMap<ModelMeta, Map<string, boolean>>()

/**
 * Whether writes of `model` for `op` can be written as SQL from the checked query, as
 * reads are: the model has no hook of its own for the operation, no query builder of its
 * own, no `jsonSchema` or validator of its own, no JSON attributes (objection writes null
 * there as SQL NULL), no class field defaults (objection writes them), and none of
 * objection's conversions between its JSON and the database overridden (column names map
 * as reads map them). Then objection would send the very statement this sends; any of
 * those, and the write goes through the model. `tests/executor/own-sql-writes.test.ts`
 * holds both paths to the same answers and stored rows.
 */
export function writesOwnSql(model: ModelMeta, op: 'Insert' | 'Update' | 'Delete'): boolean {
  let known = ownSql.get(model)
  if (!known) ownSql.set(model, (known = new Map()))
  let own = known.get(op)
  if (own === undefined) {
    const modelClass = model.modelClass as typeof Model & { jsonSchema?: unknown; getJsonSchema?(): unknown }
    const prototype = modelClass.prototype as unknown as Record<string, unknown>
    const base = Model.prototype as unknown as Record<string, unknown>
    const statics = modelClass as unknown as Record<string, unknown>
    const baseStatics = Model as unknown as Record<string, unknown>
    own =
      !hasOwnHooks(model, op) &&
      !(modelClass.getJsonSchema?.() ?? modelClass.jsonSchema) &&
      MODEL_JSON_METHODS.every((method) => prototype[method] === base[method]) &&
      MODEL_STATICS.every((method) => statics[method] === baseStatics[method]) &&
      // JSON attributes: objection writes a null there as SQL NULL, and stringifies the rest.
      ((modelClass as unknown as { getJsonAttributes(): string[] | null }).getJsonAttributes() ?? []).length === 0 &&
      !hasInstanceDefaults(modelClass)
    known.set(op, own)
  }
  return own
}

/** Rows of a many-to-many join table linking `parent` to each of `children`. */
export async function link(session: DbSession, relation: RelationMeta, parent: Row, model: ModelMeta, children: readonly Row[]): Promise<void> {
  if (children.length === 0) return
  const join = relation.join!
  const p = session.params()
  const columns = [...join.ownerColumns, ...join.relatedColumns]
  const tuples = children.map((child) => {
    const values = [
      ...relation.ownerColumns.map((column) => parent[propOf(model, column)]),
      ...relation.relatedColumns.map((column) => child[propOf(relation.target, column)]),
    ]
    return `(${values.map((value) => p.add(value)).join(', ')})`
  })
  await session.rows(p.statement(`insert into ${p.table(join.table)} (${columns.map((c) => p.id(c)).join(', ')}) values ${tuples.join(', ')}`))
}

/**
 * A relation key set by a graph or a relation write (`link`, by property) must not move a
 * row away from what the server presets; a link to the preset row itself is that same write.
 */
export function refuseLinkOverPreset(model: ModelMeta, link: Readonly<Record<string, unknown>>, preset: Readonly<Record<string, unknown>>): void {
  const prop = Object.keys(link).find((p) => Object.hasOwn(preset, p) && !sameKey(link[p], preset[p]))
  if (prop !== undefined) {
    throw new ExecutorError('FORBIDDEN', `${model.name}.${prop} is set by the server; a relation cannot link it to another row`)
  }
}

/** Whether two key values are the same key (an int4 read as a number equals a preset bigint or string). */
function sameKey(a: unknown, b: unknown): boolean {
  if (a === b) return true
  const scalar = (v: unknown) => typeof v === 'number' || typeof v === 'bigint' || typeof v === 'string'
  return scalar(a) && scalar(b) && String(a) === String(b)
}

/** A key not known yet (that of a row about to be inserted): equal to no preset. */
const NOT_YET = Symbol('not inserted yet')

/**
 * `insert … on conflict … do update`: inserted rows take the insert grant's presets and
 * check, merged rows the update grant's (its `set` overrides merged values, its `where`
 * and the read policy limit which existing rows may be merged into).
 */
async function upsert(session: DbSession, query: CheckedInsert, scope: RequestScope): Promise<Row[]> {
  const { model, onConflict } = query
  const insert = model.insert!
  const preset = presets(model, insert.set, scope)
  const values = query.rows.map((row) => ({ ...propsOf(model, row.values, scope), ...preset }))
  const written = new Set(query.rows.flatMap((row) => [...writtenProps(model, row.values)]))
  const knexColumn = (column: string) => model.naming.toKnex(propOf(model, column))
  const builder = modelQuery(session, model)
    .insert(values.map((v) => toModelJson(model, v)) as never)
    .onConflict(onConflict!.columns.map(knexColumn))
  const update = model.update
  const merging = onConflict!.action === 'merge'
  // Merged values are client values too: checked under whichever grant checks them.
  if (insert.checkReferences || (merging && update!.checkReferences)) {
    await checkReferences(session, model, { ...insert, checkReferences: true }, values, written, scope)
  }
  if (!merging) builder.ignore()
  else {
    const merge: Record<string, unknown> = {}
    for (const column of onConflict!.merge) merge[knexColumn(column)] = session.knex.raw('excluded.??', [knexColumn(column)])
    for (const [prop, value] of Object.entries(presets(model, update!.set, scope))) merge[model.naming.toKnex(prop)] = toDatabaseValue(model, prop, value)
    builder.merge(merge)
    // The conflicting row is updated only where this caller may update it.
    restrict(builder as unknown as Knex.QueryBuilder, model, model.table, scope, update!.where)
  }
  const returned = await session.run<Model[]>(builder.returning(['*', session.knex.raw('(xmax = 0) as ??', [INSERTED])]) as never)
  // objection answers with the models it was given, each merged with a returned row in
  // order; rows the database skipped or did not merge come back without the marker (which
  // arrives under the name the model's mappers give that column).
  const marker = model.naming.toProp(INSERTED)
  const rows = rowsOf(model, returned, scope).filter((row) => Object.hasOwn(row, marker))
  const inserted = rows.filter((row) => row[marker] === true)
  const merged = rows.filter((row) => row[marker] !== true)
  for (const row of rows) delete row[marker]
  await checkRows(model, inserted, insert.check, scope)
  if (merged.length > 0) await checkRows(model, merged, update!.check, scope)
  return shown(model, rows, query.select, scope)
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
    const props = reference.columns.map((column) => propOf(model, column))
    if (!props.some((prop) => written.has(prop))) continue
    const tuples = new Map<string, unknown[]>()
    for (const row of rows) {
      const tuple = props.map((prop) => row[prop])
      if (tuple.some((value) => value === null || value === undefined)) continue
      tuples.set(valuesKey(tuple), tuple)
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

/**
 * Whether a write is all-or-nothing as one statement on its own, with nothing to do after
 * it that could still fail the request: an update or delete answered with a count (what
 * objection's `patch`, `update` and `delete` answer), with no `check` to run on the rows
 * it wrote, no foreign key of the client's to check, no relation write, and no model hook
 * of its own for the operation nor a query builder of its own (either could run statements
 * of its own in the request's transaction). Writes that answer rows keep their
 * transaction: what they answer is still measured against the answer's budget after the
 * statement, and a refusal must undo them.
 */
export function isOneStatement(query: CheckedQuery): boolean {
  if ((query.kind !== 'update' && query.kind !== 'delete') || query.returning !== 'count') return false
  if (query.kind === 'update') {
    const grant = query.model.update!
    if (query.links || grant.check || referenceToCheck(query.model, grant, writtenProps(query.model, query.values))) return false
  }
  return !hasOwnHooks(query.model, query.kind === 'update' ? 'Update' : 'Delete')
}

function referenceToCheck(model: ModelMeta, grant: WriteMeta, written: ReadonlySet<string>): boolean {
  return grant.checkReferences && model.references.some((reference) => reference.columns.some((column) => written.has(propOf(model, column))))
}

const ownHooks = new WeakMap<typeof Model, Map<string, boolean>>()

/**
 * Whether the model overrides any of objection's hooks for an operation, static or
 * instance, or its query builder.
 */
function hasOwnHooks(model: ModelMeta, op: 'Insert' | 'Update' | 'Delete'): boolean {
  const modelClass = model.modelClass
  let known = ownHooks.get(modelClass)
  if (!known) ownHooks.set(modelClass, (known = new Map()))
  let has = known.get(op)
  if (has === undefined) {
    const own = modelClass.prototype as unknown as Record<string, unknown>
    const base = Model.prototype as unknown as Record<string, unknown>
    const statics = modelClass as unknown as Record<string, unknown>
    const baseStatics = Model as unknown as Record<string, unknown>
    has =
      // A query builder of its own (objection's extension point) can run statements after the write.
      statics.QueryBuilder !== baseStatics.QueryBuilder ||
      statics.query !== baseStatics.query ||
      ['before', 'after'].some((when) => statics[`${when}${op}`] !== baseStatics[`${when}${op}`] || own[`$${when}${op}`] !== base[`$${when}${op}`])
    known.set(op, has)
  }
  return has
}

/** A model query in the request's transaction. */
function modelQuery(session: DbSession, model: ModelMeta): QueryBuilder<Model> {
  return (model.modelClass as typeof Model & { query(trx: Knex.Transaction): QueryBuilder<Model> }).query(session.knex as Knex.Transaction)
}

/** Client values by property (refs resolved); checked values come keyed by database column. */
function propsOf(model: ModelMeta, values: ReadonlyMap<string, CheckedWriteValue>, scope: RequestScope): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [column, value] of values) out[propOf(model, column)] = value instanceof JsonText ? value : scope.resolve(value)
  return out
}

function writtenProps(model: ModelMeta, values: ReadonlyMap<string, CheckedWriteValue>): Set<string> {
  return new Set([...values.keys()].map((column) => propOf(model, column)))
}

/**
 * Values as the model's `fromJson` expects them: JSON columns as values when the model
 * serializes them itself (its `jsonAttributes`), as JSON text otherwise (pg would write
 * a bare array as an SQL array); Dates and bigints as its `jsonSchema` types them.
 */
function toModelJson(model: ModelMeta, values: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [prop, value] of Object.entries(values)) out[prop] = toDatabaseValue(model, prop, value)
  return out
}

function toDatabaseValue(model: ModelMeta, prop: string, given: unknown): unknown {
  const { jsonAttributes, types } = modelJson(model)
  if (given instanceof JsonText) return jsonAttributes.has(prop) ? given.value : given.text
  const value = asParameter(given)
  const type = types.get(prop)
  if (type === undefined) return value
  if (value instanceof Date && type.has('string')) return value.toISOString()
  if (typeof value === 'bigint') {
    if (type.has('string')) return String(value)
    if ((type.has('integer') || type.has('number')) && Number.isSafeInteger(Number(value))) return Number(value)
  }
  return value
}

interface ModelJson {
  /** Properties the model serializes itself (its `jsonAttributes`). */
  readonly jsonAttributes: ReadonlySet<string>
  /** The JSON types each property's `jsonSchema` allows. */
  readonly types: ReadonlyMap<string, ReadonlySet<string>>
}

const modelJsonCache = new WeakMap<ModelMeta, ModelJson>()

/** What the model's JSON rules say about its properties, read once per model. */
function modelJson(model: ModelMeta): ModelJson {
  let json = modelJsonCache.get(model)
  if (!json) {
    const modelClass = model.modelClass as typeof Model & { getJsonAttributes(): string[] | null }
    const properties = (modelClass as { jsonSchema?: { properties?: Record<string, { type?: string | string[] }> } }).jsonSchema?.properties ?? {}
    const types = new Map<string, ReadonlySet<string>>()
    for (const [prop, schema] of Object.entries(properties)) {
      if (schema?.type !== undefined) types.set(prop, new Set(Array.isArray(schema.type) ? schema.type : [schema.type]))
    }
    json = { jsonAttributes: new Set(modelClass.getJsonAttributes() ?? []), types }
    modelJsonCache.set(model, json)
  }
  return json
}

/** The policy's `set(ctx)`, by property. */
export function presets(model: ModelMeta, set: ((ctx: unknown) => Readonly<Record<string, unknown>>) | undefined, scope: RequestScope) {
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
    out[prop] = (type === 'json' || type === 'jsonb') && value !== null ? new JsonText(value, JSON.stringify(value)) : value
  }
  return out
}

/** Written model instances as plain rows by property, as reads give them: int8 columns as bigint, the app's types parsed. */
function rowsOf(model: ModelMeta, instances: readonly Model[], scope: RequestScope): Row[] {
  const parsers = scope.types?.byName
  return instances.map((instance) => {
    const out: Row = {}
    for (const prop of Object.keys(instance)) {
      const value = (instance as unknown as Row)[prop]
      const type = model.columnTypes.get(model.toColumn(prop))?.type
      if (type === 'bigint' && (typeof value === 'string' || typeof value === 'number')) out[prop] = BigInt(value)
      else if (typeof value === 'string' && type !== undefined && parsers?.has(type)) out[prop] = parsers.get(type)!(value)
      else out[prop] = value
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
