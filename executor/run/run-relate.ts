/**
 * Writes through a relation, `relatedQuery(relation).for(ids)`: `insert`, `relate` and
 * `unrelate` (its `patch`, `update` and `delete` are plain writes of the related rows,
 * filtered to the owners' related rows). A link is a key column or a join-table row, and
 * whose row holds it decides the grant it needs:
 * - hasMany / hasOne: the related rows hold the key. Relating or unrelating patches it,
 *   under the related model's update grant (which must list the key columns); inserting
 *   writes it, under the insert grant (which must list them).
 * - belongsTo: the owner holds the key, under the owner's update grant (listing it).
 * - manyToMany: join-table rows, part of the owner's relation: the owner's update grant
 *   (its `allow`, `where` and read policy) applies.
 * Both sides are read under their read policies. `insert` and `relate` name rows, and each
 * must be one the caller may read (and, on the side that changes, update), or the write
 * fails with `NOT_FOUND` and changes nothing: a row outside the policy is a row that does
 * not exist. `unrelate` is a filter, and unlinks what it reaches.
 */
import { propOf, type ModelMeta, type RelationMeta } from '../api/api-metadata.js'
import type { DbSession, Row } from '../session/db-session.js'
import { ExecutorError } from '../executor-error.js'
import type { PolicyFilter, RequestScope } from '../session/request-scope.js'
import { insertRows, link, runUpdate } from './run-write.js'
import { source, whereClause, type Params } from '../session/sql.js'
import type { CheckedFilter, RelatedFilter } from '../validate/validate-query.js'
import type { CheckedInsert, CheckedRelate } from '../validate/validate-write.js'
import { valuesKey } from '../validate/validate-values.js'
import type { Scalar } from '../../shared/query-ast.js'

/** `relatedQuery(relation).for(id).insert(rows)`: the rows, inserted and linked to the owner. */
export async function insertInto(session: DbSession, query: CheckedInsert & { for: RelatedFilter }, scope: RequestScope): Promise<unknown> {
  const { owner, relation } = query.for
  const target = relation.target
  let inserted: { full: Row; shown: Row | undefined }[]
  if (relation.kind === 'hasMany') {
    const [parent] = await lookup(session, owner, query.for.ids, relation.ownerColumns, scope)
    if (!parent) throw notFound(owner)
    const keys = Object.fromEntries(relation.relatedColumns.map((column, k) => [propOf(target, column), parent[propOf(owner, relation.ownerColumns[k]!)]]))
    inserted = await insertRows(session, target, query.rows, scope, query.select, query.rows.map(() => keys))
  } else if (relation.kind === 'belongsTo') {
    inserted = await insertRows(session, target, query.rows, scope, query.select)
    const row = inserted[0]!.full
    const links = new Map(relation.ownerColumns.map((column, k) => [column, row[propOf(target, relation.relatedColumns[k]!)] as Scalar]))
    const linked = await patchLinks(session, owner, links, query.for.ids, scope)
    if (linked !== 1) throw notFound(owner)
  } else {
    const [parent] = await lookup(session, owner, query.for.ids, relation.ownerColumns, scope, owner.update!.where)
    if (!parent) throw notFound(owner)
    inserted = await insertRows(session, target, query.rows, scope, query.select)
    await link(session, relation, parent, owner, inserted.map((row) => row.full))
  }
  const rows = inserted.map((row) => row.shown).filter((row) => row !== undefined)
  scope.budget.chargeRows(rows)
  return query.returning === 'first' ? rows[0] : rows
}

/** `relate(ids)` and `unrelate()`: the number of links made or undone. */
export async function runRelate(session: DbSession, query: CheckedRelate, scope: RequestScope): Promise<number> {
  const { owner, relation } = query.owners
  const target = relation.target
  if (query.op === 'unrelate') {
    switch (relation.kind) {
      case 'hasMany': {
        const links = new Map(relation.relatedColumns.map((column) => [column, null]))
        const where = query.where ? { kind: 'and' as const, filters: [query.owners, query.where] } : query.owners
        return await patchLinks(session, target, links, where, scope)
      }
      case 'belongsTo': {
        const links = new Map(relation.ownerColumns.map((column) => [column, null]))
        const linked: CheckedFilter = { kind: 'exists', relation, ...(query.where && { where: query.where }), negated: false }
        const where: CheckedFilter = { kind: 'and', filters: [query.owners.ids, linked] }
        return await patchLinks(session, owner, links, where, scope)
      }
      default:
        return unlink(session, query, scope)
    }
  }
  const ids = query.ids!
  switch (relation.kind) {
    case 'hasMany': {
      const [parent] = await lookup(session, owner, query.owners.ids, relation.ownerColumns, scope)
      if (!parent) throw notFound(owner)
      const links = new Map(relation.relatedColumns.map((column, k) => [column, parent[propOf(owner, relation.ownerColumns[k]!)] as Scalar]))
      const linked = await patchLinks(session, target, links, ids, scope)
      if (linked !== query.idCount) throw notFound(target)
      return linked
    }
    case 'belongsTo': {
      const [child] = await lookup(session, target, ids, relation.relatedColumns, scope)
      if (!child) throw notFound(target)
      const links = new Map(relation.ownerColumns.map((column, k) => [column, child[propOf(target, relation.relatedColumns[k]!)] as Scalar]))
      const linked = await patchLinks(session, owner, links, query.owners.ids, scope)
      if (linked !== query.ownerCount) throw notFound(owner)
      return linked
    }
    default: {
      const parents = await lookup(session, owner, query.owners.ids, relation.ownerColumns, scope, owner.update!.where)
      if (parents.length !== query.ownerCount) throw notFound(owner)
      const children = await lookup(session, target, ids, relation.relatedColumns, scope)
      if (children.length !== query.idCount) throw notFound(target)
      return relateMany(session, relation, owner, parents, children)
    }
  }
}

