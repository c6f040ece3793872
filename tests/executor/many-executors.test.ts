/**
 * Two executor processes behind one client, over one primary and its read replica (real
 * servers, real HTTP): nothing depends on an executor being the only one. The client's
 * requests go to each process in turn; a write's idempotency key is honoured by the other
 * process, and a writer reads its own writes from either while the replica lags.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient, type Client } from '../../client/index.js'
import type { DemoApi, DemoProcedures } from '../../examples/demo/api.js'
import { decode, encodeRequest } from '../../shared/wire.js'
import { tokenFor } from '../support/demo.js'
import { startReplication, type Replication } from '../support/replication.js'
import { startScript, type ServerProcess } from '../support/server-process.js'

let cluster: Replication
let executors: ServerProcess[] = []

beforeAll(async () => {
  cluster = await startReplication()
  const env = { PRIMARY_URL: cluster.primary.url, REPLICA_URL: cluster.standby.url }
  executors = await Promise.all([0, 1].map(() => startScript('tests/support/replicated-server.ts', [], env)))
}, 120_000)

afterAll(async () => {
  for (const executor of executors) executor.child.kill('SIGTERM')
  await Promise.all(executors.map((executor) => executor.exit))
  await cluster?.destroy()
})

/** A client signed in as author 1 whose requests go to each executor in turn, and the URLs it used. */
function roundRobin(): { db: Client<DemoApi, DemoProcedures>; used: string[] } {
  const used: string[] = []
  let turn = 0
  const db = createClient<DemoApi, DemoProcedures>({
    url: 'http://executors/orm',
    headers: async () => ({ authorization: `Bearer ${await tokenFor(1n)}` }),
    fetch: (_, init) => {
      const url = `${executors[turn++ % executors.length]!.url}/orm`
      used.push(url)
      return fetch(url, init)
    },
  })
  return { db, used }
}

const tagsNamed = async (name: string) => Number(((await cluster.primaryKnex('tags').where({ name }).count({ n: '*' })) as [{ n: string }])[0].n)

describe('two executor processes behind one client', () => {
  it('applies a write once when its retry reaches the other process', async () => {
    const body = encodeRequest({ v: 1, queries: [{ model: 'Tag', op: 'insert', rows: [{ name: 'retried across executors' }], returning: 'first' }] } as never)
    const headers = { 'content-type': 'application/json', 'idempotency-key': 'across-executors-1', authorization: `Bearer ${await tokenFor(1n)}` }
    const send = (url: string) => fetch(`${url}/orm`, { method: 'POST', headers, body })
    const first = await send(executors[0]!.url)
    const retry = await send(executors[1]!.url)
    expect([first.status, retry.status]).toEqual([200, 200])
    expect(retry.headers.get('idempotent-replayed')).toBe('true')
    const answer = decode(await first.text())
    expect(answer).toMatchObject({ results: [{ data: { name: 'retried across executors' } }] })
    expect(decode(await retry.text())).toEqual(answer)
    expect(await tagsNamed('retried across executors')).toBe(1)
  })

  it('applies a write once when both processes receive it at the same time', async () => {
    const body = encodeRequest({ v: 1, queries: [{ model: 'Tag', op: 'insert', rows: [{ name: 'raced across executors' }], returning: 'first' }] } as never)
    const headers = { 'content-type': 'application/json', 'idempotency-key': 'across-executors-2', authorization: `Bearer ${await tokenFor(1n)}` }
    const answers = await Promise.all(executors.map((executor) => fetch(`${executor.url}/orm`, { method: 'POST', headers, body })))
    expect(answers.map((a) => a.status)).toEqual([200, 200])
    const [a, b] = await Promise.all(answers.map(async (answer) => decode(await answer.text())))
    expect(a).toMatchObject({ results: [{ data: { name: 'raced across executors' } }] })
    expect(a).toEqual(b)
    expect(await tagsNamed('raced across executors')).toBe(1)
  })

  it("reads a writer's writes from either process while the replica lags, and others' reads stay on the replica", async () => {
    const { db: writer, used } = roundRobin()
    const other = createClient<DemoApi>({ url: `${executors[1]!.url}/orm` })
    await cluster.caughtUp()
    await cluster.pause()
    try {
      const written = []
      for (let i = 0; i < 6; i++) {
        const post = await writer.Post.query().insert({ title: `seen ${i}`, body: '', published: true })
        // The read goes to the other process than the write did.
        expect(await writer.Post.query().findById(post.id)).toMatchObject({ title: `seen ${i}` })
        written.push(post.id)
      }
      expect(new Set(used).size).toBe(2)
      expect(await writer.Post.query().whereIn('id', written).count()).toBe(6)
      // A reader without the writer's position reads from the replica, which has none of them.
      expect(await other.Post.query().whereIn('id', written).count()).toBe(0)
    } finally {
      await cluster.resume()
    }
  })
})
