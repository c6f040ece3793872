/**
 * The executor scaled out: `npx tsx examples/quickstart/scaled.ts`, as many processes as
 * traffic needs. DATABASE_URL reaches the primary through PgBouncer in transaction mode;
 * REPLICA_URLS lists its streaming replicas, comma-separated.
 */
import { createExecutor } from 'async-orm/executor'
import { serve } from 'async-orm/executor/node'
import knexFactory from 'knex'
import { api } from './api.js'
import { auth } from './auth.js'
import { migrate } from './migrations.js'
import { procedures } from './procedures.js'

const pool = { min: 0, max: 10 }
const knex = knexFactory({ client: 'pg', connection: process.env.DATABASE_URL, pool })
const replicas = (process.env.REPLICA_URLS ?? '').split(',').filter(Boolean).map((url) => knexFactory({ client: 'pg', connection: url, pool }))
await migrate(knex)

const executor = createExecutor({
  knex,
  replicas,
  replication: { maxLagMs: 5000 },
  pooler: 'transaction',
  // Retries may reach another process: the store is a table, shared by all of them.
  idempotency: true,
  api,
  auth,
  procedures,
})
const server = await serve(executor, {
  port: Number(process.env.PORT ?? 3000),
  onShutdown: async () => void (await Promise.all([knex, ...replicas].map((k) => k.destroy()))),
})
console.log(`async-orm executor on ${server.url}`)
