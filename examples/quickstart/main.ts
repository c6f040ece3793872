/** The server: `npx tsx examples/quickstart/main.ts` (PostgreSQL from DATABASE_URL). */
import { createExecutor } from 'async-orm/executor'
import { serve } from 'async-orm/executor/node'
import knexFactory from 'knex'
import { api } from './api.js'
import { auth } from './auth.js'
import { migrate } from './migrations.js'
import { procedures } from './procedures.js'

const knex = knexFactory({ client: 'pg', connection: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test' })
await migrate(knex)
const executor = createExecutor({ knex, api, auth, procedures })
const server = await serve(executor, { port: Number(process.env.PORT ?? 3000), onShutdown: () => knex.destroy() })
console.log(`async-orm executor on ${server.url}`)
