/**
 * Issue 12, findings 6 and 19: the time limit was per statement, so one request could
 * hold a pooled connection for 50 × 5 s, and requests ran on after their client hung up;
 * ten such requests starved other tenants into 503s. A request has a total time budget
 * (`transactionTimeoutMs`): when it passes, the running statement is cancelled, nothing of
 * the request is committed, and the answer is 504. A client that hangs up cancels its
 * request the same way, also behind PgBouncer in transaction mode.
 */
import { Model } from 'objection'
import * as v from 'valibot'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, procedures } from '../../examples/demo/api.js'
import { createExecutor, expose, procedure, type Executor } from '../../executor/index.js'
import { serve, type RunningServer } from '../../executor/adapters/node.js'
import { decode, encodeRequest } from '../../shared/wire.js'
import { openDemo, type Demo } from '../support/demo.js'

class Nap extends Model {
  static override tableName = 'naps'
  declare id: number
  declare nap: string
}

// Through PgBouncer in transaction mode too: its cancel requests reach the statement.
describe.each(['postgres', 'pgbouncer'] as const)('the time budget of a request (%s)', (kind) => {
  let demo: Demo
  let executor: Executor
  let server: RunningServer

  beforeAll(async () => {
    demo = await openDemo(kind)
    // Reading this view takes two seconds: a slow read on the read-only path.
    await demo.knex.raw(`create view naps as select g as id, pg_sleep(0.5)::text as nap from generate_series(1, 4) g`)
    executor = createExecutor({
      knex: demo.knex,
      api: { ...api, Nap: expose(Nap, { read: { allow: true, columns: '*' } }) },
      logger: { error() {} },
      limits: { transactionTimeoutMs: 400, statementTimeoutMs: 5000 },
      procedures: {
        ...procedures,
        nap: procedure({
          allow: true,
          args: v.object({ name: v.string(), seconds: v.number() }),
          run: async ({ trx, args }) => {
            await trx.raw('select pg_sleep(?) /* request-time-budget */', [args.seconds])
            await trx('tags').insert({ name: args.name })
            return 'slept'
          },
        }),
      },
    })
    await executor.ready()
    server = await serve(executor, { port: 0 })
  })
  afterAll(async () => {
    await server?.close()
    await demo?.close()
  })

  const post = async (queries: unknown[], signal?: AbortSignal) => {
    const response = await fetch(`${server.url}/orm`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: encodeRequest({ v: 1, queries } as never),
      ...(signal && { signal }),
    })
    return { status: response.status, body: decode(await response.text()) }
  }
  const tags = async (name: string) => Number(((await demo.knex('tags').where({ name }).count({ n: '*' })) as [{ n: string }])[0].n)
  /** This file's slow statements still running on the server (other files' are not counted). */
  const sleeping = async () => {
    const { rows } = (await demo.knex.raw(`select count(*)::int as n from pg_stat_activity where state = 'active' and (query like '%request-time-budget */' or query like '%"naps"%') and pid <> pg_backend_pid()`)) as { rows: { n: number }[] }
    return rows[0]!.n
  }
  const until = async (condition: () => Promise<boolean>) => {
    for (let i = 0; i < 100 && !(await condition()); i++) await new Promise((resolve) => setTimeout(resolve, 50))
    return condition()
  }

  it('cancels a batch of slow calls when the budget passes, and commits none of it', async () => {
    const calls = [1, 2, 3, 4, 5].map((i) => ({ op: 'call', procedure: 'nap', args: { name: `budget-${i}`, seconds: 1 } }))
    const { status, body } = await post(calls)
    expect(status).toBe(504)
    expect(body).toEqual({ error: { code: 'TIMEOUT', message: 'the request ran out of time: it may hold the database for 400 ms (transactionTimeoutMs)' } })
    expect(await until(async () => (await sleeping()) === 0)).toBe(true)
    for (let i = 1; i <= 5; i++) expect(await tags(`budget-${i}`)).toBe(0)
  })

  it('cancels a slow read on the read-only path', async () => {
    const { status, body } = await post([{ model: 'Nap', op: 'select' }, { model: 'Tag', op: 'count' }])
    expect(status).toBe(504)
    expect(body).toMatchObject({ error: { code: 'TIMEOUT' } })
    expect(await until(async () => (await sleeping()) === 0)).toBe(true)
  })

  it('keeps serving: the pool is whole again after many requests ran out of time', async () => {
    const slow = Array.from({ length: 8 }, (_, i) => post([{ op: 'call', procedure: 'nap', args: { name: `crowd-${i}`, seconds: 3 } }]))
    const outcomes = await Promise.all(slow)
    expect(outcomes.map((o) => o.status)).toEqual(Array(8).fill(504))
    const { status, body } = await post([{ model: 'Tag', op: 'count' }])
    expect(status).toBe(200)
    expect(body).toEqual({ results: [{ data: expect.any(Number) }] })
  })

  it('cancels the work of a client that hangs up', async () => {
    const controller = new AbortController()
    const name = 'hung-up'
    const pending = post([{ op: 'call', procedure: 'nap', args: { name, seconds: 0.3 } }, { op: 'call', procedure: 'nap', args: { name, seconds: 0.3 } }], controller.signal).catch((error: unknown) => error)
    expect(await until(async () => (await sleeping()) > 0)).toBe(true)
    controller.abort()
    expect(await pending).toBeInstanceOf(Error)
    expect(await until(async () => (await sleeping()) === 0)).toBe(true)
    // Long enough for both naps to have finished, had they run on.
    await new Promise((resolve) => setTimeout(resolve, 800))
    expect(await tags(name)).toBe(0)
  })
})
