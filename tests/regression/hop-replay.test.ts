/**
 * Regression: a captured signed write was applied again. The hop signature covered the
 * timestamp, identity and body but not the `Idempotency-Key`, so within the skew window
 * one signed request replayed with new or no keys wrote a row each time. The signature
 * (now `async-orm-hop-v2`) covers the key or its absence, the proxy gives every request
 * it forwards a key, and with `idempotency: true` the exact replay is answered from the
 * store; a replay with the key removed or changed is 401.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { procedures, type DemoCtx } from '../../examples/demo/api.js'
import { proxyAuth } from '../../executor/index.js'
import { HOP_HEADERS, signHop, verifyHop } from '../../shared/hop-signature.js'
import { encodeRequest } from '../../shared/wire.js'
import { bearer, HOP_SECRET, now, startEdge, type CapturedRequest, type EdgeSetup } from '../support/edge-proxy.js'

const toCtx = (identity: Record<string, unknown>): DemoCtx => ({ authorId: BigInt(String(identity.sub)) })
const insertTag = (name: string) => ({ v: 1, queries: [{ model: 'Tag' as const, op: 'insert' as const, rows: [{ name }], returning: 'first' as const }] })

describe('replaying a request the proxy signed, straight to the executor', () => {
  let edge: EdgeSetup
  let author: Record<string, string>

  beforeAll(async () => {
    edge = await startEdge({ executor: { idempotency: true, procedures }, context: toCtx })
    author = await bearer({ sub: '1', exp: now() + 300 })
  })
  afterAll(() => edge?.close())

  const tagCount = async (name: string) => Number(((await edge.demo.knex('tags').where({ name }).count({ n: '*' })) as [{ n: string }])[0].n)
  /** Sends through the proxy and returns the request as the executor received it. */
  const capture = async (body: unknown, headers: Record<string, string> = author): Promise<CapturedRequest> => {
    const before = edge.received.length
    const answer = await edge.viaProxy(body, headers)
    expect(answer.status).toBe(200)
    expect(edge.received.length).toBe(before + 1)
    return edge.received.at(-1)!
  }

  it('gives every forwarded request a key: writes, reads, procedure calls, and bodies it cannot read', async () => {
    const bodies = [
      insertTag('keyed-write'),
      { v: 1, queries: [{ model: 'Tag', op: 'count' }] },
      { v: 1, queries: [{ model: 'Tag', op: 'count' }, { model: 'Tag', op: 'insert', rows: [{ name: 'keyed-mixed' }], returning: 'first' }] },
      { v: 1, queries: [{ op: 'call', procedure: 'moveViews', args: { from: 0, to: 0, views: 1 } }] },
      'not json at all',
    ]
    for (const body of bodies) {
      await edge.viaProxy(body, author)
      expect(edge.received.at(-1)!.headers.get('idempotency-key'), JSON.stringify(body)).toMatch(/^[0-9a-f-]{36}$/)
    }
    // A key the client chose is forwarded as it is.
    const chosen = await capture(insertTag('keyed-by-client'), { ...author, 'idempotency-key': 'client-chosen-key-1' })
    expect(chosen.headers.get('idempotency-key')).toBe('client-chosen-key-1')
  })

  it('applies a replayed write once, and refuses it with the key removed or changed', async () => {
    const name = `replayed-${now()}`
    const captured = await capture(insertTag(name))
    expect(await tagCount(name)).toBe(1)

    const exact = await edge.replay(captured)
    expect(exact.status).toBe(200)
    expect(exact.headers.get('idempotent-replayed')).toBe('true')
    for (const [label, changes] of [
      ['key removed', { 'idempotency-key': null }],
      ['another key', { 'idempotency-key': 'attacker-key-1' }],
      ['an empty key', { 'idempotency-key': '' }],
      ['the key "null"', { 'idempotency-key': 'null' }],
    ] as const) {
      const replayed = await edge.replay(captured, changes)
      expect(replayed.status, label).toBe(401)
      expect(replayed.body, label).toEqual({ error: { code: 'UNAUTHENTICATED', message: 'the proxy signature does not match' } })
    }
    expect(await tagCount(name)).toBe(1)
  })

  it('applies a write once however often it is replayed, with the client’s own key', async () => {
    const name = `client-keyed-${now()}`
    const headers = { ...author, 'idempotency-key': `client-key-${now()}` }
    const captured = await capture(insertTag(name), headers)
    const replays = await Promise.all([1, 2, 3].map(() => edge.replay(captured)))
    expect(replays.map((r) => r.status)).toEqual([200, 200, 200])
    // The client's own retry through the proxy, signed anew, is answered from the store too.
    const retry = await edge.viaProxy(insertTag(name), headers)
    expect(retry.headers.get('idempotent-replayed')).toBe('true')
    expect(await tagCount(name)).toBe(1)
  })

  it('applies a replayed procedure call or mixed batch once', async () => {
    const own = (await edge.demo.knex('posts').where({ author_id: 1 }).orderBy('id').select('id', 'views')) as { id: number; views: number }[]
    const from = own.find((post) => post.views > 0)
    const to = own.find((post) => post !== from)
    const views = async () => (await edge.demo.knex('posts').whereIn('id', [from!.id, to!.id]).orderBy('id').select('views')).map((row: { views: number }) => row.views)
    const start = await views()
    const call = await capture({ v: 1, queries: [{ op: 'call', procedure: 'moveViews', args: { from: from!.id, to: to!.id, views: 1 } }] })
    const name = `mixed-${now()}`
    const mixed = await capture({ v: 1, queries: [{ model: 'Tag', op: 'count' }, ...insertTag(name).queries] })
    for (const captured of [call, mixed, call, mixed]) expect((await edge.replay(captured)).headers.get('idempotent-replayed')).toBe('true')
    for (const captured of [call, mixed]) expect((await edge.replay(captured, { 'idempotency-key': null })).status).toBe(401)
    expect(await views()).toEqual([start[0]! - 1, start[1]! + 1])
    expect(await tagCount(name)).toBe(1)
  })

  it('answers a replayed read as before, and refuses it with the key removed', async () => {
    const captured = await capture({ v: 1, queries: [{ model: 'Tag', op: 'select', orderBy: [{ column: 'id', direction: 'asc' }], limit: 3 }] })
    const replayed = await edge.replay(captured)
    expect(replayed.status).toBe(200)
    expect(replayed.body).toMatchObject({ results: [{ data: expect.any(Array) }] })
    expect((await edge.replay(captured, { 'idempotency-key': null })).status).toBe(401)
  })

  it('refuses a replay with another body, identity or timestamp, or signed the old (v1) way', async () => {
    const captured = await capture(insertTag(`tampered-${now()}`))
    const other = { ...captured, body: encodeRequest(insertTag('tampered-other')) }
    expect((await edge.replay(other)).status).toBe(401)
    const identity = btoa(JSON.stringify({ sub: '2', aud: 'async-orm-tests' })).replace(/=+$/, '')
    expect((await edge.replay(captured, { [HOP_HEADERS.identity]: identity })).status).toBe(401)
    expect((await edge.replay(captured, { [HOP_HEADERS.timestamp]: String(Number(captured.headers.get(HOP_HEADERS.timestamp)) - 1) })).status).toBe(401)
    // The v1 message (no key) with the right secret: a downgrade is not accepted.
    const timestamp = String(now())
    const encodedIdentity = captured.headers.get(HOP_HEADERS.identity)!
    const bodyDigest = base64Url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(captured.body))))
    const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(HOP_SECRET), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
    const v1 = await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(`async-orm-hop-v1\n${timestamp}\n${encodedIdentity}\n${bodyDigest}`))
    for (const changes of [{ 'idempotency-key': null }, {}] as Record<string, string | null>[]) {
      const downgraded = await edge.replay(captured, { ...changes, [HOP_HEADERS.timestamp]: timestamp, [HOP_HEADERS.signature]: base64Url(new Uint8Array(v1)) })
      expect(downgraded.status).toBe(401)
    }
  })
})

