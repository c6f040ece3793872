/**
 * Validation of whole requests: reads (see `validate-query.ts`), writes and procedure
 * calls. Write values are checked against each column's PostgreSQL type, write columns
 * against the operation's grant, and graph inserts node by node against the related
 * model's insert grant.
 */
import { GRAPH_SPECIAL_KEYS, READ_OPS, RETURNING, type Returning } from '../../shared/query-ast.js'
import { grantsColumn, propOf, type ModelMeta, type RelationMeta } from '../api/api-metadata.js'
import { ExecutorError } from '../executor-error.js'
import type { Limits } from '../limits.js'
import type { ProcedureMeta } from '../api/procedures.js'
import { QueryValidator, type CheckedFilter, type CheckedRead, type Column, type RelatedFilter } from './validate-query.js'
import { array, bad, checkKeys, clip, keys, record, string, valuesKey, type CheckedWriteValue } from './validate-values.js'
import type { ApiMetadata } from '../api/api-metadata.js'
import type { CustomTypes } from '../../shared/wire.js'

export interface CheckedInsertRow {
  /** Database column → value. */
  readonly values: ReadonlyMap<string, CheckedWriteValue>
  /** Related rows inserted with this one (`insertGraph`). */
  readonly children: readonly { readonly relation: RelationMeta; readonly rows: readonly CheckedInsertRow[] }[]
}

export interface CheckedInsert {
  readonly kind: 'insert'
  readonly model: ModelMeta
  /** Inserting into the relation of one owner row (`relatedQuery(…).for(id).insert(…)`). */
  readonly for?: RelatedFilter
  readonly rows: readonly CheckedInsertRow[]
  readonly returning: 'rows' | 'first'
  readonly select: readonly Column[]
  readonly onConflict?: {
    readonly columns: readonly string[]
    readonly action: 'ignore' | 'merge'
    readonly merge: readonly string[]
  }
}

export interface CheckedUpdate {
  readonly kind: 'update'
  readonly op: 'patch' | 'update'
  readonly model: ModelMeta
  readonly values: ReadonlyMap<string, CheckedWriteValue>
  /**
   * Key values a relation write sets (`relate`, `unrelate`), by database column: checked
   * by that write, exempt from the column grant and the reference check, never over a preset.
   */
  readonly links?: ReadonlyMap<string, CheckedWriteValue>
  readonly where?: CheckedFilter
  readonly returning: Returning
  readonly select: readonly Column[]
}

export interface CheckedDelete {
  readonly kind: 'delete'
  readonly model: ModelMeta
  readonly where?: CheckedFilter
  readonly returning: Returning
  readonly select: readonly Column[]
}

/**
 * `relate` links the related rows `ids` names to the owner rows `owners` names; `unrelate`
 * unlinks the related rows matching `where`. Whose key changes decides whose update grant
 * applies (see `run-relate.ts`).
 */
export interface CheckedRelate {
  readonly kind: 'relate'
  readonly op: 'relate' | 'unrelate'
  readonly owners: RelatedFilter
  /** How many distinct owner ids `for` names. */
  readonly ownerCount: number
  /** `relate`: the related rows to link, and how many distinct ids name them. */
  readonly ids?: CheckedFilter
  readonly idCount?: number
  /** `unrelate`: which related rows to unlink (all of the owners' related rows without it). */
  readonly where?: CheckedFilter
}

export interface CheckedCall {
  readonly kind: 'call'
  readonly procedure: ProcedureMeta
  readonly args: unknown
}

export type CheckedQuery = CheckedRead | CheckedInsert | CheckedUpdate | CheckedDelete | CheckedRelate | CheckedCall

const READS = new Set<string>(READ_OPS)
const RETURNINGS = new Set<string>(RETURNING)
const INSERT_KEYS = keys('model', 'op', 'for', 'rows', 'returning', 'select', 'graph', 'onConflict')
const UPDATE_KEYS = keys('model', 'op', 'for', 'values', 'where', 'returning', 'select')
const DELETE_KEYS = keys('model', 'op', 'for', 'where', 'returning', 'select')
const RELATE_KEYS = keys('model', 'op', 'for', 'ids')
const UNRELATE_KEYS = keys('model', 'op', 'for', 'where')
const CONFLICT_KEYS = keys('columns', 'action', 'merge')
const CALL_KEYS = keys('op', 'procedure', 'args')
const SPECIAL_KEYS = new Set<string>(GRAPH_SPECIAL_KEYS)

