/**
 * AWS Lambda adapter: API Gateway (v1 and v2), function URLs and ALB events become a
 * `Request`, the executor's `Response` a Lambda result (base64 bodies and cookies
 * included). The conversion is hono's `aws-lambda` adapter; this file binds it, and
 * bounds what it buffers.
 */
import { Hono } from 'hono'
import { handle } from 'hono/aws-lambda'
import { ERROR_STATUS } from '../../shared/error-codes.js'
import { encode } from '../../shared/wire.js'
import { DEFAULT_LIMITS } from '../limits.js'

type FetchHandler = ((request: Request) => Promise<Response>) & { readonly limits?: { readonly maxResponseBytes: number } }

/**
 * @example
 * // handler.ts
 * export const handler = toLambdaHandler(executor)
 */
export function toLambdaHandler(handler: FetchHandler) {
  const max = handler.limits?.maxResponseBytes ?? DEFAULT_LIMITS.maxResponseBytes
  const app = new Hono()
  app.all('*', async (c) => whole(await handler(c.req.raw), max))
  return handle(app)
}

/**
 * A Lambda result is one body, so a stream's answer (`qs.stream()`) is read whole here. It
 * may take `maxResponseBytes` in all, as any other answer: past that the stream is
 * cancelled (the executor lets go of its connection) and the answer is `LIMIT_EXCEEDED`.
 */
async function whole(response: Response, max: number): Promise<Response> {
  if (!response.body || !/^application\/x-ndjson/.test(response.headers.get('content-type') ?? '')) return response
  const reader = response.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
    size += chunk.value.byteLength
    if (size > max) {
      await reader.cancel()
      const headers = new Headers(response.headers)
      headers.set('content-type', 'application/json; charset=utf-8')
      const message = `the stream's answer is larger than ${max} bytes (maxResponseBytes), which is all a Lambda answer holds here; give the query a limit`
      return new Response(encode({ error: { code: 'LIMIT_EXCEEDED', message } }), { status: ERROR_STATUS.LIMIT_EXCEEDED, headers })
    }
    chunks.push(chunk.value)
  }
  const body = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    body.set(chunk, offset)
    offset += chunk.byteLength
  }
  return new Response(body, { status: response.status, headers: response.headers })
}
