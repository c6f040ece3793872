/**
 * Regression: a client that hung up mid-request (or was cut off mid-body) made the
 * executor log `unexpected error … aborted` — lately `database unavailable`, since Node's
 * error carries ECONNRESET. A hang-up is the client's doing: nothing is logged, and the
 * handler's `request.signal` aborts so it can stop its work.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { serve, toNodeHandler, type RunningServer } from '../../executor/adapters/node.js'
import { encodeRequest } from '../../shared/wire.js'
import { openDemo, type Demo } from '../support/demo.js'
import { after, callRequest, RawConnection } from '../support/raw-http.js'
import { schemaOf, startServerProcess } from '../support/server-process.js'

const HANG = 20_000
const readBody = encodeRequest({ v: 1, queries: [{ op: 'select', model: 'Author', limit: 5 }] })

/** The ways a client leaves: each writes something, then the test destroys the connection. */
const HANG_UPS: Record<string, string> = {
  'halfway through the headers': 'POST /orm HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-ty',
  'halfway through a body with a declared length': `POST /orm HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${readBody.length}\r\n\r\n${readBody.slice(0, 10)}`,
  'halfway through a chunked body': `POST /orm HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n5\r\n${readBody.slice(0, 5)}\r\n`,
  'right after a whole request': `POST /orm HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${readBody.length}\r\n\r\n${readBody}`,
}

describe('a client hang-up (PostgreSQL executor in this process)', () => {
  let demo: Demo
  let running: RunningServer
  const logged = vi.fn()

  beforeAll(async () => {
    demo = await openDemo('postgres', { logger: { error: logged } })
    running = await serve(demo.executor, { port: 0, requestTimeoutMs: 500, headersTimeoutMs: 300 })
  })
  afterAll(async () => {
    await running?.close()
    await demo?.close()
  })
  afterEach(() => {
    vi.restoreAllMocks()
    logged.mockClear()
  })

  it.each(Object.entries(HANG_UPS))('logs nothing when the client leaves %s', async (_name, sent) => {
    const consoleError = vi.spyOn(console, 'error')
    const consoleInfo = vi.spyOn(console, 'info')
    const client = await RawConnection.open(running.url)
    client.write(sent)
    // Give the server the bytes before the connection goes.
    await new Promise((resolve) => setTimeout(resolve, 100))
    client.destroy()
    // A fresh request answered on a new connection: the server is fine.
    const answer = await fetch(`${running.url}/orm`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: readBody })
    expect(answer.status).toBe(200)
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(logged).not.toHaveBeenCalled()
    expect(consoleError).not.toHaveBeenCalled()
    expect(consoleInfo).not.toHaveBeenCalled()
  })

  it('logs nothing when the server cuts off a body at requestTimeoutMs', async () => {
    const consoleError = vi.spyOn(console, 'error')
    const client = await RawConnection.open(running.url)
    client.write(HANG_UPS['halfway through a body with a declared length']!)
    expect(await Promise.race([client.closed.then(() => 'closed'), after(HANG)])).toBe('closed')
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(logged).not.toHaveBeenCalled()
    expect(consoleError).not.toHaveBeenCalled()
  })
})

describe('request.signal on a client hang-up', () => {
  /** A handler that reports its request's signal and what reading the body gave. */
  const watching = () => {
    const requests: { aborted: Promise<void>; body: Promise<unknown> }[] = []
    const handler = async (request: Request) => {
      const aborted = new Promise<void>((resolve) => request.signal.addEventListener('abort', () => resolve(), { once: true }))
      const body = request.text().catch((error: unknown) => error)
      requests.push({ aborted, body })
      await body
      // Works until the client goes, as the executor's database work will.
      await Promise.race([aborted, after(HANG)])
      return new Response(request.signal.aborted ? 'aborted' : 'not aborted')
    }
    return { handler, requests }
  }

  let running: RunningServer | undefined
  let plain: Server | undefined
  afterEach(async () => {
    await running?.close({ timeoutMs: 1000 })
    await new Promise((resolve) => (plain ? plain.close(resolve) : resolve(undefined)))
    running = plain = undefined
  })

  const servers = {
    'serve()': async (handler: (request: Request) => Promise<Response>) => {
      running = await serve(handler, { port: 0 })
      return running.url
    },
    'toNodeHandler()': async (handler: (request: Request) => Promise<Response>) => {
      plain = createServer(toNodeHandler(handler))
      await new Promise<void>((resolve) => plain!.listen(0, '127.0.0.1', resolve))
      return `http://127.0.0.1:${(plain.address() as AddressInfo).port}`
    },
  }

  describe.each(Object.entries(servers))('through %s', (_name, start) => {
    it('aborts when the client leaves while the handler works', async () => {
      const { handler, requests } = watching()
      const client = await RawConnection.open(await start(handler))
      client.write('POST / HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 2\r\n\r\nhi')
      await expect.poll(() => requests.length).toBe(1)
      expect(await requests[0]!.body).toBe('hi')
      client.destroy()
      expect(await Promise.race([requests[0]!.aborted.then(() => 'aborted'), after(HANG)])).toBe('aborted')
    })

    it('aborts, and the body read fails with a client error, when the client leaves mid-body', async () => {
      const { handler, requests } = watching()
      const client = await RawConnection.open(await start(handler))
      client.write('POST / HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 100\r\n\r\nhalf')
      await expect.poll(() => requests.length).toBe(1)
      client.destroy()
      expect(await Promise.race([requests[0]!.aborted.then(() => 'aborted'), after(HANG)])).toBe('aborted')
      expect(await requests[0]!.body).toMatchObject({ name: 'ExecutorError', code: 'BAD_REQUEST' })
    })
  })
})

describe('a client hang-up (executor process, stderr)', () => {
  let demo: Demo

  beforeAll(async () => {
    demo = await openDemo('postgres')
  })
  afterAll(() => demo?.close())

  it('writes nothing to stderr for hang-ups, cut-off bodies and calls whose client left, and still exits 0', async () => {
    const server = await startServerProcess(schemaOf(demo.knex), { requestTimeoutMs: 500, headersTimeoutMs: 300 })
    try {
      for (const sent of Object.values(HANG_UPS)) {
        const client = await RawConnection.open(server.url)
        client.write(sent)
        await new Promise((resolve) => setTimeout(resolve, 100))
        client.destroy()
      }
      // Cut off by the server, mid-body.
      const slowBody = await RawConnection.open(server.url)
      slowBody.write(HANG_UPS['halfway through a body with a declared length']!)
      // A call that runs on after its client left.
      const leaving = await RawConnection.open(server.url)
      leaving.write(callRequest('slow'))
      await server.line('started slow')
      leaving.destroy()
      await slowBody.closed
      server.child.kill('SIGTERM')
      expect(await Promise.race([server.exit, after(HANG)])).toBe(0)
      expect(server.stderr()).toBe('')
    } finally {
      server.child.kill('SIGKILL')
    }
  })
})
