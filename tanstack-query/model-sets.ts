/**
 * Which models a query reads and which a write may change, from their ASTs and the API's
 * description (relation name → related model): what a client cache needs to invalidate
 * exactly the queries a write can change. A read reads its model, and every model it
 * reaches through a relation: `relatedQuery(…).for(…)`, joins, loaded relations, relation
 * filters (`whereExists`, lookups across relations) and relation aggregates, at any depth.
 *
 * Where the description cannot tell (it is missing, or leaves out a relation or a model
 * the query reads), the answer is `'all'`: such a read is invalidated by any write, such
 * a write invalidates every read. What the AST does not show cannot be known here either: a named modifier's
 * own joins and subqueries, a policy's, database triggers; a procedure call may write
 * anything, so it is `'all'`.
 */
import type { ApiDescription } from '../shared/api-description.js'
import type { Filter, GraphNode, JoinNode, Query, ReadQuery, SelectItem, WriteRow } from '../shared/query-ast.js'

/**
 * `value` if it is an API description as the executor writes it, else `undefined` (a
 * description that cannot be trusted describes nothing: invalidation is then conservative).
 */
export function asDescription(value: unknown): ApiDescription | undefined {
  const models = (value as { models?: unknown } | null | undefined)?.models
  if (!isRecord(models)) return undefined
  for (const name of Object.keys(models)) {
    const model = models[name] as { relations?: unknown; references?: unknown } | null
    if (!isRecord(model?.relations) || !Object.values(model.relations).every((target) => typeof target === 'string')) return undefined
    if (!Array.isArray(model.references) || !model.references.every((target) => typeof target === 'string')) return undefined
    const same = (model as { sameTable?: unknown }).sameTable
    if (same !== undefined && (!Array.isArray(same) || !same.every((other) => typeof other === 'string'))) return undefined
  }
  return value as ApiDescription
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/** Model names, or `'all'` when they cannot be told. */
export type ModelSet = ReadonlySet<string> | 'all'

/** The models `query` (a read) reads. */
export function modelsRead(query: Query, api: ApiDescription | undefined): ModelSet {
  if (query.op === 'call') return 'all'
  const found = new Collector(api, true)
  found.add(query.model)
  const model = query.for ? found.through(query.model, query.for.relation) : query.model
  if (model === undefined) return 'all'
  const read = query as Partial<ReadQuery>
  found.joins(model, read.joins)
  found.select(model, read.select)
  found.filter(model, read.where)
  if (read.graph) found.graph(model, read.graph)
  return found.result()
}

/** The models a write (or procedure call) may change, rows that cascade from a delete included. */
export function modelsWritten(query: Query, api: ApiDescription | undefined): ModelSet {
  if (query.op === 'call') return 'all'
  const found = new Collector(api)
  const target = query.for ? found.through(query.model, query.for.relation) : query.model
  if (target === undefined) return 'all'
  switch (query.op) {
    case 'insert':
      found.add(target)
      // Inserting through a to-one relation sets the owner's key; a join table links both.
      if (query.for) found.add(query.model)
      if (query.graph) for (const row of query.rows) found.row(target, row)
      break
    case 'patch':
    case 'update':
      found.add(target)
      break
    case 'delete':
      if (!api) return 'all'
      found.cascade(target)
      break
    case 'relate':
    case 'unrelate':
      // The key is on either side, or in a join table: both sides' reads may change.
      found.add(query.model)
      found.add(target)
      break
    case 'select':
    case 'first':
    case 'page':
    case 'count':
    case 'exists':
    case 'aggregate':
      return new Set()
    default:
      return exhaustive(query)
  }
  // Models over the same table are the same rows: which, only a description naming the model says.
  if (api && !Object.hasOwn(api.models, target)) return 'all'
  found.sameTables()
  return found.result()
}

/** Whether a read of `read` may see a change to `written`. */
export function overlaps(read: ModelSet, written: ModelSet): boolean {
  if (read === 'all' || written === 'all') return true
  for (const model of written) if (read.has(model)) return true
  return false
}

/** Every model `sets` name together. */
export function union(sets: Iterable<ModelSet>): ModelSet {
  const all = new Set<string>()
  for (const set of sets) {
    if (set === 'all') return 'all'
    for (const model of set) all.add(model)
  }
  return all
}

class Collector {
  private readonly models = new Set<string>()
  private unknown = false

  constructor(
    private readonly api: ApiDescription | undefined,
    /**
     * For a read: a model the description leaves out (asked for as another caller, say)
     * may be reached by any write, and the read is `'all'`.
     */
    private readonly describedOnly = false,
  ) {}

  add(model: string): void {
    if (this.describedOnly && this.api && !Object.hasOwn(this.api.models, model)) this.unknown = true
    this.models.add(model)
  }

  result(): ModelSet {
    return this.unknown ? 'all' : this.models
  }

  /** The model `relation` of `model` leads to, added; `undefined` (and the result `'all'`) when the description does not say. */
  through(model: string, relation: unknown): string | undefined {
    const relations = this.api && Object.hasOwn(this.api.models, model) ? this.api.models[model]!.relations : undefined
    const target = relations && typeof relation === 'string' && Object.hasOwn(relations, relation) ? relations[relation] : undefined
    if (typeof target !== 'string') {
      this.unknown = true
      return undefined
    }
    this.add(target)
    return target
  }

  joins(model: string, nodes: readonly JoinNode[] | undefined): void {
    for (const node of nodes ?? []) {
      const target = this.through(model, node.relation)
      if (target !== undefined) this.joins(target, node.joins)
    }
  }

  select(model: string, items: readonly SelectItem[] | undefined): void {
    for (const item of items ?? []) {
      if (typeof item === 'string') continue
      const target = this.through(model, item.relation)
      if (target !== undefined) this.filter(target, item.where)
    }
  }

  filter(model: string, filter: Filter | undefined): void {
    if (!filter) return
    switch (filter.kind) {
      case 'and':
      case 'or':
        for (const inner of filter.filters) this.filter(model, inner)
        return
      case 'not':
        return this.filter(model, filter.filter)
      case 'exists': {
        const target = this.through(model, filter.relation)
        if (target !== undefined) this.filter(target, filter.where)
        return
      }
      case 'compare':
      case 'in':
      case 'null':
      case 'between':
      case 'id':
      case 'modifier':
        return
      default:
        return exhaustive(filter)
    }
  }

  graph(model: string, nodes: readonly GraphNode[]): void {
    for (const node of nodes) {
      const target = this.through(model, node.relation)
      if (target === undefined) continue
      this.select(target, node.select)
      this.filter(target, node.where)
      if (node.graph) this.graph(target, node.graph)
    }
  }

  /** Every model over the same table as one found. */
  sameTables(): void {
    for (const model of [...this.models]) for (const other of this.described(model)?.sameTable ?? []) this.models.add(other)
  }

  private described(model: string) {
    return this.api && Object.hasOwn(this.api.models, model) ? this.api.models[model] : undefined
  }

  /** The rows of a graph insert: keys naming relations hold related rows (others are columns, json ones too). */
  row(model: string, row: WriteRow): void {
    // Which keys are relations, only the model's description says.
    if (this.api && !this.described(model)) this.unknown = true
    const relations = this.described(model)?.relations
    for (const key of Object.keys(row)) {
      const value = row[key]
      if (value === null || typeof value !== 'object' || value instanceof Date) continue
      if (!this.api) {
        // A nested object is a relation's rows or a json column's value: which, only the description says.
        this.unknown = true
        return
      }
      if (!relations || !Object.hasOwn(relations, key)) continue
      const target = this.through(model, key)
      if (target === undefined) continue
      for (const nested of Array.isArray(value) ? value : [value]) {
        if (nested !== null && typeof nested === 'object') this.row(target, nested as WriteRow)
      }
    }
  }

  /** `model` and every model whose rows point at it, at any distance: what deleting its rows may change. */
  cascade(model: string): void {
    // What points at a model the description leaves out, it does not say.
    if (!Object.hasOwn(this.api!.models, model)) this.unknown = true
    const pending = [model]
    while (pending.length > 0) {
      const current = pending.pop()!
      if (this.models.has(current)) continue
      this.models.add(current)
      pending.push(...(this.described(current)?.sameTable ?? []))
      for (const [name, description] of Object.entries(this.api!.models)) {
        if (description.references.includes(current)) pending.push(name)
      }
    }
  }
}

function exhaustive(value: never): never {
  throw new TypeError(`unknown query kind ${JSON.stringify(value)}`)
}
