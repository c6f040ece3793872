/**
 * The idempotency store: a write request carrying an Idempotency-Key is applied once,
 * however often it is retried, on PostgreSQL and PGlite.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient } from '../../client/index.js'
import { api, procedures, type DemoApi } from '../../examples/demo/api.js'
import { createExecutor, type Executor } from '../../executor/index.js'
import { decode, encode } from '../../shared/wire.js'
import { DATABASE_KINDS } from '../support/databases.js'
import { openDemo, testAuth, tokenFor, type Demo } from '../support/demo.js'

describe.each([...DATABASE_KINDS, 'pgbouncer'] as const)('idempotent writes on %s', (kind) => {
  let demo: Demo
  let executor: Executor
  let token: string

  beforeAll(async () => {
    demo = await openDemo(kind)
    executor = createExecutor({ knex: demo.knex, api, procedures, auth: testAuth, idempotency: true, logger: { error() {} } })
    await executor.ready()
    token = await tokenFor(1n)
  })
  afterAll(() => demo?.close())

  const tags = async (name: string) => Number(((await demo.knex('tags').where({ name }).count({ n: '*' })) as [{ n: string }])[0].n)
  const send = (body: unknown, key: string) =>
    executor(
      new Request('http://test.local/orm', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'idempotency-key': key },
        body: encode(body),
      }),
    )
  const insertTag = (name: string) => ({ v: 1, queries: [{ model: 'Tag', op: 'insert', rows: [{ name }], returning: 'first' }] })

  it('applies a request once and replays its answer to a retry', async () => {
    const name = `once-${kind}`
    const first = await send(insertTag(name), `key-a-${kind}`)
    const second = await send(insertTag(name), `key-a-${kind}`)
    expect(first.status).toBe(200)
    expect(second.status).toBe(200)
    expect(second.headers.get('idempotent-replayed')).toBe('true')
    expect(await second.text()).toBe(await first.text())
    expect(await tags(name)).toBe(1)
  })

  it('refuses a key reused for a different request', async () => {
    await send(insertTag(`reuse-${kind}-1`), `key-b-${kind}`)
    const reused = await send(insertTag(`reuse-${kind}-2`), `key-b-${kind}`)
    expect(reused.status).toBe(409)
    expect(decode(await reused.text())).toEqual({ error: { code: 'CONFLICT', message: 'this Idempotency-Key was used for a different request' } })
    expect(await tags(`reuse-${kind}-2`)).toBe(0)
  })

  it('applies concurrent duplicates once', async () => {
    const name = `race-${kind}`
    const answers = await Promise.all([1, 2, 3].map(() => send(insertTag(name), `key-c-${kind}`)))
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200])
    expect(new Set(await Promise.all(answers.map((a) => a.text()))).size).toBe(1)
    expect(await tags(name)).toBe(1)
  })

  it('refuses malformed keys before any SQL', async () => {
    const response = await send(insertTag('x'), 'bad key with spaces')
    expect(response.status).toBe(400)
  })

  it('makes the client’s retry after a lost response safe', async () => {
    let calls = 0
    const db = createClient<DemoApi>({
      url: 'http://test.local/orm',
      retryDelay: 1,
      headers: { authorization: `Bearer ${token}` },
      fetch: async (input, init) => {
        const response = await executor(new Request(input as string, init))
        // The first answer is lost on the way back, after the executor committed.
        if (++calls === 1) throw new TypeError('fetch failed')
        return response
      },
    })
    const tag = await db.Tag.query().insert({ name: `lost-${kind}` })
    expect(calls).toBe(2)
    expect(tag.name).toBe(`lost-${kind}`)
    expect(await tags(`lost-${kind}`)).toBe(1)
  })
})
