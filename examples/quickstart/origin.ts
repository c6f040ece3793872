/**
 * The executor behind the edge proxy (edge/worker.ts): it trusts only requests the proxy
 * signed with HOP_SECRET, takes the caller from the token the proxy verified, and applies
 * a replayed write once. `npx tsx examples/quickstart/origin.ts`
 */
import { createExecutor, proxyAuth } from 'async-orm/executor'
import { serve } from 'async-orm/executor/node'
import knexFactory from 'knex'
import { api, type Ctx } from './api.js'
import { migrate } from './migrations.js'
import { procedures } from './procedures.js'

const hopSecret = process.env.HOP_SECRET
if (!hopSecret) throw new Error('Set HOP_SECRET: the secret the edge proxy signs its requests with.')

const knex = knexFactory({ client: 'pg', connection: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test' })
await migrate(knex)
const executor = createExecutor({
  knex,
  api,
  procedures,
  idempotency: true,
  auth: proxyAuth<Ctx>({ secret: hopSecret, context: (identity) => ({ userId: Number(identity.sub), orgId: Number(identity.org) }) }),
})
const server = await serve(executor, { port: Number(process.env.PORT ?? 3001), onShutdown: () => knex.destroy() })
console.log(`async-orm executor (behind the edge proxy) on ${server.url}`)
