/**
 * One database connection held for the length of a request: a read-only transaction
 * whose `statement_timeout` is set with `SET LOCAL` in the same round trip as `BEGIN`.
 * Results come back as pg results, so int8 columns can become bigints by their field
 * type instead of by global pg type parsers (which would change every other query of
 * the application; per-query parsers are not honoured by every pg-compatible driver,
 * PGlite's among them).
 */
import type { Knex } from 'knex'

export type Row = Record<string, unknown>

interface PgResult {
  readonly rows: Row[]
  readonly fields: readonly { readonly name: string; readonly dataTypeID: number }[]
}

/** knex's pool methods, public on its client though absent from its typings. */
interface PoolClient {
  acquireConnection(): Promise<unknown>
  releaseConnection(connection: unknown): Promise<void>
}

const INT8 = 20
const INT8_ARRAY = 1016

export class DbSession {
  private open = false

  private constructor(
    readonly knex: Knex,
    private readonly connection: unknown,
    private readonly begin: string,
  ) {}

  /** Takes a connection from the pool and begins the request's transaction. */
  static async start(knex: Knex, statementTimeoutMs: number): Promise<DbSession> {
    const pool = knex.client as unknown as PoolClient
    const connection = await pool.acquireConnection()
    // The timeout comes from validated configuration (a positive integer), never a client.
    const session = new DbSession(knex, connection, `begin transaction read only; set local statement_timeout = ${Math.trunc(statementTimeoutMs)}`)
    try {
      await session.beginTransaction()
    } catch (error) {
      await pool.releaseConnection(connection)
      throw error
    }
    return session
  }

  private async beginTransaction(): Promise<void> {
    await this.knex.raw(this.begin).connection(this.connection)
    this.open = true
  }

  /** Runs a builder and returns its rows, int8 columns as bigints. */
  async rows(builder: Knex.QueryBuilder): Promise<Row[]> {
    const result = (await this.knex.raw('?', [builder]).connection(this.connection)) as PgResult
    const int8 = result.fields.filter((f) => f.dataTypeID === INT8).map((f) => f.name)
    const int8Arrays = result.fields.filter((f) => f.dataTypeID === INT8_ARRAY).map((f) => f.name)
    if (int8.length === 0 && int8Arrays.length === 0) return result.rows
    for (const row of result.rows) {
      for (const name of int8) row[name] = toBigInt(row[name])
      for (const name of int8Arrays) {
        const value = row[name]
        if (Array.isArray(value)) row[name] = value.map(toBigInt)
      }
    }
    return result.rows
  }

  /** After a failed statement the transaction is aborted: roll back and begin a new one. */
  async restart(): Promise<void> {
    await this.rollback()
    await this.beginTransaction()
  }

  /** Ends the transaction and returns the connection to the pool. */
  async end(): Promise<void> {
    try {
      if (this.open) await this.knex.raw('commit').connection(this.connection)
      this.open = false
    } catch (error) {
      await this.rollback().catch(() => undefined)
      throw error
    } finally {
      await (this.knex.client as unknown as PoolClient).releaseConnection(this.connection)
    }
  }

  private async rollback(): Promise<void> {
    this.open = false
    await this.knex.raw('rollback').connection(this.connection)
  }
}

function toBigInt(value: unknown): unknown {
  return typeof value === 'string' || typeof value === 'number' ? BigInt(value) : value
}
