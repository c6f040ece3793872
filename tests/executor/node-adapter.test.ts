/**
 * The executor over real HTTP, through each Node adapter, called by the real client
 * with the global fetch.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createClient } from '../../client/index.js'
import { serve, toNodeHandler, type RunningServer } from '../../executor/adapters/node.js'
import type { DemoApi } from '../../examples/demo/api.js'
import { openDemo, type Demo } from '../support/demo.js'
import { after, RawConnection } from '../support/raw-http.js'

describe('Node adapters over real HTTP (PostgreSQL)', () => {
  let demo: Demo
  let running: RunningServer
  let plain: Server
  let plainUrl: string

  beforeAll(async () => {
    demo = await openDemo('postgres')
    running = await serve(demo.executor, { port: 0 })
    plain = createServer(toNodeHandler(demo.executor))
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve))
    plainUrl = `http://127.0.0.1:${(plain.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    await running?.close()
    await new Promise((resolve) => plain?.close(resolve))
    await demo?.close()
  })

  it('serve() answers the client with typed rows', async () => {
    expect(running.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const db = createClient<DemoApi>({ url: `${running.url}/orm` })
    const [authors, count] = await Promise.all([
      db.Author.query().orderBy('id').limit(2).withGraphFetched({ posts: (p) => p.orderBy('id').limit(1) }),
      db.Post.query().count(),
    ])
    expect(authors.map((a) => a.id)).toEqual([1n, 2n])
    expect(authors[0]!.createdAt).toBeInstanceOf(Date)
    expect(authors[0]!.posts).toHaveLength(1)
    expect(count).toBeGreaterThan(0)
  })

  it('the (req, res) handler answers the client, errors included', async () => {
    const db = createClient<DemoApi>({ url: plainUrl })
    expect(await db.Tag.query().where('name', 'edge').first()).toEqual({ id: 3, name: 'edge' })
    await expect(db.Tag.query().where('nope' as 'name', 'x')).rejects.toMatchObject({
      name: 'AsyncOrmError',
      code: 'BAD_REQUEST',
      status: 400,
      message: 'unknown column "nope" on Tag',
    })
  })

  it('answers whole-request errors with the status of their code and security headers', async () => {
    const response = await fetch(running.url, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' })
    expect(response.status).toBe(400)
    expect(response.headers.get('cache-control')).toBe('no-store')
    expect(response.headers.get('x-content-type-options')).toBe('nosniff')
    expect(await response.json()).toEqual({ json: { error: { code: 'BAD_REQUEST', message: 'content-type must be application/json' } } })
  })
})

describe('serve(): close()', () => {
  /** Far longer than the deadlines set here. */
  const HANG = 10_000
  let running: RunningServer | undefined
  afterEach(async () => {
    await running?.close({ timeoutMs: 1000 }).catch(() => undefined)
    running = undefined
  })

  /** Finishes each `GET /slow` (which ignores its signal), in arrival order. */
  let slow: (() => void)[] = []
  /**
   * A server whose handler answers `GET /` at once, `GET /slow` when the test says and
   * `GET /stuck` never, telling when its signal aborts.
   */
  const start = async (options: Parameters<typeof serve>[1] = {}) => {
    const stuck: { aborted: Promise<void> }[] = []
    slow = []
    running = await serve(
      async (request) => {
        const path = new URL(request.url).pathname
        if (path === '/slow') return new Promise<Response>((resolve) => slow.push(() => resolve(new Response('slow'))))
        if (path !== '/stuck') return new Response('ok')
        stuck.push({ aborted: new Promise((resolve) => request.signal.addEventListener('abort', () => resolve(), { once: true })) })
        return new Promise<never>(() => undefined)
      },
      { port: 0, ...options },
    )
    return { running, stuck }
  }

  it('with a request that never finishes: rejects at its deadline, cuts the connection and aborts the request', async () => {
    const { running, stuck } = await start()
    const client = await RawConnection.open(running.url)
    client.write('GET /stuck HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n')
    await expect.poll(() => stuck.length).toBe(1)
    await expect(Promise.race([running.close({ timeoutMs: 300 }), after(HANG)])).rejects.toThrow(
      '1 request(s) still running at the shutdown deadline (300 ms)',
    )
    expect(await client.answer()).toBeUndefined()
    expect(await Promise.race([stuck[0]!.aborted.then(() => 'aborted'), after(HANG)])).toBe('aborted')
  })

  it('honours shutdownTimeoutMs when called without a deadline, and returns the same promise when called again', async () => {
    const { running, stuck } = await start({ shutdownTimeoutMs: 300 })
    const client = await RawConnection.open(running.url)
    client.write('GET /stuck HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n')
    await expect.poll(() => stuck.length).toBe(1)
    const closing = running.close()
    expect(running.close({ timeoutMs: 60_000 })).toBe(closing)
    await expect(Promise.race([closing, after(HANG)])).rejects.toThrow('shutdown deadline (300 ms)')
  })

  it('resolves at once when only idle kept-alive connections are open', async () => {
    const { running } = await start({ keepAliveTimeoutMs: 60_000 })
    const clients = await Promise.all([1, 2, 3].map(() => RawConnection.open(running.url)))
    for (const client of clients) {
      expect((await client.exchange('GET / HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n'))?.headers.connection).toBe('keep-alive')
    }
    expect(await Promise.race([running.close().then(() => 'closed'), after(HANG)])).toBe('closed')
    expect(await Promise.race([Promise.all(clients.map((c) => c.closed)).then(() => 'all closed'), after(HANG)])).toBe('all closed')
  })

  it('a request sent on a busy kept-alive connection during the drain gets no answer after the connection: close one', async () => {
    const { running, stuck } = await start({ keepAliveTimeoutMs: 60_000 })
    // A stuck request keeps the server draining, so the busy connection is not closed for want of work.
    const holder = await RawConnection.open(running.url)
    holder.write('GET /stuck HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n')
    await expect.poll(() => stuck.length).toBe(1)
    const busy = await RawConnection.open(running.url)
    busy.write('GET /slow HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n')
    await expect.poll(() => slow.length).toBe(1)
    const closing = running.close({ timeoutMs: 1500 }).catch((error: Error) => error.message)
    busy.write('GET / HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n')
    slow[0]!()
    const answer = await busy.answer()
    expect(answer).toMatchObject({ status: 200, body: 'slow', headers: { connection: 'close' } })
    expect(await busy.answer()).toBeUndefined()
    // New connections are refused.
    await expect(fetch(running.url)).rejects.toThrow()
    expect(await closing).toMatch(/still running/)
  })

  it('waits for a request whose client hung up before resolving', async () => {
    const { running } = await start()
    const client = await RawConnection.open(running.url)
    client.write('GET /slow HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n')
    await expect.poll(() => slow.length).toBe(1)
    client.destroy()
    await client.closed
    const events: string[] = []
    const closing = running.close().then(() => events.push('closed'))
    await new Promise((resolve) => setTimeout(resolve, 100))
    events.push('handler finishes')
    slow[0]!()
    await closing
    expect(events).toEqual(['handler finishes', 'closed'])
  })
})
