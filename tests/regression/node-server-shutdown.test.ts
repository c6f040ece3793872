/**
 * Regression: a Node executor process on SIGTERM kept serving a client that kept its
 * connection alive (75 more requests over 15 s, and no exit), waited for idle keep-alive
 * connections to time out, and had no deadline for a request that never finishes.
 * Each case runs the real process (tests/support/graceful-server.ts) on PostgreSQL.
 */
import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decode } from '../../shared/wire.js'
import { openDemo, type Demo } from '../support/demo.js'
import { after, callRequest, RawConnection } from '../support/raw-http.js'
import { schemaOf, startServerProcess, type ServerProcess } from '../support/server-process.js'

/** Far longer than any shutdown here takes, far shorter than the hangs these tests catch. */
const HANG = 20_000

describe('Node server shutdown (PostgreSQL)', () => {
  let demo: Demo
  const started: ServerProcess[] = []
  const start = async (options: Parameters<typeof startServerProcess>[1] = {}, env: Record<string, string> = {}) => {
    const server = await startServerProcess(schemaOf(demo.knex), options, env)
    started.push(server)
    return server
  }

  beforeAll(async () => {
    demo = await openDemo('postgres')
  })
  afterAll(async () => {
    for (const { child } of started) child.kill('SIGKILL')
    await demo?.close()
  })

  it('answers the request in flight with connection: close, then closes that kept-alive connection and exits 0', async () => {
    const server = await start()
    const client = await RawConnection.open(server.url)
    // The connection is kept alive across answers before the signal.
    for (let i = 0; i < 3; i++) {
      const answer = await client.exchange(callRequest('fast'))
      expect(answer?.headers.connection).toBe('keep-alive')
    }
    client.write(callRequest('slow'))
    await server.line('started slow')
    server.child.kill('SIGTERM')
    const answer = await client.answer()
    expect(answer?.status).toBe(200)
    expect(answer?.headers.connection).toBe('close')
    expect(decode(answer!.body)).toEqual({ results: [{ data: 'finished' }] })
    // A request sent after that answer is not served: the server closed the connection.
    expect(await client.exchange(callRequest('fast'))).toBeUndefined()
    expect(await Promise.race([server.exit, after(HANG)])).toBe(0)
    expect(server.stderr()).toBe('')
  })

  it('a client sending request after request on one connection cannot keep the process alive', async () => {
    const server = await start()
    const client = await RawConnection.open(server.url)
    const answers: { connection: string | undefined }[] = []
    let signalled = false
    // Back to back, as fast as the server answers; the signal arrives somewhere in the stream.
    for (let i = 0; i < 5000 && !client.isClosed; i++) {
      const answer = await client.exchange(callRequest('fast'))
      if (!answer) break
      expect(answer.status).toBe(200)
      answers.push({ connection: answer.headers.connection })
      if (i === 20) {
        server.child.kill('SIGTERM')
        signalled = true
      }
    }
    expect(signalled).toBe(true)
    // The loop ended because the server closed the connection, not at its cap.
    expect(client.isClosed).toBe(true)
    expect(answers.length).toBeLessThan(5000)
    // Once an answer says connection: close, none follows it.
    const firstClose = answers.findIndex((a) => a.connection === 'close')
    if (firstClose >= 0) expect(firstClose).toBe(answers.length - 1)
    expect(await Promise.race([server.exit, after(HANG)])).toBe(0)
  })

  it('idle kept-alive connections are closed at once and do not delay the exit', async () => {
    // An idle connection would otherwise stay open for a minute.
    const server = await start({ keepAliveTimeoutMs: 60_000 })
    const idle = await RawConnection.open(server.url)
    expect((await idle.exchange(callRequest('fast')))?.headers.connection).toBe('keep-alive')
    const busy = await RawConnection.open(server.url)
    expect((await busy.exchange(callRequest('fast')))?.headers.connection).toBe('keep-alive')
    busy.write(callRequest('slow'))
    await server.line('started slow')
    const events: string[] = []
    void idle.closed.then(() => events.push('idle connection closed'))
    void busy.closed.then(() => events.push('busy connection closed'))
    server.child.kill('SIGTERM')
    const answer = await busy.answer()
    events.push('slow answer')
    expect(answer?.headers.connection).toBe('close')
    expect(await Promise.race([server.exit, after(HANG)])).toBe(0)
    await Promise.all([idle.closed, busy.closed])
    expect(events).toEqual(['idle connection closed', 'slow answer', 'busy connection closed'])
  })

  it('refuses new connections while it drains', async () => {
    const server = await start()
    const idle = await RawConnection.open(server.url)
    expect((await idle.exchange(callRequest('fast')))?.status).toBe(200)
    const busy = await RawConnection.open(server.url)
    busy.write(callRequest('slow'))
    await server.line('started slow')
    server.child.kill('SIGTERM')
    // The idle connection closing shows the shutdown has begun; the slow call still runs.
    // A client reconnecting the moment its idle connection closes is refused, never
    // accepted by the closing listener and then reset.
    await idle.closed
    expect(busy.isClosed).toBe(false)
    const { port } = new URL(server.url)
    const refused = await new Promise<string>((resolve) => {
      const socket = connect(Number(port), '127.0.0.1')
      socket.once('connect', () => resolve('connected'))
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message))
    })
    expect(refused).toBe('ECONNREFUSED')
    expect((await busy.answer())?.status).toBe(200)
    expect(await Promise.race([server.exit, after(HANG)])).toBe(0)
  })

  it('a request that never finishes: the process exits 1 at shutdownTimeoutMs', async () => {
    const server = await start({ shutdownTimeoutMs: 1000 })
    const client = await RawConnection.open(server.url)
    client.write(callRequest('stuck'))
    await server.line('started stuck')
    server.child.kill('SIGTERM')
    expect(await Promise.race([server.exit, after(HANG)])).toBe(1)
    // The connection was cut without an answer, and the log says why the exit code is 1.
    expect(await client.answer()).toBeUndefined()
    expect(server.stderr()).toMatch(/1 request\(s\) still running at the shutdown deadline \(1000 ms\)/)
  })

  it('a never-finishing request whose client hung up does not hold the exit past the deadline either', async () => {
    const server = await start({ shutdownTimeoutMs: 1000 })
    const client = await RawConnection.open(server.url)
    client.write(callRequest('stuck'))
    await server.line('started stuck')
    client.destroy()
    server.child.kill('SIGTERM')
    expect(await Promise.race([server.exit, after(HANG)])).toBe(1)
    expect(server.stderr()).toMatch(/still running at the shutdown deadline/)
  })

  it('an onShutdown that never finishes: the process exits 1 at shutdownTimeoutMs', async () => {
    const server = await start({ shutdownTimeoutMs: 1000 }, { STUCK_ON_SHUTDOWN: '1' })
    const client = await RawConnection.open(server.url)
    expect((await client.exchange(callRequest('fast')))?.status).toBe(200)
    server.child.kill('SIGTERM')
    expect(await Promise.race([server.exit, after(HANG)])).toBe(1)
    expect(server.stderr()).toMatch(/onShutdown did not finish within 1000 ms/)
  })
})
