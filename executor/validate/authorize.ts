/**
 * Grants: whether this caller may run a checked query at all — every model it reads,
 * through relations and relation filters too, and every model it writes, graph nodes
 * included. Runs after validation and before any SQL; row policies then narrow what an
 * allowed query reaches.
 */
import type { ModelMeta } from '../api/api-metadata.js'
import { ExecutorError } from '../executor-error.js'
import type { CheckedFilter, CheckedSelection, RelatedFilter } from './validate-query.js'
import type { CheckedInsertRow, CheckedQuery } from './validate-write.js'

/** Roles of a context: `ctx.roles` (strings) or `ctx.role`, unless the executor says otherwise. */
export type RolesOf = (ctx: unknown) => readonly string[]

export const defaultRoles: RolesOf = (ctx) => {
  if (ctx === null || typeof ctx !== 'object') return []
  const { roles, role } = ctx as { roles?: unknown; role?: unknown }
  if (Array.isArray(roles)) return roles.filter((r): r is string => typeof r === 'string')
  return typeof role === 'string' ? [role] : []
}

export function authorize(query: CheckedQuery, ctx: unknown, roles: readonly string[]): void {
  const deny = (what: string, model: ModelMeta) => {
    throw new ExecutorError('FORBIDDEN', `${what} ${model.name} is not allowed`)
  }
  const reads = (selection: CheckedSelection) => {
    if (!selection.model.readAllowed(ctx, roles)) deny('reading', selection.model)
    if (selection.where) filterReads(selection.where)
    for (const aggregate of selection.relationAggregates) {
      if (!aggregate.relation.target.aggregateAllowed(ctx, roles)) deny('aggregating', aggregate.relation.target)
      if (aggregate.where) filterReads(aggregate.where)
    }
    for (const node of selection.graph) reads(node)
  }
  const filterReads = (filter: CheckedFilter): void => {
    switch (filter.kind) {
      case 'and':
      case 'or':
        return filter.filters.forEach(filterReads)
      case 'not':
        return filterReads(filter.filter)
      case 'exists':
        if (!filter.relation.target.readAllowed(ctx, roles)) deny('reading', filter.relation.target)
        if (filter.where) filterReads(filter.where)
        return
      case 'related':
        if (!filter.owner.readAllowed(ctx, roles)) deny('reading', filter.owner)
        return
      default:
        return
    }
  }
  // A write's filter reads the rows it tests: the count it answers would be an oracle
  // on columns the caller may not read.
  const writeFilter = (model: ModelMeta, where: CheckedFilter | undefined) => {
    if (!where) return
    if (!model.readAllowed(ctx, roles)) deny('filtering', model)
    filterReads(where)
  }
  const inserts = (model: ModelMeta, rows: readonly CheckedInsertRow[]) => {
    if (!model.insert?.allowed(ctx, roles)) deny('inserting', model)
    for (const row of rows) for (const child of row.children) inserts(child.relation.target, child.rows)
  }
  // A relation write reads its owners; a link the owner holds (its key, join-table rows) updates it.
  const links = ({ owner, relation }: RelatedFilter) => {
    if (!owner.readAllowed(ctx, roles)) deny('reading', owner)
    if (relation.kind !== 'hasMany' && !owner.update?.allowed(ctx, roles)) deny('updating', owner)
  }
  switch (query.kind) {
    case 'read':
      if (query.op === 'aggregate' && !query.model.aggregateAllowed(ctx, roles)) deny('aggregating', query.model)
      for (const join of query.joins) {
        for (const relation of join.relations) if (!relation.target.readAllowed(ctx, roles)) deny('reading', relation.target)
      }
      return reads(query)
    case 'insert':
      inserts(query.model, query.rows)
      if (query.onConflict?.action === 'merge' && !query.model.update?.allowed(ctx, roles)) deny('updating', query.model)
      if (query.for) links(query.for)
      return
    case 'relate':
      links(query.owners)
      if (!query.owners.relation.target.readAllowed(ctx, roles)) deny('reading', query.owners.relation.target)
      if (query.owners.relation.kind === 'hasMany' && !query.owners.relation.target.update?.allowed(ctx, roles)) deny('updating', query.owners.relation.target)
      if (query.where) filterReads(query.where)
      return
    case 'update':
      if (!query.model.update?.allowed(ctx, roles)) deny('updating', query.model)
      return writeFilter(query.model, query.where)
    case 'delete':
      if (!query.model.delete?.allowed(ctx, roles)) deny('deleting', query.model)
      return writeFilter(query.model, query.where)
    case 'call':
      if (!query.procedure.allowed(ctx, roles)) throw new ExecutorError('FORBIDDEN', `calling ${query.procedure.name} is not allowed`)
      return
  }
}
