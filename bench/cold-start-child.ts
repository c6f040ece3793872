/**
 * One cold start, measured from process start to the first answered point read:
 * `executor` (async-orm with the demo API), `lambda` (the same behind the Lambda adapter,
 * invoked with an API Gateway v2 event) or `floor` (knex and the same SQL). Prints
 * milliseconds. Needs DATABASE_URL with the demo schema in `search_path`. Run from its
 * TypeScript source (tsx) or bundled (`npm run build:executor -- bench/cold-start-child.ts`).
 */
import { performance } from 'node:perf_hooks'

const mode = process.argv[2]
const url = process.env.DATABASE_URL!
const searchPath = process.argv[3]!

const { default: knexFactory } = await import('knex')
const knex = knexFactory({ client: 'pg', connection: url, searchPath: [searchPath], pool: { min: 0, max: 2 } })
const body = (encode: (body: never) => string) => encode({ v: 1, queries: [{ model: 'Author', op: 'first', where: { kind: 'id', ids: [42n] } }] } as never)
if (mode === 'executor') {
  const { createExecutor } = await import('../executor/index.js')
  const { api } = await import('../examples/demo/api.js')
  const { encodeRequest } = await import('../shared/wire.js')
  const executor = createExecutor({ knex, api })
  const response = await executor(new Request('http://cold.local/orm', { method: 'POST', headers: { 'content-type': 'application/json' }, body: body(encodeRequest) }))
  await response.text()
} else if (mode === 'lambda') {
  const { createExecutor } = await import('../executor/index.js')
  const { toLambdaHandler } = await import('../executor/adapters/lambda.js')
  const { api } = await import('../examples/demo/api.js')
  const { encodeRequest } = await import('../shared/wire.js')
  const handler = toLambdaHandler(createExecutor({ knex, api }))
  const http = { method: 'POST', path: '/orm', protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'cold' }
  const event = { version: '2.0', routeKey: '$default', rawPath: '/orm', rawQueryString: '', headers: { 'content-type': 'application/json', host: 'cold.local' }, requestContext: { http, domainName: 'cold.local', stage: '$default', requestId: 'cold', routeKey: '$default', accountId: '0', apiId: 'cold', domainPrefix: 'cold', time: '', timeEpoch: 0 }, body: body(encodeRequest), isBase64Encoded: false }
  const result = (await handler(event as never)) as { statusCode: number }
  if (result.statusCode !== 200) throw new Error(`the Lambda handler answered ${result.statusCode}`)
} else {
  JSON.stringify(await knex('authors').where('id', 42).first())
}
console.log(performance.now().toFixed(1))
await knex.destroy()
