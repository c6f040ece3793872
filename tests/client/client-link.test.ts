/**
 * What the client offers integrations: one observer of every request (fields added to
 * an envelope, each request seen as it settles, before its callers resume) and a ping
 * that sends those fields on their own when no request takes them along.
 */
import { describe, expect, it } from 'vitest'
import { createClient } from '../../client/index.js'
import { linkOf, type SentRequest } from '../../client/client-link.js'
import type { DemoApi } from '../../examples/demo/api.js'
import { decode, encode, type RequestBody } from '../../shared/wire.js'

/** A client whose executor answers every query with `[]`, or refuses a field (as unknown, or as making the answer too large). */
function fakeClient(options: { refuse?: string; code?: 'BAD_REQUEST' | 'LIMIT_EXCEEDED' } = {}) {
  const bodies: (RequestBody & Record<string, unknown>)[] = []
  const db = createClient<DemoApi>({
    url: 'http://link.test/orm',
    retry: 0,
    fetch: async (_input, init) => {
      const body = decode<RequestBody & Record<string, unknown>>(String(init?.body))
      bodies.push(body)
      if (options.refuse && options.refuse in body) {
        const code = options.code ?? 'BAD_REQUEST'
        const message = code === 'BAD_REQUEST' ? `unknown field "${options.refuse}" in request` : 'the answer is larger than maxResponseBytes'
        return new Response(encode({ error: { code, message } }), { status: code === 'BAD_REQUEST' ? 400 : 422 })
      }
      return new Response(encode({ results: body.queries.map(() => ({ data: [] })), ...(body.hint !== undefined && { echo: body.hint }) }))
    },
  })
  return { db, bodies, link: linkOf(db.Tag.query())! }
}

describe('the client link', () => {
  it('adds an observer’s fields to a request, and shows it the request as it settles, before its callers resume', async () => {
    const { db, bodies, link } = fakeClient()
    const seen: string[] = []
    link.observe({
      extend: (queries) => (queries.length === 2 ? { hint: 'two' } : undefined),
      settled: (request: SentRequest) => seen.push(`settled ${request.queries.length} ${JSON.stringify(request.extended)} ${JSON.stringify((request.body as { echo?: string } | undefined)?.echo)}`),
    })
    await Promise.all([db.Tag.query(), db.Post.query()]).then(() => seen.push('callers'))
    await db.Tag.query().then(() => seen.push('caller'))
    expect(bodies.map((b) => b.hint)).toEqual(['two', undefined])
    expect(seen).toEqual(['settled 2 {"hint":"two"} "two"', 'callers', 'settled 1 {} undefined', 'caller'])
  })

  it('sends a ping’s fields on their own, once, unless a request of the same tick took them', async () => {
    const { db, bodies, link } = fakeClient()
    let wanted = true
    link.observe({ extend: () => (wanted ? ((wanted = false), { hint: 'alone' }) : undefined), settled: () => undefined })
    link.ping()
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(bodies).toEqual([{ v: 1, queries: [], hint: 'alone' }])
    wanted = true
    link.ping()
    await db.Tag.query()
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(bodies.slice(1).map((b) => [b.queries.length, b.hint])).toEqual([[1, 'alone']])
    // Nothing to add: a ping sends nothing.
    link.ping()
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(bodies).toHaveLength(2)
  })

  it('sends a request again without fields the executor does not know, and keeps going when an observer throws', async () => {
    const { db, bodies, link } = fakeClient({ refuse: 'hint' })
    const errors: unknown[] = []
    link.observe({ extend: () => ({ hint: 'new' }), settled: (request) => void errors.push(request.error && (request.error as { code?: string }).code) })
    link.observe({
      settled: () => {
        throw new Error('an observer’s own failure')
      },
    })
    await expect(db.Tag.query()).resolves.toEqual([])
    expect(bodies.map((b) => 'hint' in b)).toEqual([true, false])
    expect(errors).toEqual(['BAD_REQUEST', undefined])
  })

  it('sends a request of reads again without what made its answer too large, but never a write', async () => {
    const { db, bodies, link } = fakeClient({ refuse: 'hint', code: 'LIMIT_EXCEEDED' })
    link.observe({ extend: () => ({ hint: 'large' }), settled: () => undefined })
    await expect(db.Tag.query()).resolves.toEqual([])
    expect(bodies.map((b) => 'hint' in b)).toEqual([true, false])
    await expect(db.Tag.query().insert({ name: 'x' })).rejects.toMatchObject({ code: 'LIMIT_EXCEEDED' })
    expect(bodies.slice(2).map((b) => 'hint' in b)).toEqual([true])
  })
})
