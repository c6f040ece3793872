/** A standalone executor process for the graceful-shutdown test: prints its URL, drains on SIGTERM. */
import knexFactory from 'knex'
import * as v from 'valibot'
import { api } from '../../examples/demo/api.js'
import { createExecutor, procedure } from '../../executor/index.js'
import { serve } from '../../executor/node-adapter.js'

const knex = knexFactory({ client: 'pg', connection: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test', searchPath: [process.argv[2]!], pool: { min: 0, max: 2 } })
const executor = createExecutor({
  knex,
  api,
  procedures: {
    slow: procedure({ allow: true, args: v.object({}), run: async ({ trx }) => (await trx.raw('select pg_sleep(0.8)'), 'finished') }),
    /** Sleeps, then leaves a tag behind: proof that the call ran to its end. */
    slowTag: procedure({
      allow: true,
      args: v.object({ name: v.string() }),
      run: async ({ trx, args }) => {
        await trx.raw('select pg_sleep(0.5)')
        await trx('tags').insert({ name: args.name })
        return 'finished'
      },
    }),
  },
})
const server = await serve(executor, { port: 0, shutdownOn: ['SIGTERM'], onShutdown: () => knex.destroy() })
console.log(server.url)
