/**
 * SIGTERM on a Node executor process: the request in flight finishes with its answer,
 * new connections are refused, and the process exits cleanly.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decode, encodeRequest } from '../../shared/wire.js'
import { openDemo, type Demo } from '../support/demo.js'

describe('graceful shutdown (PostgreSQL)', () => {
  let demo: Demo

  beforeAll(async () => {
    demo = await openDemo('postgres')
  })
  afterAll(() => demo?.close())

  it('drains the request in flight, then exits 0', async () => {
    const schema = (demo.knex.client.config as { searchPath: string[] }).searchPath[0]!
    const child = spawn(process.execPath, ['--import', 'tsx', 'tests/support/graceful-server.ts', schema], { stdio: ['ignore', 'pipe', 'inherit'] })
    const [line] = (await once(child.stdout!, 'data')) as [Buffer]
    const url = line.toString().trim()
    const inFlight = fetch(`${url}/orm`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: encodeRequest({ v: 1, queries: [{ op: 'call', procedure: 'slow', args: {} }] }),
    })
    await new Promise((resolve) => setTimeout(resolve, 300))
    child.kill('SIGTERM')
    const response = await inFlight
    expect(decode(await response.text())).toEqual({ results: [{ data: 'finished' }] })
    const [code] = (await once(child, 'exit')) as [number]
    expect(code).toBe(0)
    await expect(fetch(`${url}/orm`, { method: 'POST' })).rejects.toThrow()
  })

  it('lets requests whose client hung up end before closing the pool', async () => {
    const schema = (demo.knex.client.config as { searchPath: string[] }).searchPath[0]!
    const child = spawn(process.execPath, ['--no-deprecation', '--import', 'tsx', 'tests/support/graceful-server.ts', schema], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const [line] = (await once(child.stdout!, 'data')) as [Buffer]
    const url = line.toString().trim()
    // Three slow calls on a pool of two (the third waits for a connection), each on a
    // socket its client destroys without waiting for the answer.
    const names = [0, 1, 2].map((i) => `hung-up-${process.pid}-${i}`)
    const { port } = new URL(url)
    const sockets = names.map((name) => {
      const body = encodeRequest({ v: 1, queries: [{ op: 'call', procedure: 'slowTag', args: { name } }] })
      const socket = connect(Number(port), '127.0.0.1')
      socket.on('error', () => undefined)
      socket.write(`POST /orm HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
      return socket
    })
    await new Promise((resolve) => setTimeout(resolve, 300))
    for (const socket of sockets) socket.destroy()
    child.kill('SIGTERM')
    const [code] = (await once(child, 'exit')) as [number]
    expect(code).toBe(0)
    // Nothing failed for want of the pool (a call cut short by a closed pool would log).
    expect(stderr).toBe('')
    // A hang-up cancels the call's database work (tests/regression/request-time-budget.test.ts):
    // each call rolled back as a whole, before the pool closed.
    expect(await demo.knex('tags').whereIn('name', names).count({ n: '*' })).toEqual([{ n: '0' }])
  })
})