export class RequestValidator extends QueryValidator {
  constructor(
    api: ApiMetadata,
    limits: Limits,
    private readonly procedures: ReadonlyMap<string, ProcedureMeta>,
    custom?: CustomTypes,
  ) {
    super(api, limits, custom)
  }

  /** Validates query `index` of a request. */
  query(input: unknown, index: number): CheckedQuery {
    this.index = index
    this.patterns = 0
    const query = record(input, 'query')
    const op = string(query.op, 'query.op')
    if (READS.has(op)) return this.read(query)
    switch (op) {
      case 'insert':
        return this.insert(query)
      case 'patch':
      case 'update':
        return this.update(query, op)
      case 'delete':
        return this.delete(query)
      case 'relate':
      case 'unrelate':
        return this.relate(query, op)
      case 'call':
        return this.call(query)
      default:
        throw bad(`unknown operation "${clip(op)}"`)
    }
  }

  /**
   * Validates the query of a stream: a select, whose limit may go up to `maxStreamRows`
   * (and is that when it gives none).
   */
  stream(input: unknown): { read: CheckedRead; capped: boolean } {
    this.index = 0
    this.patterns = 0
    const query = record(input, 'query')
    const op = string(query.op, 'query.op')
    if (op !== 'select') throw bad(`a stream answers op "select" only, not "${clip(op)}"`)
    const { limit, ...rest } = query
    const read = this.read(rest)
    const max = this.limits.maxStreamRows
    if (limit === undefined) return { read: { ...read, limit: max }, capped: true }
    return { read: { ...read, limit: this.values.count(limit, `${read.model.name} limit`, max) }, capped: false }
  }

  private model(input: unknown): ModelMeta {
    const name = string(input, 'query.model')
    const model = this.api.get(name)
    if (!model) throw bad(`unknown model "${clip(name)}"`)
    return model
  }

  private returning(input: unknown, fallback: Returning): Returning {
    if (input === undefined) return fallback
    const value = string(input, 'returning')
    if (!RETURNINGS.has(value)) throw bad('returning must be "count", "rows" or "first"')
    return value as Returning
  }

  /** Returned columns: readable ones only (all of them by default). */
  private returned(model: ModelMeta, input: unknown): Column[] {
    if (input === undefined) return [...model.columns].map(([prop, column]) => ({ prop, column }))
    return this.columns(model, input, `${model.name} select`)
  }

  private insert(query: Record<string, unknown>): CheckedInsert {
    checkKeys(query, INSERT_KEYS, 'insert')
    const named = this.model(query.model)
    const related = query.for === undefined ? undefined : this.insertFor(named, query.for)
    const model = related?.relation.target ?? named
    if (!model.insert) throw new ExecutorError('FORBIDDEN', `inserting ${model.name} is not allowed`)
    const graph = query.graph === undefined ? false : query.graph === true ? true : fail('graph must be true')
    const rows = array(query.rows, 'rows')
    if (rows.length === 0) throw bad('insert needs at least one row')
    if (rows.length > this.limits.maxLimit) {
      throw new ExecutorError('LIMIT_EXCEEDED', `an insert may carry at most ${this.limits.maxLimit} rows`)
    }
    const budget = { rows: this.limits.maxLimit }
    const checked = rows.map((row) => this.insertRow(model, row, graph, 0, budget))
    if (related?.relation.kind === 'hasMany') {
      // The relation sets the key; a to-one graph node must not set it again.
      const keys = new Set(related.relation.relatedColumns)
      const relinked = checked.flatMap((row) => row.children).find((child) => child.relation.kind === 'belongsTo' && child.relation.ownerColumns.some((c) => keys.has(c)))
      if (relinked) throw bad(`"${relinked.relation.name}" would set the key the relation ${named.name}.${related.relation.name} sets; leave it out`)
    }
    const returning = this.returning(query.returning, 'rows')
    if (returning === 'count') throw bad('an insert returns "rows" or "first"')
    const onConflict = query.onConflict === undefined ? undefined : this.onConflict(model, query.onConflict)
    if (onConflict && graph) throw bad('an upsert cannot insert a graph')
    if (related) {
      if (onConflict) throw bad('an insert into a relation cannot be an upsert')
      const { relation } = related
      if (!relation.many && checked.length !== 1) throw bad(`an insert into the to-one relation ${named.name}.${relation.name} takes one row`)
      if (relation.kind === 'hasMany') {
        // The relation sets the key, to the owner's: as if the client had written it.
        for (const column of relation.relatedColumns) {
          const prop = propOf(model, column)
          if (!grantsColumn(model.insert, column)) {
            throw new ExecutorError('FORBIDDEN', `inserting into ${named.name}.${relation.name} writes ${model.name}.${prop}, which the insert grant does not list`)
          }
          if (checked.some((row) => row.values.has(column))) throw bad(`"${prop}" is set by the relation ${named.name}.${relation.name}; leave it out`)
        }
      }
    }
    return {
      kind: 'insert',
      model,
      ...(related && { for: related }),
      rows: checked,
      returning,
      select: this.returned(model, query.select),
      ...(onConflict && { onConflict }),
    }
  }

