/**
 * The Lambda adapter with realistic API Gateway v2 and function URL events (base64
 * bodies, cookies) against the executor on PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { APIGatewayProxyResult, LambdaEvent } from 'hono/aws-lambda'
import { toLambdaHandler } from '../../executor/adapters/lambda.js'
import { decode, encodeRequest } from '../../shared/wire.js'
import { openDemo, tokenFor, type Demo } from '../support/demo.js'
import { createExecutor } from '../../executor/index.js'
import { api } from '../../examples/demo/api.js'

function apiGatewayV2Event(body: string, options: { base64?: boolean; headers?: Record<string, string>; cookies?: string[] } = {}) {
  return {
    version: '2.0',
    routeKey: 'POST /orm',
    rawPath: '/orm',
    rawQueryString: '',
    cookies: options.cookies ?? [],
    headers: { 'content-type': 'application/json', host: 'abc123.execute-api.eu-west-1.amazonaws.com', 'x-forwarded-proto': 'https', ...options.headers },
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      domainName: 'abc123.execute-api.eu-west-1.amazonaws.com',
      domainPrefix: 'abc123',
      http: { method: 'POST', path: '/orm', protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'test' },
      requestId: 'req-1',
      routeKey: 'POST /orm',
      stage: '$default',
      time: '26/Nov/2026:16:00:00 +0000',
      timeEpoch: 1_800_000_000_000,
    },
    body: options.base64 ? Buffer.from(body).toString('base64') : body,
    isBase64Encoded: options.base64 ?? false,
  }
}

describe('AWS Lambda adapter (PostgreSQL)', () => {
  let demo: Demo
  let lambda: ReturnType<typeof toLambdaHandler>
  const handler = (event: unknown) => lambda(event as LambdaEvent) as Promise<APIGatewayProxyResult>

  beforeAll(async () => {
    demo = await openDemo('postgres')
    lambda = toLambdaHandler(demo.executor)
  })
  afterAll(() => demo?.close())

  const query = encodeRequest({ v: 1, queries: [{ model: 'Tag', op: 'first', where: { kind: 'id', ids: [1] } }] })

  it('answers an API Gateway v2 event', async () => {
    const result = await handler(apiGatewayV2Event(query))
    expect(result.statusCode).toBe(200)
    expect(result.headers?.['content-type']).toContain('application/json')
    const body = result.isBase64Encoded ? Buffer.from(result.body, 'base64').toString() : result.body
    expect(decode(body)).toEqual({ results: [{ data: { id: 1, name: 'databases' } }] })
  })

  it('answers a stream whole, within maxResponseBytes, and refuses a larger one with its connection freed', async () => {
    const stream = (limit: number) => encodeRequest({ v: 1, queries: [{ model: 'Post', op: 'select', orderBy: [{ column: 'id', direction: 'asc' }], limit }], stream: true } as never)
    const text = (result: APIGatewayProxyResult) => (result.isBase64Encoded ? Buffer.from(result.body, 'base64').toString() : result.body)
    const small = await handler(apiGatewayV2Event(stream(5)))
    expect(small.statusCode).toBe(200)
    const lines = text(small).trim().split('\n').map((line) => decode<{ rows?: unknown[]; done?: boolean }>(line))
    expect(lines.map((line) => line.rows?.length ?? line.done)).toEqual([5, true])
    // 2,500 tags: each line of 1,000 (about 30 KB) fits the executor's answers, the stream as a whole does not.
    const tags = Array.from({ length: 2_500 }, (_, i) => ({ name: `tag-${String(i).padStart(5, '0')}` }))
    await demo.knex('tags').insert(tags)
    const bounded = createExecutor({ knex: demo.knex, api, logger: { error() {} }, limits: { maxResponseBytes: 40_000 } })
    const tagStream = encodeRequest({ v: 1, queries: [{ model: 'Tag', op: 'select' }], stream: true } as never)
    const refused = await (toLambdaHandler(bounded)(apiGatewayV2Event(tagStream) as unknown as LambdaEvent) as Promise<APIGatewayProxyResult>)
    await demo.knex('tags').whereIn('name', tags.map((tag) => tag.name)).delete()
    expect(refused.statusCode).toBe(422)
    expect(decode(text(refused))).toMatchObject({ error: { code: 'LIMIT_EXCEEDED', message: expect.stringContaining('maxResponseBytes') } })
    const pool = (demo.knex.client as unknown as { pool: { numUsed(): number } }).pool
    for (let i = 0; i < 50 && pool.numUsed() > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20))
    expect(pool.numUsed()).toBe(0)
  })

  it('reads base64 bodies, as function URLs send them', async () => {
    const result = await handler(apiGatewayV2Event(query, { base64: true }))
    expect(result.statusCode).toBe(200)
  })

  it('passes headers through to auth, and errors keep their status', async () => {
    const token = await tokenFor(1n)
    const insert = encodeRequest({ v: 1, queries: [{ model: 'Tag', op: 'insert', rows: [{ name: 'from-lambda' }], returning: 'first' }] })
    const ok = await handler(apiGatewayV2Event(insert, { headers: { authorization: `Bearer ${token}` }, cookies: ['session=abc'] }))
    expect(decode<{ results: unknown[] }>(ok.body).results[0]).toMatchObject({ data: { name: 'from-lambda' } })
    const bad = await handler(apiGatewayV2Event(insert, { headers: { authorization: 'Bearer nope.nope.nope' } }))
    expect(bad.statusCode).toBe(401)
    const wrongType = await handler(apiGatewayV2Event(query, { headers: { 'content-type': 'text/plain' } }))
    expect(wrongType.statusCode).toBe(400)
  })
})
