/**
 * HTTP hardening and the executor's safety valves: origins, tokens, timeouts, a full
 * pool, and what unexpected errors reveal.
 */
import knexFactory from 'knex'
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, UnsecuredJWT } from 'jose'
import * as v from 'valibot'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { api, procedures } from '../../examples/demo/api.js'
import { createExecutor, jwtAuth, procedure, type Executor } from '../../executor/index.js'
import { decode, encode } from '../../shared/wire.js'
import { openDemo, testAuth, tokenFor, TEST_SECRET, type Demo } from '../support/demo.js'

const READ = encode({ v: 1, queries: [{ model: 'Tag', op: 'count' }] })
const WRITE = encode({ v: 1, queries: [{ model: 'Tag', op: 'insert', rows: [{ name: 'sec' }], returning: 'first' }] })

describe('HTTP hardening (PostgreSQL)', () => {
  let demo: Demo
  let executor: Executor
  const logged: unknown[] = []

  beforeAll(async () => {
    demo = await openDemo('postgres')
    executor = createExecutor({
      knex: demo.knex,
      api,
      auth: testAuth,
      cors: { origins: ['https://app.example.com'], credentials: true },
      limits: { statementTimeoutMs: 300 },
      logger: { error: (_message, details) => logged.push(details) },
      procedures: {
        ...procedures,
        slow: procedure({ allow: true, args: v.object({}), run: async ({ trx }) => (await trx.raw('select pg_sleep(3)'), 'done') }),
        broken: procedure({
          allow: true,
          args: v.object({}),
          run: async ({ trx }) => trx.raw('select * from secret_table_with_password where token = ?', ['hunter2']),
        }),
      },
    })
    await executor.ready()
  })
  afterAll(() => demo?.close())
  beforeEach(() => {
    demo.sql.length = 0
  })

  const post = (body: string, headers: Record<string, string> = {}, method = 'POST') =>
    executor(new Request('http://orm.example.com/orm', { method, headers: { 'content-type': 'application/json', ...headers }, ...(method === 'POST' && { body }) }))

  it('refuses requests from origins not on the list before reading them, in a way the page can read', async () => {
    const response = await post(READ, { origin: 'https://evil.example' })
    expect(response.status).toBe(403)
    // The refusal (and nothing else) is readable from that origin: FORBIDDEN and why, not a network error.
    expect(response.headers.get('access-control-allow-origin')).toBe('https://evil.example')
    expect(response.headers.get('access-control-allow-credentials')).toBeNull()
    expect(decode(await response.text())).toEqual({
      error: { code: 'FORBIDDEN', message: 'requests from origin https://evil.example are not allowed: list it in createExecutor({ cors: { origins } })' },
    })
    expect(demo.sql).toEqual([])
  })

  it('answers listed origins with CORS headers, and same-origin requests without', async () => {
    const cross = await post(READ, { origin: 'https://app.example.com' })
    expect(cross.status).toBe(200)
    expect(cross.headers.get('access-control-allow-origin')).toBe('https://app.example.com')
    expect(cross.headers.get('access-control-allow-credentials')).toBe('true')
    expect(cross.headers.get('vary')).toContain('Origin')
    // Pages read a replayed write, and the WAL position of a write (read replicas).
    expect(cross.headers.get('access-control-expose-headers')).toBe('idempotent-replayed, async-orm-lsn')
    const same = await post(READ, { origin: 'http://orm.example.com' })
    expect(same.status).toBe(200)
    expect(same.headers.get('access-control-allow-origin')).toBeNull()
  })

  it('answers preflights, so that the request itself gets its answer: the listed origin’s runs, any other is refused', async () => {
    const ok = await post('', { origin: 'https://app.example.com', 'access-control-request-method': 'POST' }, 'OPTIONS')
    expect(ok.status).toBe(204)
    expect(ok.headers.get('access-control-allow-methods')).toBe('POST')
    expect(ok.headers.get('access-control-allow-headers')).toBe('content-type, authorization, idempotency-key, idempotency-retry, async-orm-lsn')
    const evil = await post('', { origin: 'https://evil.example', 'access-control-request-method': 'POST' }, 'OPTIONS')
    expect(evil.status).toBe(204)
    expect(evil.headers.get('access-control-max-age')).toBe('0')
    expect((await post(READ, { origin: 'https://evil.example' })).status).toBe(403)
    expect(demo.sql).toEqual([])
  })

  it('refuses bad tokens with 401 before touching the database', async () => {
    const alg = { alg: 'HS256' }
    const tokens = {
      'a wrong secret': await tokenFor(1n, { secret: 'another secret, also at least 32 bytes' }),
      'an expired token': await new SignJWT({}).setProtectedHeader(alg).setSubject('1').setAudience('async-orm-tests').setExpirationTime(Math.floor(Date.now() / 1000) - 60).sign(new TextEncoder().encode(TEST_SECRET)),
      'a token not valid yet': await new SignJWT({}).setProtectedHeader(alg).setSubject('1').setAudience('async-orm-tests').setNotBefore(Math.floor(Date.now() / 1000) + 3600).setExpirationTime('2h').sign(new TextEncoder().encode(TEST_SECRET)),
      'a token without exp': await new SignJWT({}).setProtectedHeader(alg).setSubject('1').setAudience('async-orm-tests').sign(new TextEncoder().encode(TEST_SECRET)),
      'another audience': await tokenFor(1n, { audience: 'someone-else' }),
      'an unsigned token (alg none)': new UnsecuredJWT({ sub: '1', aud: 'async-orm-tests' }).encode(),
      'a token for another algorithm': await new SignJWT({}).setProtectedHeader({ alg: 'HS512' }).setSubject('1').setAudience('async-orm-tests').setExpirationTime('5m').sign(new TextEncoder().encode(TEST_SECRET)),
      'garbage': 'not.a.token',
    }
    for (const [name, token] of Object.entries(tokens)) {
      const response = await post(READ, { authorization: `Bearer ${token}` })
      expect(response.status, name).toBe(401)
    }
    expect((await post(READ, { authorization: 'Basic dXNlcjpwYXNz' })).status).toBe(401)
    expect(demo.sql).toEqual([])
  })

  it('verifies tokens against a key set (jwks) with pinned algorithms', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256')
    const jwks = createLocalJWKSet({ keys: [{ ...(await exportJWK(publicKey)), alg: 'ES256', kid: 'k1' }] })
    const auth = jwtAuth({ jwks, algorithms: ['ES256'], issuer: 'https://issuer.example', audience: 'orm' })
    const sign = (claims: { iss?: string; aud?: string }) =>
      new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setSubject('7').setIssuer(claims.iss ?? 'https://issuer.example').setAudience(claims.aud ?? 'orm').setExpirationTime('5m').sign(privateKey)
    const request = (token: string) => new Request('http://x/', { headers: { authorization: `Bearer ${token}` } })
    await expect(auth(request(await sign({})))).resolves.toMatchObject({ sub: '7' })
    await expect(auth(request(await sign({ iss: 'https://evil.example' })))).rejects.toMatchObject({ code: 'UNAUTHENTICATED' })
    await expect(auth(request(await sign({ aud: 'other' })))).rejects.toMatchObject({ code: 'UNAUTHENTICATED' })
    await expect(auth(request(await tokenFor(7n)))).rejects.toMatchObject({ code: 'UNAUTHENTICATED' })
    expect(() => jwtAuth({ secret: 'x'.repeat(32), algorithms: ['none'] })).toThrow(TypeError)
    expect(await auth(new Request('http://x/'))).toBeNull()
  })

  it('treats a request without a token as anonymous: reads as allowed, writes refused', async () => {
    expect((await post(READ)).status).toBe(200)
    const write = decode<{ results: unknown[] }>(await (await post(WRITE)).text())
    expect(write.results[0]).toEqual({ error: { code: 'FORBIDDEN', message: 'inserting Tag is not allowed' } })
  })

  it('cancels a statement past statement_timeout on the server, answering TIMEOUT', async () => {
    const response = await post(encode({ v: 1, queries: [{ op: 'call', procedure: 'slow', args: {} }] }))
    const body = decode<{ results: { error?: { code: string } }[] }>(await response.text())
    expect(body.results[0]!.error?.code).toBe('TIMEOUT')
    const running = await demo.knex.raw("select count(*)::int as n from pg_stat_activity where query like '%pg_sleep(3)%' and state = 'active' and pid <> pg_backend_pid()")
    expect(running.rows[0].n).toBe(0)
  })

  it('answers INTERNAL with a request id and keeps the details in the server log', async () => {
    const response = await post(encode({ v: 1, queries: [{ op: 'call', procedure: 'broken', args: {} }] }))
    const text = await response.text()
    const body = decode<{ results: { error: { code: string; message: string; requestId: string } }[] }>(text)
    expect(body.results[0]!.error).toMatchObject({ code: 'INTERNAL', message: 'internal error', requestId: expect.stringMatching(/^[0-9a-f-]{36}$/) })
    expect(text).not.toMatch(/secret_table|hunter2|select|stack|\.ts:/i)
    expect(JSON.stringify(logged.at(-1), (_k, val) => (val instanceof Error ? val.message : val))).toContain('secret_table_with_password')
  })

  it('answers UNAVAILABLE when no pooled connection frees up in time, instead of hanging', async () => {
    const { connection, searchPath } = demo.knex.client.config as { connection: string; searchPath: string[] }
    const tiny = knexFactory({ client: 'pg', connection, searchPath, pool: { min: 0, max: 1 } })
    const held = await (tiny.client as unknown as { acquireConnection(): Promise<unknown> }).acquireConnection()
    try {
      const starved = createExecutor({ knex: tiny, api, limits: { acquireTimeoutMs: 200 }, logger: { error() {} } })
      // Compiling the API needs the pool too: give it the connection back for that.
      await (tiny.client as unknown as { releaseConnection(c: unknown): Promise<void> }).releaseConnection(held)
      await starved.ready()
      const again = await (tiny.client as unknown as { acquireConnection(): Promise<unknown> }).acquireConnection()
      const response = await starved(new Request('http://x/orm', { method: 'POST', headers: { 'content-type': 'application/json' }, body: READ }))
      expect(response.status).toBe(503)
      expect(decode(await response.text())).toEqual({ error: { code: 'UNAVAILABLE', message: 'no database connection became free in time' } })
      await (tiny.client as unknown as { releaseConnection(c: unknown): Promise<void> }).releaseConnection(again)
    } finally {
      await tiny.destroy()
    }
  })
})
