/**
 * The client sends with ofetch: an app's configured `$fetch` instance (Nuxt-style,
 * `ofetch.create({ baseURL, onRequest })`) works as the client's `fetch`, ofetch's hooks
 * given to `createClient` run on every HTTP request — each retry too — and MSW, installed
 * after the client was made, intercepts what it sends. The retries stay the protocol's.
 */
import { http, HttpResponse } from 'msw'
import { setupServer } from 'msw/node'
import { ofetch, type FetchContext } from 'ofetch'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createClient } from '../../client/index.js'
import type { DemoApi } from '../../examples/demo/api.js'
import { ormStubs } from '../../msw/stubs.js'
import { encode } from '../../shared/wire.js'

const BASE = 'http://app.ofetch.test'

describe('the client over ofetch', () => {
  // Made before MSW starts: a mock installed later still applies.
  const seen: string[] = []
  const $fetch = ofetch.create({
    baseURL: BASE,
    onRequest: ({ options }: FetchContext) => {
      options.headers = new Headers(options.headers)
      options.headers.set('authorization', 'Bearer from-the-app')
      seen.push('instance onRequest')
    },
  })
  const db = createClient<DemoApi>({ url: '/orm', fetch: $fetch, batch: false })
  const stubs = ormStubs({ url: `${BASE}/orm` })
  const server = setupServer(stubs.handler)
  beforeAll(() => server.listen({ onUnhandledRequest: 'error' }))
  afterEach(() => {
    stubs.reset()
    seen.length = 0
    server.resetHandlers(stubs.handler)
  })
  afterAll(() => server.close())

  it('sends through the app’s $fetch instance: its baseURL, its hooks', async () => {
    stubs.answer('Tag', 'select', [{ id: 1, name: 'edge' }])
    expect(await db.Tag.query()).toEqual([{ id: 1, name: 'edge' }])
    expect(seen).toEqual(['instance onRequest'])
    expect(stubs.requests[0]!.headers.get('authorization')).toBe('Bearer from-the-app')
    expect(stubs.requests[0]!.headers.get('content-type')).toBe('application/json')
  })

  it('calls the hooks given to createClient once per HTTP request, retries included', async () => {
    const calls: { hook: string; status?: number }[] = []
    const hooked = createClient<DemoApi>({
      url: `${BASE}/orm`,
      batch: false,
      retryDelay: 1,
      onRequest: () => void calls.push({ hook: 'onRequest' }),
      onResponse: ({ response }) => void calls.push({ hook: 'onResponse', status: response?.status }),
      onResponseError: ({ response }) => void calls.push({ hook: 'onResponseError', status: response?.status }),
    })
    let attempts = 0
    server.use(
      http.post(`${BASE}/orm`, () =>
        ++attempts === 1
          ? HttpResponse.text(encode({ error: { code: 'UNAVAILABLE', message: 'the database is unavailable; retry later' } }), { status: 503 })
          : HttpResponse.text(encode({ results: [{ data: [] }] }), { headers: { 'content-type': 'application/json' } }),
      ),
    )
    expect(await hooked.Tag.query()).toEqual([])
    expect(attempts).toBe(2)
    expect(calls).toEqual([
      { hook: 'onRequest' },
      { hook: 'onResponse', status: 503 },
      { hook: 'onResponseError', status: 503 },
      { hook: 'onRequest' },
      { hook: 'onResponse', status: 200 },
    ])
  })

  it('turns an error status into the executor’s AsyncOrmError after onResponseError, without retrying it', async () => {
    let errors = 0
    const hooked = createClient<DemoApi>({ url: `${BASE}/orm`, batch: false, onResponseError: () => void errors++ })
    stubs.fail('Tag', 'select', 'FORBIDDEN', 'reading Tag is not allowed')
    server.use(http.post(`${BASE}/orm`, () => HttpResponse.text(encode({ error: { code: 'UNAUTHENTICATED', message: 'token expired' } }), { status: 401 })))
    await expect(hooked.Tag.query()).rejects.toMatchObject({ code: 'UNAUTHENTICATED', status: 401, message: expect.stringContaining('token expired') })
    expect(errors).toBe(1)
  })

  it('keeps the protocol’s retries: a write is retried with its idempotency key, ofetch retries nothing itself', async () => {
    const keys: (string | null)[] = []
    server.use(
      http.post(`${BASE}/orm`, ({ request }) => {
        keys.push(request.headers.get('idempotency-key'))
        return keys.length === 1 ? HttpResponse.text('', { status: 500 }) : HttpResponse.text(encode({ results: [{ data: { id: 1, name: 'x' } }] }))
      }),
    )
    const writer = createClient<DemoApi>({ url: `${BASE}/orm`, batch: false, retryDelay: 1 })
    // A 500 is an answer: neither ofetch (which would retry it) nor the client sends again.
    await expect(writer.Tag.query().insert({ name: 'x' } as never)).rejects.toMatchObject({ code: 'INTERNAL', status: 500 })
    expect(keys).toHaveLength(1)
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/)
  })
})
