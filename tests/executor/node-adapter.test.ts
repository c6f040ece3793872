/**
 * The executor over real HTTP, through each Node adapter, called by the real client
 * with the global fetch.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient } from '../../client/index.js'
import { serve, toNodeHandler, type RunningServer } from '../../executor/node-adapter.js'
import type { DemoApi } from '../../examples/demo/api.js'
import { openDemo, type Demo } from '../support/demo.js'

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