/**
 * Patches only relation keys (`links`, by database column) of the rows `where` selects,
 * as `patch` does (the update grant's `where`, `set` and `check`, the read policy, hooks);
 * the number patched.
 */
async function patchLinks(session: DbSession, model: ModelMeta, links: ReadonlyMap<string, Scalar>, where: CheckedFilter, scope: RequestScope): Promise<number> {
  const update = { kind: 'update', op: 'patch', model, values: new Map(), links, where, returning: 'count', select: [] } as const
  return (await runUpdate(session, update, scope)) as number
}

/**
 * The rows of `model` that `ids` names and the caller may read (and, with `extra`, write),
 * with their id and `columns`, keyed by property.
 */
async function lookup(
  session: DbSession,
  model: ModelMeta,
  ids: CheckedFilter,
  columns: readonly string[],
  scope: RequestScope,
  extra?: PolicyFilter,
): Promise<Row[]> {
  const p = session.params()
  const from = source(p, model, ids, scope, extra)
  const wanted = [...new Set([...model.idProps.map((prop) => model.toColumn(prop)), ...columns])]
  const list = wanted.map((column) => `${p.column(from.alias, column)} as ${p.id(propOf(model, column))}`)
  return session.rows(p.statement(`select distinct ${list.join(', ')} from ${from.from}${whereClause(from.conditions)}`))
}

/**
 * Join-table rows linking each owner to each related row; a link that exists already is
 * kept as it is (`on conflict do nothing`, where the join table has a unique key).
 */
async function relateMany(session: DbSession, relation: RelationMeta, owner: ModelMeta, parents: readonly Row[], children: readonly Row[]): Promise<number> {
  const join = relation.join!
  const tuples = new Map<string, unknown[]>()
  for (const parent of parents) {
    for (const child of children) {
      const values = [
        ...relation.ownerColumns.map((column) => parent[propOf(owner, column)]),
        ...relation.relatedColumns.map((column) => child[propOf(relation.target, column)]),
      ]
      const key = valuesKey(values)
      if (!tuples.has(key)) tuples.set(key, values)
    }
  }
  const all = [...tuples.values()]
  const width = join.ownerColumns.length + join.relatedColumns.length
  // A statement takes at most 65,535 parameters.
  const perStatement = Math.floor(MAX_PARAMETERS / width)
  let made = 0
  for (let start = 0; start < all.length; start += perStatement) {
    const p = session.params()
    const list = all.slice(start, start + perStatement).map((values) => `(${values.map((value) => p.add(value)).join(', ')})`)
    const columns = [...join.ownerColumns, ...join.relatedColumns].map((column) => p.id(column))
    const text = `insert into ${p.table(join.table)} (${columns.join(', ')}) values ${list.join(', ')} on conflict do nothing returning 1`
    made += (await session.rows(p.statement(text))).length
  }
  return made
}

const MAX_PARAMETERS = 65_535

/**
 * Deletes the join-table rows linking the owners (those the caller may update) to the
 * related rows the caller may read that match `where`.
 */
async function unlink(session: DbSession, query: CheckedRelate, scope: RequestScope): Promise<number> {
  const { owner, relation } = query.owners
  const join = relation.join!
  const p = session.params()
  const alias = scope.alias()
  const owners = source(p, owner, query.owners.ids, scope, owner.update!.where)
  matchJoin(p, owners.conditions, alias, join.ownerColumns, owners.alias, relation.ownerColumns)
  const related = source(p, relation.target, query.where, scope)
  matchJoin(p, related.conditions, alias, join.relatedColumns, related.alias, relation.relatedColumns)
  const text =
    `delete from ${p.table(join.table)} as ${p.id(alias)}` +
    ` where exists (select 1 from ${owners.from}${whereClause(owners.conditions)})` +
    ` and exists (select 1 from ${related.from}${whereClause(related.conditions)}) returning 1`
  return (await session.rows(p.statement(text))).length
}

function matchJoin(p: Params, conditions: string[], joinAlias: string, joinColumns: readonly string[], alias: string, columns: readonly string[]): void {
  joinColumns.forEach((column, i) => conditions.push(`${p.column(joinAlias, column)} = ${p.column(alias, columns[i]!)}`))
}

function notFound(model: ModelMeta): ExecutorError {
  return new ExecutorError('NOT_FOUND', `no ${model.name} row with that id`)
}
