/**
 * The Lambda adapter with realistic API Gateway v2 and function URL events (base64
 * bodies, cookies) against the executor on PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { APIGatewayProxyResult, LambdaEvent } from 'hono/aws-lambda'
import { toLambdaHandler } from '../../executor/adapters/lambda.js'
import { decode, encodeRequest } from '../../shared/wire.js'
import { openDemo, tokenFor, type Demo } from '../support/demo.js'

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
