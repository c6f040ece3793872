/**
 * Validation of whole requests: reads (see `validate-query.ts`), writes and procedure
 * calls. Write values are checked against each column's PostgreSQL type, write columns
 * against the operation's grant, and graph inserts node by node against the related
 * model's insert grant.
 */
import { GRAPH_SPECIAL_KEYS, READ_OPS, RETURNING, type Returning } from '../shared/query-ast.js'
import type { ModelMeta, RelationMeta } from './api-metadata.js'
import { ExecutorError } from './executor-error.js'
import type { Limits } from './limits.js'
import type { ProcedureMeta } from './procedures.js'
import { QueryValidator, type CheckedFilter, type CheckedRead, type Column } from './validate-query.js'
import { array, bad, checkKeys, clip, keys, record, string, type CheckedWriteValue } from './validate-values.js'
import type { ApiMetadata } from './api-metadata.js'

export interface CheckedInsertRow {
  /** Database column → value. */
  readonly values: ReadonlyMap<string, CheckedWriteValue>
  /** Related rows inserted with this one (`insertGraph`). */
  readonly children: readonly { readonly relation: RelationMeta; readonly rows: readonly CheckedInsertRow[] }[]
}

export interface CheckedInsert {
  readonly kind: 'insert'
  readonly model: ModelMeta
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

export interface CheckedCall {
  readonly kind: 'call'
  readonly procedure: ProcedureMeta
  readonly args: unknown
}

export type CheckedQuery = CheckedRead | CheckedInsert | CheckedUpdate | CheckedDelete | CheckedCall

const READS = new Set<string>(READ_OPS)
const RETURNINGS = new Set<string>(RETURNING)
const INSERT_KEYS = keys('model', 'op', 'rows', 'returning', 'select', 'graph', 'onConflict')
const UPDATE_KEYS = keys('model', 'op', 'values', 'where', 'returning', 'select')
const DELETE_KEYS = keys('model', 'op', 'where', 'returning', 'select')
const CONFLICT_KEYS = keys('columns', 'action', 'merge')
const CALL_KEYS = keys('op', 'procedure', 'args')
const SPECIAL_KEYS = new Set<string>(GRAPH_SPECIAL_KEYS)

export class RequestValidator extends QueryValidator {
  constructor(
    api: ApiMetadata,
    limits: Limits,
    private readonly procedures: ReadonlyMap<string, ProcedureMeta>,
  ) {
    super(api, limits)
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
      case 'call':
        return this.call(query)
      default:
        throw bad(`unknown operation "${clip(op)}"`)
    }
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
    const model = this.model(query.model)
    if (!model.insert) throw new ExecutorError('FORBIDDEN', `inserting ${model.name} is not allowed`)
    const graph = query.graph === undefined ? false : query.graph === true ? true : fail('graph must be true')
    const rows = array(query.rows, 'rows')
    if (rows.length === 0) throw bad('insert needs at least one row')
    if (rows.length > this.limits.maxLimit) {
      throw new ExecutorError('LIMIT_EXCEEDED', `an insert may carry at most ${this.limits.maxLimit} rows`)
    }
    const budget = { rows: this.limits.maxLimit }
    const checked = rows.map((row) => this.insertRow(model, row, graph, 0, budget))
    const returning = this.returning(query.returning, 'rows')
    if (returning === 'count') throw bad('an insert returns "rows" or "first"')
    const onConflict = query.onConflict === undefined ? undefined : this.onConflict(model, query.onConflict)
    if (onConflict && graph) throw bad('an upsert cannot insert a graph')
    return { kind: 'insert', model, rows: checked, returning, select: this.returned(model, query.select), ...(onConflict && { onConflict }) }
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
    const model = this.model(query.model)
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
    const where = query.where === undefined ? undefined : this.filter(model, query.where, 0, 0)
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
    const model = this.model(query.model)
    const grant = model.delete
    if (!grant) throw new ExecutorError('FORBIDDEN', `deleting ${model.name} is not allowed`)
    const where = query.where === undefined ? undefined : this.filter(model, query.where, 0, 0)
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

function fail(message: string): never {
  throw bad(message)
}