  /**
   * `for` of an insert: one owner row. A to-one (belongsTo) or many-to-many link changes
   * the owner's relation, so it needs the owner's update grant (for a belongsTo, with the
   * key columns).
   */
  private insertFor(owner: ModelMeta, input: unknown): RelatedFilter {
    const related = this.relatedTo(owner, input)
    if (distinctCount((input as { ids: unknown[] }).ids) !== 1) throw bad('an insert into a relation needs exactly one owner: for(id)')
    this.ownerUpdates(related)
    return related
  }

  /** The owner's update grant, which a link held by the owner (its key, or join-table rows) needs. */
  private ownerUpdates({ owner, relation }: RelatedFilter): void {
    if (relation.kind === 'hasMany') return
    const grant = owner.update
    if (!grant) throw new ExecutorError('FORBIDDEN', `updating ${owner.name} is not allowed`)
    if (relation.kind !== 'belongsTo') return
    for (const column of relation.ownerColumns) {
      if (!grantsColumn(grant, column)) {
        throw new ExecutorError('FORBIDDEN', `linking ${owner.name}.${relation.name} writes ${owner.name}.${propOf(owner, column)}, which the update grant does not list`)
      }
    }
  }

  /** `relate(ids)` / `unrelate()` through `relatedQuery(relation).for(ids)`. */
  private relate(query: Record<string, unknown>, op: 'relate' | 'unrelate'): CheckedRelate {
    checkKeys(query, op === 'relate' ? RELATE_KEYS : UNRELATE_KEYS, op)
    const named = this.model(query.model)
    if (query.for === undefined) throw bad(`${op} needs the owner rows: relatedQuery(relation).for(ids).${op}(…)`)
    const owners = this.relatedTo(named, query.for)
    const { relation } = owners
    const target = relation.target
    if (target.columns.size === 0) throw new ExecutorError('FORBIDDEN', `reading ${target.name} is not allowed`)
    const ownerCount = distinctCount((query.for as { ids: unknown[] }).ids)
    if (ownerCount === 0) throw bad(`${op} needs at least one owner id`)
    if (relation.kind === 'hasMany') {
      // The related rows hold the key: linking them is patching it.
      const grant = target.update
      if (!grant) throw new ExecutorError('FORBIDDEN', `updating ${target.name} is not allowed`)
      for (const column of relation.relatedColumns) {
        if (!grantsColumn(grant, column)) {
          throw new ExecutorError('FORBIDDEN', `linking ${named.name}.${relation.name} writes ${target.name}.${propOf(target, column)}, which the update grant does not list`)
        }
      }
      if (op === 'relate' && ownerCount !== 1) throw bad(`relate through ${named.name}.${relation.name} needs exactly one owner: for(id)`)
    } else this.ownerUpdates(owners)
    if (op === 'unrelate') {
      const where = query.where === undefined ? undefined : this.filter(target, query.where, 0, 0)
      return { kind: 'relate', op, owners, ownerCount, ...(where && { where }) }
    }
    const ids = this.ids(target, query.ids)
    const idCount = distinctCount(query.ids as unknown[])
    if (idCount === 0) throw bad('relate needs at least one id')
    // Many-to-many links every owner to every id: the pairs are rows written.
    if (ownerCount * idCount > this.limits.maxLimit) {
      throw new ExecutorError('LIMIT_EXCEEDED', `relate may make at most ${this.limits.maxLimit} links (owners × ids) in one query`)
    }
    if (!relation.many && idCount !== 1) throw bad(`${named.name}.${relation.name} is a to-one relation: relate one id`)
    return { kind: 'relate', op, owners, ownerCount, ids, idCount }
  }

