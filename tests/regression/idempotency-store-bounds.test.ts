/**
 * Issue 12, finding 7: the idempotency store saved whole answers, reads included, and
 * never expired them: three 6.5 KB requests grew it by 131 MB. It now keeps only what a
 * request's writes answered (its reads run again on a replay), refuses to keep a write
 * answer above `maxAnswerBytes` (nothing is applied then), and expires entries after
 * `ttlSeconds`, sweeping them from the table.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, procedures } from '../../examples/demo/api.js'
import { createExecutor, type Executor } from '../../executor/index.js'
import { decode, encode, type ResponseBody } from '../../shared/wire.js'
import { DATABASE_KINDS } from '../support/databases.js'
import { openDemo, testAuth, tokenFor, type Demo } from '../support/demo.js'

describe.each(DATABASE_KINDS)('the idempotency store’s bounds on %s', (kind) => {
  let demo: Demo
  let executor: Executor
  let token: string
  beforeAll(async () => {
    demo = await openDemo(kind)
    executor = createExecutor({ knex: demo.knex, api, procedures, auth: testAuth, logger: { error() {} }, idempotency: { ttlSeconds: 60, maxAnswerBytes: 4096 } })
    await executor.ready()
    token = await tokenFor(1n)
  })
  afterAll(() => demo?.close())

  const send = async (queries: unknown[], key: string) => {
    const response = await executor(
      new Request('http://test.local/orm', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'idempotency-key': key },
        body: encode({ v: 1, queries }),
      }),
    )
    const text = await response.text()
    return { status: response.status, replayed: response.headers.get('idempotent-replayed'), text, body: decode<ResponseBody>(text) }
  }
  const stored = async (key: string) => (await demo.knex('async_orm_idempotency').where({ key }).first()) as { response: string; created_at: Date } | undefined
  const insertTag = (name: string) => ({ model: 'Tag', op: 'insert', rows: [{ name }], returning: 'first' })
  const bigRead = { model: 'Post', op: 'select', limit: 200 }

  it('keeps what the writes answered, not the reads, and runs the reads again on a replay', async () => {
    const key = `reads-${kind}`
    const first = await send([insertTag(`kept-${kind}`), bigRead, { model: 'Tag', op: 'count' }], key)
    expect(first.status).toBe(200)
    expect(first.text.length).toBeGreaterThan(20_000)
    const entry = await stored(key)
    expect(entry!.response.length).toBeLessThan(500)
    await demo.knex('tags').insert({ name: `added-${kind}` })
    const replay = await send([insertTag(`kept-${kind}`), bigRead, { model: 'Tag', op: 'count' }], key)
    expect(replay.replayed).toBe('true')
    expect(replay.body.results[0]).toEqual(first.body.results[0])
    expect(replay.body.results[1]).toEqual(first.body.results[1])
    // The count ran again: it sees the tag added since.
    expect((replay.body.results[2] as { data: number }).data).toBe((first.body.results[2] as { data: number }).data + 1)
    expect(Number(((await demo.knex('tags').where({ name: `kept-${kind}` }).count({ n: '*' })) as [{ n: string }])[0].n)).toBe(1)
  })

  it('refuses, and applies nothing of, a write whose answer is larger than the store keeps', async () => {
    const names = Array.from({ length: 60 }, (_, i) => ({ name: `bulk-${kind}-${i}-${'x'.repeat(40)}` }))
    const { status, body } = await send([{ model: 'Tag', op: 'insert', rows: names, returning: 'rows' }], `big-${kind}`)
    expect(status).toBe(422)
    expect(body).toMatchObject({ error: { code: 'LIMIT_EXCEEDED', message: expect.stringContaining('4096 bytes') } })
    expect(Number(((await demo.knex('tags').where('name', 'like', `bulk-${kind}-%`).count({ n: '*' })) as [{ n: string }])[0].n)).toBe(0)
    expect(await stored(`big-${kind}`)).toBeUndefined()
  })

  it('expires entries after ttlSeconds: the key is free again, and the sweep deletes them', async () => {
    const key = `ttl-${kind}`
    await send([insertTag(`ttl-a-${kind}`)], key)
    await demo.knex('async_orm_idempotency').where({ key }).update({ created_at: demo.knex.raw(`now() - interval '61 seconds'`) })
    const again = await send([insertTag(`ttl-a-${kind}`)], key)
    expect(again.replayed).toBeNull()
    expect(again.body.results[0]).toMatchObject({ error: { code: 'CONFLICT' } })
    // A later write request sweeps what has expired (at most once a minute per executor).
    await demo.knex('async_orm_idempotency').update({ created_at: demo.knex.raw(`now() - interval '2 minutes'`) })
    const sweeper = createExecutor({ knex: demo.knex, api, procedures, auth: testAuth, logger: { error() {} }, idempotency: { ttlSeconds: 60 } })
    await sweeper(new Request('http://test.local/orm', { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'idempotency-key': `sweep-${kind}` }, body: encode({ v: 1, queries: [insertTag(`sweep-${kind}`)] }) }))
    for (let i = 0; i < 50 && Number(((await demo.knex('async_orm_idempotency').count({ n: '*' })) as [{ n: string }])[0].n) > 1; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    expect(await demo.knex('async_orm_idempotency').pluck('key')).toEqual([`sweep-${kind}`])
  })

  it('keeps anonymous callers’ entries apart from every signed-in caller’s', async () => {
    const key = `scope-${kind}`
    await send([insertTag(`scope-${kind}`)], key)
    const anonymous = await executor(
      new Request('http://test.local/orm', { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': key }, body: encode({ v: 1, queries: [insertTag(`scope-${kind}`)] }) }),
    )
    expect(anonymous.headers.get('idempotent-replayed')).toBeNull()
    expect(decode(await anonymous.text())).toMatchObject({ results: [{ error: { code: 'FORBIDDEN' } }] })
  })
})
