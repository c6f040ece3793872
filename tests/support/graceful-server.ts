/**
 * A standalone executor process for the shutdown and slow-client tests: prints its URL,
 * then `started <procedure>` as each slow call begins; drains on SIGTERM. Argument: the
 * schema; `SERVE_OPTIONS` (JSON) adds to the `serve()` options, `EXECUTOR_OPTIONS` (JSON) to
 * `createExecutor`'s.
 */
import knexFactory from 'knex'
import * as v from 'valibot'
import { api } from '../../examples/demo/api.js'
import { createExecutor, procedure } from '../../executor/index.js'
import { serve, type ServeOptions } from '../../executor/adapters/node.js'

const started = (name: string) => console.log(`started ${name}`)
const knex = knexFactory({ client: 'pg', connection: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test', searchPath: [process.argv[2]!], pool: { min: 0, max: 2 } })
const executor = createExecutor({
  ...(JSON.parse(process.env.EXECUTOR_OPTIONS ?? '{}') as object),
  knex,
  api,
  procedures: {
    fast: procedure({ allow: true, args: v.object({}), run: () => 'fast' }),
    slow: procedure({
      allow: true,
      args: v.object({}),
      run: async ({ trx }) => (started('slow'), await trx.raw('select pg_sleep(0.8)'), 'finished'),
    }),
    /** Sleeps, then leaves a tag behind: proof that the call ran to its end. */
    slowTag: procedure({
      allow: true,
      args: v.object({ name: v.string() }),
      run: async ({ trx, args }) => {
        started('slowTag')
        await trx.raw('select pg_sleep(0.5)')
        await trx('tags').insert({ name: args.name })
        return 'finished'
      },
    }),
    /** Never finishes (and holds no database work, so nothing lingers on the server). */
    stuck: procedure({ allow: true, args: v.object({}), run: () => (started('stuck'), new Promise<never>(() => undefined)) }),
  },
})
const extra = JSON.parse(process.env.SERVE_OPTIONS ?? '{}') as ServeOptions
// `STUCK_ON_SHUTDOWN=1`: an onShutdown that never finishes.
const onShutdown = process.env.STUCK_ON_SHUTDOWN ? () => new Promise<never>(() => undefined) : () => knex.destroy()
const server = await serve(executor, { port: 0, shutdownOn: ['SIGTERM'], onShutdown, ...extra })
console.log(server.url)
