/**
 * One cold start, measured from process start to the first answered point read:
 * `executor` (async-orm with the demo API) or `floor` (knex and the same SQL).
 * Prints milliseconds. Needs DATABASE_URL with the demo schema in `search_path`.
 */
import { performance } from 'node:perf_hooks'

const mode = process.argv[2]
const url = process.env.DATABASE_URL!
const searchPath = process.argv[3]!

const { default: knexFactory } = await import('knex')
const knex = knexFactory({ client: 'pg', connection: url, searchPath: [searchPath], pool: { min: 0, max: 2 } })
if (mode === 'executor') {
  const { createExecutor } = await import('../executor/index.js')
  const { api } = await import('../examples/demo/api.js')
  const { encodeRequest } = await import('../shared/wire.js')
  const executor = createExecutor({ knex, api })
  const response = await executor(
    new Request('http://cold.local/orm', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: encodeRequest({ v: 1, queries: [{ model: 'Author', op: 'first', where: { kind: 'id', ids: [42n] } }] }),
    }),
  )
  await response.text()
} else {
  JSON.stringify(await knex('authors').where('id', 42).first())
}
console.log(performance.now().toFixed(1))
await knex.destroy()
