/**
 * The embedded database: PGlite behind knex's ordinary `pg` client (through
 * `@electric-sql/pglite/node-postgres`), so types parse exactly as on a real server.
 */
import { mkdir } from 'node:fs/promises'
import { PGlite } from '@electric-sql/pglite'
import { createPgConfig } from '@electric-sql/pglite/node-postgres'
import knexFactory, { type Knex } from 'knex'

export interface EmbeddedDatabase {
  readonly knex: Knex
  readonly pglite: PGlite
  /** Destroys the knex pool and closes PGlite; without it Node will not exit. */
  close(): Promise<void>
}

/**
 * Opens PGlite (in memory, or in `dataDir`, created when missing) and a knex instance
 * on it. PGlite serves one connection, so the pool holds one.
 */
export interface EmbeddedDatabaseOptions {
  /** Where PGlite keeps its files (created when missing); in memory without it. */
  readonly dataDir?: string
  /** More knex settings, e.g. `{ ...knexSnakeCaseMappers() }` (client, connection and pool are PGlite's). */
  readonly knex?: Omit<Knex.Config, 'client' | 'connection' | 'pool'>
}

export async function createEmbeddedDatabase(options: EmbeddedDatabaseOptions = {}): Promise<EmbeddedDatabase> {
  if (options.dataDir !== undefined) await mkdir(options.dataDir, { recursive: true })
  const pglite = options.dataDir === undefined ? await PGlite.create() : await PGlite.create(options.dataDir)
  const knex = knexFactory({
    ...options.knex,
    client: 'pg',
    connection: () => createPgConfig(pglite) as unknown as Knex.PgConnectionConfig,
    pool: { min: 0, max: 1 },
  })
  return {
    knex,
    pglite,
    async close() {
      await knex.destroy()
      await pglite.close()
    },
  }
}