describe('the hop signature covers the Idempotency-Key', () => {
  const body = JSON.stringify(insertTag('unit'))
  const headersFor = async (signedKey: string | null, sentKey: string | null) => {
    const headers = new Headers(await signHop(HOP_SECRET, { identity: { sub: '1' }, body, idempotencyKey: signedKey }))
    if (sentKey !== null) headers.set('idempotency-key', sentKey)
    return headers
  }

  it('verifies only the key it was signed with, absence included', async () => {
    const keys = [null, '', 'null', 'k1', 'k2', 'k1 ']
    for (const signed of keys) {
      for (const sent of keys) {
        const check = await verifyHop(HOP_SECRET, await headersFor(signed, sent), body, 60)
        // Header values lose surrounding spaces on the way, as they would over HTTP.
        const same = signed === (sent === null ? null : sent.trim())
        expect(check.ok, `signed ${JSON.stringify(signed)}, sent ${JSON.stringify(sent)}`).toBe(same)
      }
    }
  })

  it('makes proxyAuth refuse a request whose key was removed or changed', async () => {
    const auth = proxyAuth({ secret: HOP_SECRET })
    const request = async (signed: string | null, sent: string | null) => new Request('http://executor/orm', { method: 'POST', headers: await headersFor(signed, sent), body })
    await expect(auth(await request('k1', 'k1'), { body })).resolves.toEqual({ sub: '1' })
    await expect(auth(await request(null, null), { body })).resolves.toEqual({ sub: '1' })
    await expect(auth(await request('k1', null), { body })).rejects.toMatchObject({ code: 'UNAUTHENTICATED' })
    await expect(auth(await request('k1', 'k2'), { body })).rejects.toMatchObject({ code: 'UNAUTHENTICATED' })
    await expect(auth(await request(null, 'k1'), { body })).rejects.toMatchObject({ code: 'UNAUTHENTICATED' })
  })
})

function base64Url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}