  private insertRow(model: ModelMeta, input: unknown, graph: boolean, depth: number, budget: { rows: number }): CheckedInsertRow {
    if (--budget.rows < 0) throw new ExecutorError('LIMIT_EXCEEDED', `a graph insert may carry at most ${this.limits.maxLimit} rows`)
    const grant = model.insert
    if (!grant) throw new ExecutorError('FORBIDDEN', `inserting ${model.name} is not allowed`)
    const row = record(input, `${model.name} row`)
    const values = new Map<string, CheckedWriteValue>()
    const children: { relation: RelationMeta; rows: CheckedInsertRow[] }[] = []
    for (const key of Object.keys(row)) {
      if (SPECIAL_KEYS.has(key)) throw bad(`"${key}" is not accepted: graphs may not link to existing rows`)
      const column = grant.columns.get(key)
      if (column !== undefined) {
        const type = model.columnTypes.get(column)!
        values.set(column, this.values.columnValue(row[key], key, type, this.index))
        continue
      }
      const relation = graph ? model.relations.get(key) : undefined
      if (!relation) throw bad(`column "${clip(key)}" cannot be written on ${model.name}`)
      if (depth + 1 > this.limits.maxGraphDepth) {
        throw new ExecutorError('LIMIT_EXCEEDED', `relations nest deeper than ${this.limits.maxGraphDepth} levels`)
      }
      const related = relation.many ? array(row[key], `${model.name}.${key}`) : [row[key]]
      children.push({ relation, rows: related.map((child) => this.insertRow(relation.target, child, true, depth + 1, budget)) })
    }
    return { values, children }
  }

  private onConflict(model: ModelMeta, input: unknown): NonNullable<CheckedInsert['onConflict']> {
    const node = record(input, 'onConflict')
    checkKeys(node, CONFLICT_KEYS, 'onConflict')
    const columns = array(node.columns, 'onConflict columns').map((item) => {
      const prop = string(item, 'onConflict column')
      const column = model.columns.get(prop) ?? model.insert!.columns.get(prop)
      if (column === undefined) throw bad(`unknown column "${clip(prop)}" on ${model.name}`)
      return column
    })
    if (columns.length === 0) throw bad('onConflict needs its conflict columns')
    if (node.action === 'ignore') {
      if (node.merge !== undefined) throw bad('onConflict ignore takes no merge columns')
      return { columns, action: 'ignore', merge: [] }
    }
    if (node.action !== 'merge') throw bad('onConflict action must be "ignore" or "merge"')
    // Merging updates an existing row: it needs the update grant for every merged column.
    const update = model.update
    if (!update) throw new ExecutorError('FORBIDDEN', `updating ${model.name} is not allowed`)
    const merge =
      node.merge === undefined
        ? [...model.insert!.columns.keys()].filter((prop) => update.columns.has(prop)).map((prop) => update.columns.get(prop)!)
        : array(node.merge, 'merge columns').map((item) => {
            const prop = string(item, 'merge column')
            const column = update.columns.get(prop)
            if (column === undefined) throw bad(`column "${clip(prop)}" cannot be written on ${model.name}`)
            return column
          })
    if (merge.length === 0) throw bad('onConflict merge has no updatable column to merge')
    return { columns, action: 'merge', merge }
  }

