/**
 * A Lambda handler behind API Gateway v2 (HTTP API), as a fetch function: each request
 * becomes the event AWS builds for it, the handler's result a Response. The client can
 * then call a Lambda handler as it would an executor URL.
 */
import type { APIGatewayProxyResult, LambdaEvent } from 'hono/aws-lambda'

type LambdaHandler = (event: LambdaEvent) => Promise<unknown>

export function viaApiGateway(handler: LambdaHandler) {
  return async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const result = (await handler((await apiGatewayEvent(new Request(input, init))) as unknown as LambdaEvent)) as APIGatewayProxyResult
    const body = result.isBase64Encoded ? Buffer.from(result.body, 'base64') : result.body
    return new Response(body, { status: result.statusCode, headers: result.headers as Record<string, string> })
  }
}

/** An API Gateway v2 (HTTP API) event for a request, as AWS builds it. */
export async function apiGatewayEvent(request: Request) {
  const url = new URL(request.url)
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: url.pathname,
    rawQueryString: '',
    headers: Object.fromEntries(request.headers),
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      domainName: url.host,
      domainPrefix: 'abc123',
      http: { method: request.method, path: url.pathname, protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'test' },
      requestId: crypto.randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: '01/Dec/2026:12:00:00 +0000',
      timeEpoch: Date.now(),
    },
    body: await request.text(),
    isBase64Encoded: false,
  }
}

