/**
 * AWS Lambda adapter: API Gateway (v1 and v2), function URLs and ALB events become a
 * `Request`, the executor's `Response` a Lambda result (base64 bodies and cookies
 * included). The conversion is hono's `aws-lambda` adapter; this file only binds it.
 */
import { Hono } from 'hono'
import { handle } from 'hono/aws-lambda'

type FetchHandler = (request: Request) => Promise<Response>

/**
 * @example
 * // handler.ts
 * export const handler = toLambdaHandler(executor)
 */
export function toLambdaHandler(handler: FetchHandler) {
  const app = new Hono()
  app.all('*', (c) => handler(c.req.raw))
  return handle(app)
}
