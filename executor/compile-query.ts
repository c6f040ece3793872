/**
 * Turns a checked query into knex builders. Identifiers here come only from the API
 * metadata (table and column names, relation join columns); client values reach knex
 * only as bindings.
 */
import type { Knex } from 'knex'
import type { RelationMeta } from './api-metadata.js'
import type { RequestScope } from './request-scope.js'
import type { CheckedFilter, CheckedOrder, CheckedSelection, Column } from './validate-query.js'

type Value = Knex.Value

/** `select <model columns> from <table> as <alias> where <policy> and <filter>`. */
export function selectFrom(
  knex: Knex,
  selection: Pick<CheckedSelection, 'model' | 'where'>,
  scope: RequestScope,
): { builder: Knex.QueryBuilder; alias: string } {
  const alias = scope.alias()
  const builder = knex({ [alias]: selection.model.table })
  scope.applyPolicy(builder, selection.model, alias)
  if (selection.where) applyFilter(knex, builder, selection.where, alias, scope, false)
  return { builder, alias }
}

export function columnsAs(columns: readonly Column[], alias: string): Record<string, string> {
  const select: Record<string, string> = {}
  for (const { prop, column } of columns) select[prop] = `${alias}.${column}`
  return select
}

export function applyOrder(builder: Knex.QueryBuilder, orderBy: readonly CheckedOrder[], alias: string): void {
  for (const term of orderBy) builder.orderBy(`${alias}.${term.column}`, term.direction, term.nulls)
}

/** ANDs a checked filter into `builder` (whose table is aliased `alias`). */
export function applyFilterTo(knex: Knex, builder: Knex.QueryBuilder, filter: CheckedFilter, alias: string, scope: RequestScope): void {
  applyFilter(knex, builder, filter, alias, scope, false)
}

function applyFilter(
  knex: Knex,
  builder: Knex.QueryBuilder,
  filter: CheckedFilter,
  alias: string,
  scope: RequestScope,
  or: boolean,
): void {
  switch (filter.kind) {
    case 'compare': {
      const column = `${alias}.${filter.column}`
      const value = scope.resolve(filter.value) as Value
      if (or) builder.orWhere(column, filter.op, value)
      else builder.where(column, filter.op, value)
      return
    }
    case 'in': {
      const column = `${alias}.${filter.column}`
      const values = filter.values.map((v) => scope.resolve(v)) as Value[]
      if (filter.negated) (or ? builder.orWhereNotIn(column, values) : builder.whereNotIn(column, values))
      else or ? builder.orWhereIn(column, values) : builder.whereIn(column, values)
      return
    }
    case 'null': {
      const column = `${alias}.${filter.column}`
      if (filter.negated) (or ? builder.orWhereNotNull(column) : builder.whereNotNull(column))
      else or ? builder.orWhereNull(column) : builder.whereNull(column)
      return
    }
    case 'between': {
      const column = `${alias}.${filter.column}`
      const range = [scope.resolve(filter.low), scope.resolve(filter.high)] as unknown as readonly [Value, Value]
      if (filter.negated) (or ? builder.orWhereNotBetween(column, range) : builder.whereNotBetween(column, range))
      else or ? builder.orWhereBetween(column, range) : builder.whereBetween(column, range)
      return
    }
    case 'and':
    case 'or': {
      const group = function (this: Knex.QueryBuilder) {
        for (const inner of filter.filters) applyFilter(knex, this, inner, alias, scope, filter.kind === 'or')
      }
      if (filter.filters.length === 0) {
        // An empty AND is true; an empty OR is false, as in SQL's neutral elements.
        if (filter.kind === 'or') or ? builder.orWhereRaw('false') : builder.whereRaw('false')
        return
      }
      if (or) builder.orWhere(group)
      else builder.where(group)
      return
    }
    case 'not': {
      const group = function (this: Knex.QueryBuilder) {
        applyFilter(knex, this, filter.filter, alias, scope, false)
      }
      if (or) builder.orWhereNot(group)
      else builder.whereNot(group)
      return
    }
    case 'exists': {
      const subquery = relatedRows(knex, filter.relation, alias, filter.where, scope)
      if (filter.negated) (or ? builder.orWhereNotExists(subquery) : builder.whereNotExists(subquery))
      else or ? builder.orWhereExists(subquery) : builder.whereExists(subquery)
      return
    }
    default:
      assertNever(filter)
  }
}

/** `select 1 from <related> where <joined to the owner row> and <policy> and <where>`. */
function relatedRows(
  knex: Knex,
  relation: RelationMeta,
  ownerAlias: string,
  where: CheckedFilter | undefined,
  scope: RequestScope,
): Knex.QueryBuilder {
  const { builder, alias } = selectFrom(knex, { model: relation.target, ...(where && { where }) }, scope)
  builder.select(knex.raw('1'))
  const { join } = relation
  if (join) {
    const joinAlias = scope.alias()
    builder.join({ [joinAlias]: join.table }, function () {
      join.relatedColumns.forEach((column, i) => {
        this.on(`${joinAlias}.${column}`, '=', `${alias}.${relation.relatedColumns[i]!}`)
      })
    })
    join.ownerColumns.forEach((column, i) => {
      builder.where(`${joinAlias}.${column}`, knex.ref(`${ownerAlias}.${relation.ownerColumns[i]!}`))
    })
  } else {
    relation.relatedColumns.forEach((column, i) => {
      builder.where(`${alias}.${column}`, knex.ref(`${ownerAlias}.${relation.ownerColumns[i]!}`))
    })
  }
  return builder
}

export function assertNever(value: never): never {
  throw new TypeError(`unexpected ${JSON.stringify(value)}`)
}

