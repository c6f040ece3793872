/**
 * Issue 12, faults: the executor process is killed (`kill -9`) in the middle of a
 * transaction, and the client retries against its replacement. Nothing was committed, so
 * with the idempotency store the retry applies the transaction once; without it the
 * retry is refused (the client cannot know the first attempt died before committing),
 * and nothing is applied twice either way.
 */
import { createServer } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient } from '../../client/index.js'
import type { DemoApi } from '../../examples/demo/api.js'
import { openDemo, type Demo } from '../support/demo.js'
import { schemaOf, startServerProcess, type ServerProcess } from '../support/server-process.js'

/** A port nothing listens on now, for a server and its replacement to share. */
async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

describe('kill -9 mid-transaction, then a retry (PostgreSQL)', () => {
  let demo: Demo
  const processes: ServerProcess[] = []
  beforeAll(async () => {
    demo = await openDemo('postgres')
  })
  afterAll(async () => {
    for (const p of processes) p.child.kill('SIGKILL')
    await demo?.close()
  })

  const tags = async (prefix: string) => Number(((await demo.knex('tags').where('name', 'like', `${prefix}%`).count({ n: '*' })) as [{ n: string }])[0].n)

  async function killMidTransaction(prefix: string, executorOptions: object) {
    const port = await freePort()
    const start = async () => {
      const server = await startServerProcess(schemaOf(demo.knex), { port }, { EXECUTOR_OPTIONS: JSON.stringify(executorOptions) })
      processes.push(server)
      return server
    }
    const first = await start()
    const db = createClient<DemoApi>({ url: `${first.url}/orm`, retry: 6, retryDelay: 250 })
    const outcome = db
      .transaction((t) => [
        t.call('slowTag' as never, { name: `${prefix}-call` } as never),
        t.call('slowTag' as never, { name: `${prefix}-call-2` } as never),
      ])
      .then(
        (value) => ({ ok: true as const, value }),
        (error: unknown) => ({ ok: false as const, error }),
      )
    await first.line('started slowTag')
    first.child.kill('SIGKILL')
    await first.exit
    await start()
    return outcome
  }

  it('applies the transaction once when the replacement keeps an idempotency store', async () => {
    const outcome = await killMidTransaction('killed-store', { idempotency: true })
    expect(outcome).toMatchObject({ ok: true, value: ['finished', 'finished'] })
    expect(await tags('killed-store-call')).toBe(2)
  })

  it('refuses the retry, and applies nothing twice, without a store', async () => {
    const outcome = await killMidTransaction('killed-plain', {})
    expect(outcome).toMatchObject({ ok: false, error: { code: 'CONFLICT', message: expect.stringContaining('may have been applied already') } })
    // The killed transaction never committed: nothing at all was applied.
    expect(await tags('killed-plain')).toBe(0)
  })
})
