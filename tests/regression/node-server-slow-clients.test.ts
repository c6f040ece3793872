/**
 * Regression: `serve()` kept Node's defaults, so a client could hold a connection with
 * partial headers for 89 s or a partial body for 329 s, and open 16,000 connections.
 * Now headers, whole requests and idle keep-alive connections have tight deadlines, and
 * connections beyond a cap are closed as they arrive.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { ExecutorError } from '../../executor/executor-error.js'
import { serve, type RunningServer, type ServeOptions } from '../../executor/adapters/node.js'
import { after, RawConnection } from '../support/raw-http.js'

/** Far longer than the deadlines set here, far shorter than Node's defaults. */
const HANG = 10_000

interface Seen {
  readonly signal: AbortSignal
  /** What reading the body gave: its text or the error it threw. */
  readonly body: Promise<string | unknown>
}

describe('serve(): slow and idle clients', () => {
  let running: RunningServer | undefined
  let seen: Seen[] = []
  const start = async (options: ServeOptions) => {
    seen = []
    running = await serve(
      async (request) => {
        const body = request.text().catch((error: unknown) => error)
        seen.push({ signal: request.signal, body })
        const text = await body
        const wait = new URL(request.url).searchParams.get('wait')
        if (wait) await new Promise((resolve) => setTimeout(resolve, Number(wait)))
        return new Response(typeof text === 'string' ? `got ${text}` : 'no body')
      },
      { port: 0, ...options },
    )
    return running
  }
  afterEach(async () => {
    await running?.close({ timeoutMs: 1000 })
    running = undefined
  })

  /** Whether the server closed the connection before a generous bound: 'closed' or 'timeout'. */
  const closedBy = (connection: RawConnection) => Promise.race([connection.closed.then(() => 'closed' as const), after(HANG)])

  describe('headersTimeoutMs', () => {
    it('cuts off a client that stops halfway through its headers, with 408', async () => {
      const { url } = await start({ headersTimeoutMs: 300, requestTimeoutMs: 1000 })
      const client = await RawConnection.open(url)
      client.write('POST / HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-ty')
      expect(await closedBy(client)).toBe('closed')
      expect((await client.answer())?.status).toBe(408)
      expect(seen).toEqual([])
    })

    it('cuts off a client that trickles its headers a byte at a time (activity does not extend the deadline)', async () => {
      const { url } = await start({ headersTimeoutMs: 300, requestTimeoutMs: 1000 })
      const client = await RawConnection.open(url)
      const headers = 'POST / HTTP/1.1\r\nhost: 127.0.0.1\r\nx-padding: ' + 'a'.repeat(10_000)
      let sent = 0
      const trickle = setInterval(() => client.write(headers[sent++ % headers.length]!), 20)
      try {
        expect(await closedBy(client)).toBe('closed')
      } finally {
        clearInterval(trickle)
      }
      expect(seen).toEqual([])
    })

    it('cuts off a client that connects and sends nothing', async () => {
      const { url } = await start({ headersTimeoutMs: 300, requestTimeoutMs: 1000 })
      const client = await RawConnection.open(url)
      expect(await closedBy(client)).toBe('closed')
    })
  })

  describe('requestTimeoutMs', () => {
    it('cuts off a client that stops halfway through a body with a declared length; the handler sees its read fail and its signal abort', async () => {
      const { url } = await start({ headersTimeoutMs: 200, requestTimeoutMs: 500 })
      const client = await RawConnection.open(url)
      client.write('POST / HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"v":')
      expect(await closedBy(client)).toBe('closed')
      expect((await client.answer())?.status).toBe(408)
      expect(seen).toHaveLength(1)
      expect(await seen[0]!.body).toMatchObject({ name: 'ExecutorError', code: 'BAD_REQUEST' })
      expect(seen[0]!.signal.aborted).toBe(true)
    })

    it('cuts off a chunked body that never ends', async () => {
      const { url } = await start({ headersTimeoutMs: 200, requestTimeoutMs: 500 })
      const client = await RawConnection.open(url)
      client.write('POST / HTTP/1.1\r\nhost: 127.0.0.1\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n')
      expect(await closedBy(client)).toBe('closed')
      expect(await seen[0]!.body).toBeInstanceOf(ExecutorError)
      expect(seen[0]!.signal.aborted).toBe(true)
    })

    it('cuts off a body trickled a byte at a time', async () => {
      const { url } = await start({ headersTimeoutMs: 200, requestTimeoutMs: 500 })
      const client = await RawConnection.open(url)
      client.write('POST / HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 100000\r\n\r\n')
      const trickle = setInterval(() => client.write('x'), 20)
      try {
        expect(await closedBy(client)).toBe('closed')
      } finally {
        clearInterval(trickle)
      }
      expect(await seen[0]!.body).toBeInstanceOf(ExecutorError)
    })

    it('does not cut off a handler that takes longer than requestTimeoutMs once the request has arrived', async () => {
      const { url } = await start({ headersTimeoutMs: 200, requestTimeoutMs: 300 })
      const client = await RawConnection.open(url)
      // The handler waits four request timeouts (and several checks of the deadlines).
      const answer = await client.exchange('POST /?wait=1200 HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 2\r\n\r\nhi')
      expect(answer).toMatchObject({ status: 200, body: 'got hi' })
    })
  })

  it('keepAliveTimeoutMs closes an idle kept-alive connection', async () => {
    const { url } = await start({ keepAliveTimeoutMs: 1000 })
    const client = await RawConnection.open(url)
    const answer = await client.exchange('GET / HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n')
    expect(answer?.headers.connection).toBe('keep-alive')
    expect(answer?.headers['keep-alive']).toBe('timeout=1')
    expect(await closedBy(client)).toBe('closed')
  })

  it('maxConnections: connections beyond the cap are closed as they arrive, and accepted again once one closes', async () => {
    const { url, server } = await start({ maxConnections: 2 })
    let accepted = 0
    server.on('connection', () => accepted++)
    const first = await RawConnection.open(url)
    const second = await RawConnection.open(url)
    await new Promise<void>((resolve) => (accepted >= 2 ? resolve() : server.on('connection', () => accepted >= 2 && resolve())))
    const excess = await Promise.all([1, 2, 3].map(() => RawConnection.open(url)))
    for (const connection of excess) {
      expect(await connection.exchange('GET / HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n')).toBeUndefined()
      expect(connection.isClosed).toBe(true)
    }
    // The two within the cap are served.
    for (const connection of [first, second]) {
      expect((await connection.exchange('GET / HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n'))?.status).toBe(200)
    }
    first.destroy()
    await new Promise<void>((resolve) => server.getConnections((_error, count) => (count < 2 ? resolve() : setTimeout(resolve, 100))))
    const next = await RawConnection.open(url)
    expect((await next.exchange('GET / HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n'))?.status).toBe(200)
    expect(accepted).toBe(3)
  })

  it('sets the defaults on the server it starts', async () => {
    const { server } = await start({})
    expect({
      headersTimeout: server.headersTimeout,
      requestTimeout: server.requestTimeout,
      keepAliveTimeout: server.keepAliveTimeout,
      maxConnections: server.maxConnections,
    }).toEqual({ headersTimeout: 10_000, requestTimeout: 30_000, keepAliveTimeout: 5_000, maxConnections: 1_000 })
  })
})