  private update(query: Record<string, unknown>, op: 'patch' | 'update'): CheckedUpdate {
    checkKeys(query, UPDATE_KEYS, op)
    const named = this.model(query.model)
    const related = query.for === undefined ? undefined : this.relatedTo(named, query.for)
    const model = related?.relation.target ?? named
    const grant = model.update
    if (!grant) throw new ExecutorError('FORBIDDEN', `updating ${model.name} is not allowed`)
    const input = record(query.values, `${op} values`)
    const values = new Map<string, CheckedWriteValue>()
    for (const key of Object.keys(input)) {
      const column = grant.columns.get(key)
      if (column === undefined) throw bad(`column "${clip(key)}" cannot be written on ${model.name}`)
      values.set(column, this.values.columnValue(input[key], key, model.columnTypes.get(column)!, this.index))
    }
    if (values.size === 0) throw bad(`${op} needs at least one column`)
    if (op === 'update') {
      const missing = [...grant.columns.keys()].filter((prop) => !Object.hasOwn(input, prop))
      if (missing.length > 0) throw bad(`update replaces every updatable column; missing ${missing.join(', ')} (use patch to change some)`)
    }
    const where = withRelated(related, query.where === undefined ? undefined : this.filter(model, query.where, 0, 0))
    if (matchesEveryRow(where) && !grant.allowUnfiltered) throw bad(`${op} without a filter would change every ${model.name} row; it is not allowed`)
    return {
      kind: 'update',
      op,
      model,
      values,
      ...(where && { where }),
      returning: this.returning(query.returning, 'count'),
      select: this.returned(model, query.select),
    }
  }

  private delete(query: Record<string, unknown>): CheckedDelete {
    checkKeys(query, DELETE_KEYS, 'delete')
    const named = this.model(query.model)
    const related = query.for === undefined ? undefined : this.relatedTo(named, query.for)
    const model = related?.relation.target ?? named
    const grant = model.delete
    if (!grant) throw new ExecutorError('FORBIDDEN', `deleting ${model.name} is not allowed`)
    const where = withRelated(related, query.where === undefined ? undefined : this.filter(model, query.where, 0, 0))
    if (matchesEveryRow(where) && !grant.allowUnfiltered) throw bad(`delete without a filter would remove every ${model.name} row; it is not allowed`)
    return {
      kind: 'delete',
      model,
      ...(where && { where }),
      returning: this.returning(query.returning, 'count'),
      select: this.returned(model, query.select),
    }
  }

  private call(query: Record<string, unknown>): CheckedCall {
    checkKeys(query, CALL_KEYS, 'call')
    const name = string(query.procedure, 'procedure')
    const procedure = this.procedures.get(name)
    if (!procedure) throw bad(`unknown procedure "${clip(name)}"`)
    return { kind: 'call', procedure, args: query.args }
  }
}

/**
 * Whether a filter is absent or matches every row by its shape alone (`and []`, an
 * `or` holding one of those, `not in []`, `not (or [])`…): the guard against accidental
 * whole-table writes must not be passed by an empty group.
 */
export function matchesEveryRow(filter: CheckedFilter | undefined): boolean {
  return filter === undefined || always(filter, true)
}

/** Whether `filter` is `value` (true or false) for every row, by its shape alone. */
function always(filter: CheckedFilter, value: boolean): boolean {
  switch (filter.kind) {
    case 'and':
      return value ? filter.filters.every((f) => always(f, true)) : filter.filters.some((f) => always(f, false))
    case 'or':
      return value ? filter.filters.some((f) => always(f, true)) : filter.filters.every((f) => always(f, false))
    case 'not':
      return always(filter.filter, !value)
    case 'in':
      return filter.values.length === 0 && filter.negated === value
    default:
      return false
  }
}

/** The related rows of the owners, narrowed by `where`. */
function withRelated(related: RelatedFilter | undefined, where: CheckedFilter | undefined): CheckedFilter | undefined {
  if (!related) return where
  return where ? { kind: 'and', filters: [related, where] } : related
}

/** How many distinct ids a (checked) id list holds. */
function distinctCount(ids: readonly unknown[]): number {
  return new Set(ids.map((id) => valuesKey([id]))).size
}

function fail(message: string): never {
  throw bad(message)
}
