/**
 * An executor process over a primary and one read replica (`PRIMARY_URL`, `REPLICA_URL`),
 * with the idempotency store, the demo API and the tests' JWT auth: several run side by
 * side behind one client in `many-executors.test.ts`. Prints its URL; stops on SIGTERM.
 */
import knexFactory from 'knex'
import { api, procedures } from '../../examples/demo/api.js'
import { BaseModel } from '../../examples/demo/models.js'
import { createExecutor } from '../../executor/index.js'
import { serve } from '../../executor/adapters/node.js'
import { testAuth } from './demo.js'

BaseModel.mapsColumns = true
const knex = knexFactory({ client: 'pg', connection: process.env.PRIMARY_URL, pool: { min: 0, max: 4 } })
const replica = knexFactory({ client: 'pg', connection: process.env.REPLICA_URL, pool: { min: 0, max: 4 } })
const executor = createExecutor({
  knex,
  replicas: [replica],
  replication: { maxLagMs: 600_000, checkEveryMs: 20 },
  idempotency: true,
  api,
  procedures,
  auth: testAuth,
})
await executor.ready()
const server = await serve(executor, { port: 0, shutdownOn: ['SIGTERM'], onShutdown: () => Promise.all([knex.destroy(), replica.destroy()]).then(() => undefined) })
console.log(server.url)
