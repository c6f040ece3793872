/**
 * How a model's property becomes a database identifier, wherever the app configures it:
 * objection's model-level `columnNameMappers` (property → the column knex is given) and
 * knex's own `wrapIdentifier` / `postProcessResponse` (the column knex is given → the
 * identifier in SQL, and back), e.g. `knexSnakeCaseMappers()`. The executor writes its
 * read SQL itself, so it resolves both layers once at startup and uses database
 * identifiers only.
 */
import type { Knex } from 'knex'
import { readTableKeys, type TableKeys } from './table-keys.js'
import type { Model } from 'objection'

export interface Naming {
  /** A property of the model → its column as the database names it. */
  toDb(prop: string): string
  /** A database column → the model's property. */
  toProp(column: string): string
  /** A property → the column as knex is given it (the model's mappers applied, knex's not). */
  toKnex(prop: string): string
  /** A name knex is given (a column in relation mappings, `idColumn`) → the database's. */
  knexToDb(name: string): string
  /** A table name as objection or knex is given it (`'persons'`, `'app.persons'`) → the database's. */
  table(name: string): string
}

interface KnexIdentifierConfig {
  wrapIdentifier?: (value: string, origImpl: (value: string) => string, queryContext: unknown) => string
  postProcessResponse?: (result: unknown, queryContext: unknown) => unknown
}

/** knex's identifier layer: what `wrapIdentifier` makes of a name, and what `postProcessResponse` makes of a key. */
export function knexNaming(knex: Knex): { toDb(name: string): string; fromDb(column: string): string } {
  const config = knex.client.config as KnexIdentifierConfig
  const wrap = config.wrapIdentifier
  const post = config.postProcessResponse
  return {
    // `origImpl` as the identity: the name wrapIdentifier would quote, unquoted.
    toDb: wrap ? (name) => wrap(name, (value) => value, undefined) : (name) => name,
    fromDb: post
      ? (column) => {
          const [row] = post([{ [column]: null }], undefined) as [Record<string, unknown>] | undefined[]
          return row && typeof row === 'object' ? (Object.keys(row)[0] ?? column) : column
        }
      : (column) => column,
  }
}

/** The model's naming: its own column mappers, then knex's. */
export function modelNaming(modelClass: typeof Model, knex: Knex): Naming {
  const mappers = (modelClass as { columnNameMappers?: { format(json: object): object; parse(json: object): object } }).columnNameMappers
  const layer = knexNaming(knex)
  const format = mappers ? (prop: string) => Object.keys(mappers.format({ [prop]: null }))[0] ?? prop : (prop: string) => prop
  const parse = mappers ? (column: string) => Object.keys(mappers.parse({ [column]: null }))[0] ?? column : (column: string) => column
  const toDb = memoize((prop: string) => layer.toDb(format(prop)))
  const toProp = memoize((column: string) => parse(layer.fromDb(column)))
  return {
    toDb,
    toProp,
    toKnex: memoize(format),
    knexToDb: memoize(layer.toDb),
    table: (name) =>
      name
        .split('.')
        .map((part) => layer.toDb(part))
        .join('.'),
  }
}

function memoize(fn: (value: string) => string): (value: string) => string {
  const cache = new Map<string, string>()
  return (value) => {
    let result = cache.get(value)
    if (result === undefined) cache.set(value, (result = fn(value)))
    return result
  }
}

/** A connection from knex's pool, used as pg hands it out. */
export interface PgConnection {
  query(text: string, values: readonly unknown[]): Promise<{ rows: Record<string, unknown>[] }>
}

interface PoolClient {
  acquireConnection(): Promise<unknown>
  releaseConnection(connection: unknown): Promise<void>
}

/**
 * Each table's columns (a column's type by PostgreSQL's name for it, a domain by its base
 * type), in one catalog query for all of them. A table whose name has no schema is
 * looked up on the search path, as PostgreSQL resolves it.
 */
const COLUMNS = `select r.i as "table", a.attname as name,
  format_type(case when t.typtype = 'd' then t.typbasetype else a.atttypid end, null) as type, not a.attnotnull as nullable
  from unnest($1::text[], $2::text[]) with ordinality as r(schema, name, i)
  join pg_attribute a on a.attrelid = to_regclass(case when r.schema is null then quote_ident(r.name) else quote_ident(r.schema) || '.' || quote_ident(r.name) end)
  join pg_type t on t.oid = a.atttypid
  where a.attnum > 0 and not a.attisdropped order by r.i, a.attnum`

export type TableColumns = Map<string, { type: string; nullable: boolean }>

/**
 * The tables' columns (database names) with their types, and the foreign keys between
 * them, read from the catalog on a pooled connection directly: knex would pass the answer
 * through `postProcessResponse`. A table that does not exist has no columns.
 */
export async function introspect(knex: Knex, tables: readonly string[]): Promise<{ columns: Map<string, TableColumns>; keys: TableKeys }> {
  const pool = knex.client as unknown as PoolClient
  const connection = (await pool.acquireConnection()) as PgConnection
  try {
    const names = tables.map((table) => {
      const dot = table.indexOf('.')
      return dot === -1 ? [null, table] : [table.slice(0, dot), table.slice(dot + 1)]
    })
    const params = [names.map((n) => n[0]), names.map((n) => n[1])]
    const { rows } = await connection.query(COLUMNS, params)
    const found = new Map<string, TableColumns>(tables.map((table) => [table, new Map()]))
    for (const row of rows) found.get(tables[Number(row.table) - 1]!)!.set(String(row.name), { type: String(row.type), nullable: row.nullable === true })
    return { columns: found, keys: await readTableKeys(connection, tables, params) }
  } finally {
    await pool.releaseConnection(connection)
  }
}

