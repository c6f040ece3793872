/**
 * Issue 12, finding 13: the body was parsed before authentication: ten 1 MB nested bodies
 * with a bad token cost 1.2 s of CPU and got 422, not 401. Who is calling is settled
 * from the raw body (bounded in bytes) before any of it is parsed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api } from '../../examples/demo/api.js'
import { createExecutor, ExecutorError, jwtAuth, proxyAuth } from '../../executor/index.js'
import { decode } from '../../shared/wire.js'
import { openDemo, TEST_SECRET, type Demo } from '../support/demo.js'

describe('authentication before parsing (PGlite)', () => {
  let demo: Demo
  beforeAll(async () => {
    demo = await openDemo('pglite')
  })
  afterAll(() => demo?.close())

  // Just under 1 MiB of nesting: parsing it is the expensive part, and over the AST limits.
  const nested = `{"json":{"v":1,"queries":[${'['.repeat(200_000)}${']'.repeat(200_000)}]}}`
  const post = (executor: ReturnType<typeof createExecutor>, body: string, headers: Record<string, string>) =>
    executor(new Request('http://test.local/orm', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body }))

  it('answers a bad bearer token with 401 whatever the body holds', async () => {
    const executor = createExecutor({ knex: demo.knex, api, auth: jwtAuth({ secret: TEST_SECRET, algorithms: ['HS256'] }) })
    for (const body of [nested, 'not json at all', '{"json":{"v":99}}']) {
      const response = await post(executor, body, { authorization: 'Bearer a.b.c' })
      expect(response.status).toBe(401)
      expect(decode(await response.text())).toMatchObject({ error: { code: 'UNAUTHENTICATED' } })
    }
  })

  it('answers a request the proxy did not sign with 401, and a refusing auth with its own code', async () => {
    const proxied = createExecutor({ knex: demo.knex, api, auth: proxyAuth({ secret: 'a hop secret shared by proxy and executor, 32+ chars' }) })
    expect((await post(proxied, nested, {})).status).toBe(401)
    const custom = createExecutor({
      knex: demo.knex,
      api,
      auth: () => {
        throw new ExecutorError('FORBIDDEN', 'closed for maintenance')
      },
    })
    expect((await post(custom, nested, {})).status).toBe(403)
  })

  it('still parses and refuses the body of a caller who is who they say', async () => {
    const open = createExecutor({ knex: demo.knex, api })
    const response = await post(open, nested, {})
    expect(response.status).toBe(422)
  })

  it('still refuses an oversized body before authenticating (it is not read past the limit)', async () => {
    let called = 0
    const executor = createExecutor({ knex: demo.knex, api, limits: { maxBodyBytes: 1000 }, auth: () => (called++, null) })
    const response = await post(executor, 'x'.repeat(5000), {})
    expect(response.status).toBe(413)
    expect(called).toBe(0)
  })
})
