/**
 * Issue 12, finding 15: with both sides on their defaults (no idempotency store, writes
 * retried), an answer lost after the commit made every insert apply twice; when every
 * answer was lost, three times. A retry of a write whose earlier attempt got no answer
 * says so, and an executor that cannot tell whether it was applied refuses it: a write
 * is applied once, whatever is lost, and the caller learns the outcome is in doubt.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient } from '../../client/index.js'
import { api, procedures, type DemoApi } from '../../examples/demo/api.js'
import { createExecutor, type Executor } from '../../executor/index.js'
import { DATABASE_KINDS } from '../support/databases.js'
import { openDemo, testAuth, tokenFor, type Demo } from '../support/demo.js'

describe.each(DATABASE_KINDS)('lost answers on %s', (kind) => {
  let demo: Demo
  let token: string
  beforeAll(async () => {
    demo = await openDemo(kind)
    token = await tokenFor(1n)
  })
  afterAll(() => demo?.close())

  const tags = async (name: string) => Number(((await demo.knex('tags').where({ name }).count({ n: '*' })) as [{ n: string }])[0].n)

  /** A client whose fetch loses the answers of the attempts listed (counting from 1). */
  function lossyClient(executor: Executor, lost: (attempt: number) => boolean) {
    let attempts = 0
    const seen: Headers[] = []
    const db = createClient<DemoApi>({
      url: 'http://test.local/orm',
      retryDelay: 1,
      headers: { authorization: `Bearer ${token}` },
      fetch: async (input, init) => {
        const request = new Request(input as string, init)
        seen.push(request.headers)
        const response = await executor(request)
        if (lost(++attempts)) throw new TypeError('fetch failed')
        return response
      },
    })
    return { db, seen, attempts: () => attempts }
  }

  it('applies a write once when its answer is lost, with the defaults on both sides', async () => {
    const executor = createExecutor({ knex: demo.knex, api, procedures, auth: testAuth, logger: { error() {} } })
    const { db, seen } = lossyClient(executor, (attempt) => attempt === 1)
    const name = `lost-once-${kind}`
    await expect(db.Tag.query().insert({ name })).rejects.toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('may have been applied already') })
    expect(await tags(name)).toBe(1)
    expect(seen.map((headers) => headers.get('idempotency-retry'))).toEqual([null, '1'])
    expect(new Set(seen.map((headers) => headers.get('idempotency-key'))).size).toBe(1)
  })

  it('applies a write once when every answer is lost', async () => {
    const executor = createExecutor({ knex: demo.knex, api, procedures, auth: testAuth, logger: { error() {} } })
    const { db, attempts } = lossyClient(executor, () => true)
    const name = `lost-always-${kind}`
    await expect(db.Tag.query().insert({ name })).rejects.toMatchObject({ code: 'NETWORK_ERROR' })
    expect(attempts()).toBe(3)
    expect(await tags(name)).toBe(1)
  })

  it('applies a transaction and a procedure call once too', async () => {
    const executor = createExecutor({ knex: demo.knex, api, procedures, auth: testAuth, logger: { error() {} } })
    const { db } = lossyClient(executor, (attempt) => attempt === 1)
    const name = `lost-trx-${kind}`
    await expect(db.transaction((t) => [t.Tag.query().insert({ name }), t.Tag.query().insert({ name: `${name}-2` })])).rejects.toMatchObject({ code: 'CONFLICT' })
    expect(await tags(name)).toBe(1)
    expect(await tags(`${name}-2`)).toBe(1)
  })

  it('retries to success with the idempotency store, still applying once', async () => {
    const executor = createExecutor({ knex: demo.knex, api, procedures, auth: testAuth, idempotency: true, logger: { error() {} } })
    const { db } = lossyClient(executor, (attempt) => attempt <= 2)
    const name = `lost-store-${kind}`
    const tag = await db.Tag.query().insert({ name })
    expect(tag).toMatchObject({ name })
    expect(await tags(name)).toBe(1)
  })

  it('still retries reads freely, and writes refused before anything ran', async () => {
    const executor = createExecutor({ knex: demo.knex, api, procedures, auth: testAuth, logger: { error() {} } })
    const { db } = lossyClient(executor, (attempt) => attempt === 1)
    expect(await db.Tag.query().count()).toBeGreaterThan(0)
    let calls = 0
    const busy = createClient<DemoApi>({
      url: 'http://test.local/orm',
      retryDelay: 1,
      headers: { authorization: `Bearer ${token}` },
      // A 503 means nothing was applied: the write is retried as a fresh attempt.
      fetch: async (input, init) => (++calls === 1 ? Response.json({ json: { error: { code: 'UNAVAILABLE', message: 'busy' } } }, { status: 503 }) : executor(new Request(input as string, init))),
    })
    const name = `busy-${kind}`
    expect(await busy.Tag.query().insert({ name })).toMatchObject({ name })
    expect(await tags(name)).toBe(1)
  })
})
