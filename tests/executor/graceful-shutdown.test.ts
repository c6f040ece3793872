/**
 * SIGTERM on a Node executor process: the request in flight finishes with its answer,
 * new connections are refused, and the process exits cleanly.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
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
})
