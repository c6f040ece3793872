/**
 * How a model's property becomes a database identifier, wherever the app configures it:
 * objection's model-level `columnNameMappers` (property → the column knex is given) and
 * knex's own `wrapIdentifier` / `postProcessResponse` (the column knex is given → the
 * identifier in SQL, and back), e.g. `knexSnakeCaseMappers()`. The executor writes its
 * read SQL itself, so it resolves both layers once at startup and uses database
 * identifiers only.
 */
import type { Knex } from 'knex'
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
interface PgConnection {
  query(text: string, values: readonly unknown[]): Promise<{ rows: Record<string, unknown>[] }>
}

interface PoolClient {
  acquireConnection(): Promise<unknown>
  releaseConnection(connection: unknown): Promise<void>
}

/** A column's type by PostgreSQL's name for it, a domain by its base type. */
const COLUMNS = `select a.attname as name, format_type(case when t.typtype = 'd' then t.typbasetype else a.atttypid end, null) as type,
  not a.attnotnull as nullable from pg_attribute a join pg_type t on t.oid = a.atttypid`
const ORDINARY = 'and a.attnum > 0 and not a.attisdropped order by a.attnum'

/**
 * The table's columns (database names) with their types, read from the catalog on a
 * pooled connection directly: knex would pass the answer through `postProcessResponse`.
 * An unqualified table is looked up on the search path, as PostgreSQL resolves it.
 */
export async function introspect(knex: Knex, table: string): Promise<Map<string, { type: string; nullable: boolean }>> {
  const pool = knex.client as unknown as PoolClient
  const connection = (await pool.acquireConnection()) as PgConnection
  try {
    const dot = table.indexOf('.')
    const { rows } =
      dot === -1
        ? await connection.query(
            `${COLUMNS} where a.attrelid = to_regclass(quote_ident($1)) ${ORDINARY}`,
            [table],
          )
        : await connection.query(
            `${COLUMNS} where a.attrelid = to_regclass(quote_ident($1) || '.' || quote_ident($2)) ${ORDINARY}`,
            [table.slice(0, dot), table.slice(dot + 1)],
          )
    return new Map(rows.map((row) => [String(row.name), { type: String(row.type), nullable: row.nullable === true }]))
  } finally {
    await pool.releaseConnection(connection)
  }
}
