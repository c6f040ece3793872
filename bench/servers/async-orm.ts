/**
 * async-orm: the executor with the demo API over the Node adapter. `connection` takes
 * statement_timeout from the pool (the recommended setup); `set-local` sets it per request.
 * `maxLimit` admits the 10,000-row workload. With `REPLICA_URL`, reads go to that replica.
 */
import knexFactory from 'knex'
import { api } from '../../examples/demo/api.js'
import { createExecutor } from '../../executor/index.js'
import { serve } from '../../executor/adapters/node.js'
import { AUTHOR_HEADER } from '../workloads.js'

const connectionMode = process.argv[2] === 'connection'
const pooled = (url: string | undefined) =>
  knexFactory({
    client: 'pg',
    connection: { connectionString: url, ...(connectionMode && { statement_timeout: 5000 }) },
    searchPath: [process.env.BENCH_SCHEMA!],
    pool: { min: 1, max: 8 },
  })
const knex = pooled(process.env.DATABASE_URL)
// `REPLICA_URL`: a streaming replica of DATABASE_URL's server, for the reads.
const replicas = process.env.REPLICA_URL ? [pooled(process.env.REPLICA_URL)] : []
const executor = createExecutor({
  knex,
  replicas,
  api,
  // Writes sign in as the author a header names (reads stay anonymous).
  auth: (request) => {
    const author = request.headers.get(AUTHOR_HEADER)
    return author ? { authorId: BigInt(author) } : null
  },
  limits: { maxLimit: 10_000 },
  ...(connectionMode && { statementTimeout: 'connection' as const }),
})
const server = await serve(executor, { port: 0, shutdownOn: ['SIGTERM', 'SIGINT'], onShutdown: async () => void (await Promise.all([knex, ...replicas].map((k) => k.destroy()))) })
console.log(server.url)
