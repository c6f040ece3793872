/**
 * Issue 12, from an independent attack on the hardened executor: a write replayed with a
 * refreshed token, an answer whose rows pass the byte budget before they are all read,
 * client input that became 500s (upserts on no unique index, json columns made distinct
 * or grouped), reserved aggregate aliases, and one bad id failing a whole coalesced group.
 */
import { SignJWT } from 'jose'
import knexFactory, { type Knex } from 'knex'
import { Model } from 'objection'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, procedures } from '../../examples/demo/api.js'
import { createExecutor, expose, jwtAuth, type Executor } from '../../executor/index.js'
import { decode, encode, type ResponseBody } from '../../shared/wire.js'
import { DATABASE_KINDS, POSTGRES_URL } from '../support/databases.js'
import { openDemo, TEST_SECRET, type Demo } from '../support/demo.js'

describe.each(DATABASE_KINDS)('attack review on %s', (kind) => {
  let demo: Demo
  const logged: unknown[] = []
  beforeAll(async () => {
    demo = await openDemo(kind, { logger: { error: (_message: string, details: unknown) => logged.push(details) } })
  })
  afterAll(() => demo?.close())

  it('treats a retry with a refreshed token as the same caller: applied once', async () => {
    // jwtAuth's default context is the whole payload, iat/exp/jti included.
    const executor = createExecutor({ knex: demo.knex, api, procedures, idempotency: true, auth: jwtAuth({ secret: TEST_SECRET, algorithms: ['HS256'], audience: 'async-orm-tests' }) })
    const token = (issuedAt: number) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject('1')
        .setAudience('async-orm-tests')
        .setIssuedAt(issuedAt)
        .setJti(`jti-${issuedAt}`)
        .setExpirationTime(issuedAt + 300)
        .sign(new TextEncoder().encode(TEST_SECRET))
    const now = Math.floor(Date.now() / 1000)
    const send = async (jwt: string, retry: boolean) =>
      executor(
        new Request('http://test.local/orm', {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${jwt}`, 'idempotency-key': `refresh-${kind}`, ...(retry && { 'idempotency-retry': '1' }) },
          body: encode({ v: 1, queries: [{ model: 'Tag', op: 'insert', rows: [{ name: `refresh-${kind}` }], returning: 'first' }] }),
        }),
      )
    await send(await token(now - 10), false)
    const retried = await send(await token(now), true)
    expect(retried.headers.get('idempotent-replayed')).toBe('true')
    expect(Number(((await demo.knex('tags').where({ name: `refresh-${kind}` }).count({ n: '*' })) as [{ n: string }])[0].n)).toBe(1)
  })

  it('answers client mistakes that PostgreSQL refuses with BAD_REQUEST, not INTERNAL', async () => {
    await demo.knex.raw('create table if not exists jsonish (id serial primary key, title text not null, doc json)')
    await demo.knex('jsonish').insert([{ title: 'a', doc: '{"a":1}' }, { title: 'b', doc: '[1,2]' }])
    logged.length = 0
    const executor = createExecutor({
      knex: demo.knex,
      api: { Jsonish: expose(Jsonish, { read: { allow: true, columns: '*' }, insert: { allow: true, columns: ['title', 'doc'] } }) },
      logger: { error: (_message: string, details: unknown) => logged.push(details) },
    })
    const response = await executor(
      new Request('http://test.local/orm', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: encode({
          v: 1,
          queries: [
            // title has no unique index.
            { model: 'Jsonish', op: 'insert', rows: [{ title: 'c', doc: {} }], returning: 'rows', onConflict: { columns: ['title'], action: 'ignore' } },
            { model: 'Jsonish', op: 'select', distinct: true },
            { model: 'Jsonish', op: 'aggregate', groupBy: ['doc'], aggregates: [{ fn: 'count', alias: 'n' }] },
            { model: 'Jsonish', op: 'aggregate', aggregates: [{ fn: 'count', column: 'doc', distinct: true, alias: 'n' }] },
            { model: 'Jsonish', op: 'aggregate', aggregates: [{ fn: 'count', column: 'doc', alias: 'n' }] },
          ],
        }),
      }),
    )
    const { results } = decode<ResponseBody>(await response.text())
    expect(results[0]).toMatchObject({ error: { code: 'BAD_REQUEST', message: 'the onConflict columns match no unique index or constraint of the table' } })
    for (const result of results.slice(1, 4)) expect(result).toMatchObject({ error: { code: 'BAD_REQUEST', message: expect.stringContaining('json') } })
    expect(results[4]).toEqual({ data: [{ n: 2 }] })
    expect(logged).toEqual([])
  })

  it('refuses reserved keys as aggregate aliases', async () => {
    for (const alias of ['__proto__', 'constructor', 'prototype']) {
      const [result] = await demo.run({ model: 'Post', op: 'aggregate', aggregates: [{ fn: 'max', column: 'views', alias }] })
      expect(result).toMatchObject({ error: { code: 'BAD_REQUEST' } })
    }
  })

  it('fails only the point read whose id is bad, not its coalesced group', async () => {
    const results = await demo.run(
      { model: 'Post', op: 'first', where: { kind: 'id', ids: [99999999999] } },
      { model: 'Post', op: 'first', where: { kind: 'id', ids: [1] } },
      { model: 'Post', op: 'first', where: { kind: 'id', ids: [2] } },
    )
    expect(results[0]).toMatchObject({ error: { code: 'BAD_REQUEST' } })
    expect(results[1]).toMatchObject({ data: { id: 1 } })
    expect(results[2]).toMatchObject({ data: { id: 2 } })
  })
})

describe('rows past the byte budget are not all read (PostgreSQL)', () => {
  let demo: Demo
  let knex: Knex
  let executor: Executor
  beforeAll(async () => {
    demo = await openDemo('postgres')
    // Every row of this view is 100 kB and advances a sequence: what PostgreSQL produced.
    // (Reads without a read-only transaction, `statementTimeout: 'connection'`, may call nextval.)
    await demo.knex.raw('create sequence probe')
    await demo.knex.raw(`create view bulky as select g as id, repeat('x', 100000) || nextval('probe') as body from generate_series(1, 1000) g`)
    const { searchPath } = demo.knex.client.config as { searchPath: string[] }
    knex = knexFactory({ client: 'pg', connection: { connectionString: POSTGRES_URL, statement_timeout: 5000 }, searchPath, pool: { min: 0, max: 2 } })
    executor = createExecutor({
      knex,
      api: { Bulky: expose(Bulky, { read: { allow: true, columns: '*' } }) },
      statementTimeout: 'connection',
      limits: { maxResponseBytes: 1_000_000 },
      logger: { error() {} },
    })
    await executor.ready()
  })
  afterAll(async () => {
    await knex?.destroy()
    await demo?.close()
  })

  const post = (query: unknown) =>
    executor(new Request('http://test.local/orm', { method: 'POST', headers: { 'content-type': 'application/json' }, body: encode({ v: 1, queries: [query] }) }))

  it('stops reading, and cancels the statement, once the rows pass maxResponseBytes', async () => {
    const response = await post({ model: 'Bulky', op: 'select', limit: 1000 })
    expect(response.status).toBe(422)
    expect(decode(await response.text())).toMatchObject({ error: { code: 'LIMIT_EXCEEDED', message: expect.stringContaining('1000000 bytes') } })
    const { rows } = (await demo.knex.raw('select last_value::int as produced from probe')) as { rows: { produced: number }[] }
    // About ten rows fit; far fewer than the thousand asked for were ever produced.
    expect(rows[0]!.produced).toBeLessThan(500)
    // The pool is whole: the next request answers.
    const again = await post({ model: 'Bulky', op: 'count' })
    expect(decode<ResponseBody>(await again.text())).toEqual({ results: [{ data: 1000 }] })
  })
})

class Bulky extends Model {
  static override tableName = 'bulky'
  declare id: number
  declare body: string
}

class Jsonish extends Model {
  static override tableName = 'jsonish'
  declare id: number
  declare title: string
  declare doc: unknown
}
