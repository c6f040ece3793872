/**
 * Issue 12, finding 1: a small request made the server build a huge answer, because a
 * related row shared by many parents is repeated under each of them, level after level.
 * The answer's rows after fan-out and its bytes are bounded per request, across all its
 * queries, and a request over the bound is refused before the next relation level runs.
 */
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createExecutor, DEFAULT_LIMITS, type Limits } from '../../executor/index.js'
import { decode, encodeRequest, type ResponseBody } from '../../shared/wire.js'
import { DATABASE_KINDS } from '../support/databases.js'
import { openDemo } from '../support/demo.js'
import { headerAuth, openTenantApp, STAFF_1, tenantApi, type TenantApp } from '../support/tenant-app.js'

/** Row objects in a result, counting a related row each time it appears. */
function rowsIn(value: unknown): number {
  if (Array.isArray(value)) return value.reduce((n: number, item) => n + rowsIn(item), 0)
  if (value === null || typeof value !== 'object' || value instanceof Date) return 0
  let n = 1
  for (const inner of Object.values(value)) if (inner !== null && typeof inner === 'object' && !(inner instanceof Date)) n += rowsIn(inner)
  return n
}

const RELATIONS = { Label: ['tickets'], Ticket: ['project', 'labels'], Project: ['tickets'] } as const
const TARGET = { 'Label.tickets': 'Ticket', 'Ticket.project': 'Project', 'Ticket.labels': 'Label', 'Project.tickets': 'Ticket' } as Record<string, keyof typeof RELATIONS>

/** Graph shapes over the fan-out-heavy relations, up to `depth` levels. */
function graph(model: keyof typeof RELATIONS, depth: number): fc.Arbitrary<unknown[]> {
  if (depth === 0) return fc.constant([])
  return fc.subarray([...RELATIONS[model]]).chain((names) =>
    fc.tuple(
      ...names.map((relation) =>
        fc.record(
          { relation: fc.constant(relation), limit: fc.integer({ min: 1, max: 20 }), graph: graph(TARGET[`${model}.${relation}`]!, depth - 1) },
          { requiredKeys: ['relation', 'graph'] },
        ),
      ),
    ),
  )
}

describe.each(DATABASE_KINDS)('answers bounded after fan-out on %s', (kind) => {
  let app: TenantApp
  const executorWith = (limits: Partial<Limits>) =>
    createExecutor({ knex: app.knex, api: tenantApi, auth: headerAuth, logger: { error() {} }, limits })
  const post = async (limits: Partial<Limits>, queries: unknown[]) => {
    const response = await executorWith(limits)(
      new Request('http://tenants.test/orm', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-test-ctx': JSON.stringify(STAFF_1) },
        body: encodeRequest({ v: 1, queries } as never),
      }),
    )
    const text = await response.text()
    return { status: response.status, text, body: decode<ResponseBody & { error?: unknown }>(text) }
  }
  const deep = { model: 'Label', op: 'select', graph: [{ relation: 'tickets', graph: [{ relation: 'labels', graph: [{ relation: 'tickets', graph: [{ relation: 'labels' }] }] }] }] }

  beforeAll(async () => {
    app = await openTenantApp(kind)
  })
  afterAll(() => app?.close())

  it('counts each shared related row once per parent, exactly, and refuses one row over', async () => {
    // 5 labels → 12 tickets each → 5 labels each → 12 tickets each → 5 labels each.
    const full = await post({ maxResultRows: 1_000_000 }, [deep])
    const rows = rowsIn((full.body.results[0] as { data: unknown }).data)
    expect(rows).toBe(5 + 5 * 12 + 5 * 12 * 5 + 5 * 12 * 5 * 12 + 5 * 12 * 5 * 12 * 5)
    expect((await post({ maxResultRows: rows }, [deep])).body.results[0]).toHaveProperty('data')
    expect((await post({ maxResultRows: rows - 1 }, [deep])).body.results[0]).toMatchObject({ error: { code: 'LIMIT_EXCEEDED' } })
  })

  it('refuses before the next relation level is read', async () => {
    app.sql.length = 0
    // Level four alone (3,600 rows) passes 1,000: the fifth level's query never runs.
    const { body } = await post({ maxResultRows: 1000 }, [deep])
    expect(body.results[0]).toMatchObject({ error: { code: 'LIMIT_EXCEEDED', message: expect.stringContaining('1000 rows') } })
    const reads = app.sql.filter((statement) => /^select .* from "(labels|tickets)"/i.test(statement))
    expect(reads).toHaveLength(4)
  })

  it('reads no more rows from a relation level than the answer may still hold', async () => {
    app.sql.length = 0
    const { body } = await post({ maxResultRows: 30 }, [{ model: 'Label', op: 'select', graph: [{ relation: 'tickets' }] }])
    expect(body.results[0]).toMatchObject({ error: { code: 'LIMIT_EXCEEDED' } })
    // The relation query asked for at most the 25 rows left, plus one to tell.
    expect(app.sql.some((statement) => /limit \$\d+$/.test(statement))).toBe(true)
  })

  it('bounds fan-out through to-one relations shared by many rows', async () => {
    const shape = { model: 'Ticket', op: 'select', graph: [{ relation: 'project', graph: [{ relation: 'tickets', graph: [{ relation: 'project' }] }] }] }
    const full = await post({ maxResultRows: 1_000_000 }, [shape])
    const rows = rowsIn((full.body.results[0] as { data: unknown }).data)
    // 12 tickets, each with its project (4 tickets each, each with the project again).
    expect(rows).toBe(12 + 12 + 12 * 4 + 12 * 4)
    expect((await post({ maxResultRows: rows }, [shape])).body.results[0]).toHaveProperty('data')
    expect((await post({ maxResultRows: rows - 1 }, [shape])).body.results[0]).toMatchObject({ error: { code: 'LIMIT_EXCEEDED' } })
  })

  it('shares one budget across the queries of a batch, and gives back what a refused query took', async () => {
    const labels = { model: 'Label', op: 'select', graph: [{ relation: 'tickets' }] } // 65 rows
    const small = { model: 'Label', op: 'count' }
    const { body } = await post({ maxResultRows: 140 }, [labels, labels, deep, small, labels])
    expect(body.results.map((result) => ('data' in result ? 'data' : result.error.code))).toEqual(['data', 'data', 'LIMIT_EXCEEDED', 'data', 'LIMIT_EXCEEDED'])
  })

  it('bounds the answer in bytes too', async () => {
    await app.knex('tickets').where({ tenant_id: 1 }).update({ internal_note: 'x'.repeat(5000) })
    try {
      const query = { model: 'Ticket', op: 'select' }
      const full = await post({}, [query])
      const size = new TextEncoder().encode(full.text).length
      expect(size).toBeGreaterThan(60_000)
      // Sizes are measured as rows arrive, close to the text's: a few percent of slack.
      expect((await post({ maxResponseBytes: Math.ceil(size * 1.03) }, [query])).status).toBe(200)
      // Rows are measured as they arrive: past the limit the statement stops and the
      // request is refused as a whole.
      const refused = await post({ maxResponseBytes: 30_000 }, [query])
      expect(refused.status).toBe(422)
      expect(refused.body).toMatchObject({ error: { code: 'LIMIT_EXCEEDED', message: expect.stringContaining('30000 bytes') } })
      // The same rows repeated under many parents count each time.
      const fanned = await post({ maxResponseBytes: 200_000 }, [{ model: 'Label', op: 'select', graph: [{ relation: 'tickets' }] }])
      const error = fanned.status === 422 ? fanned.body.error : (fanned.body.results[0] as { error?: unknown }).error
      expect(error).toMatchObject({ code: 'LIMIT_EXCEEDED' })
    } finally {
      await app.knex('tickets').where({ tenant_id: 1 }).update({ internal_note: 'staff only' })
    }
  })

  it('never answers more than its limits, whatever the graph shape (fast-check)', async () => {
    const limits = { maxResultRows: 400, maxResponseBytes: 40_000 }
    await fc.assert(
      fc.asyncProperty(fc.constantFrom<keyof typeof RELATIONS>('Label', 'Ticket', 'Project'), fc.integer({ min: 0, max: 4 }), (model, depth) =>
        fc.assert(
          fc.asyncProperty(graph(model, depth), async (shape) => {
            const query = { model, op: 'select', graph: shape }
            const { status, text, body } = await post(limits, [query, query])
            if (status === 422) {
              expect(body).toMatchObject({ error: { code: 'LIMIT_EXCEEDED' } })
              return
            }
            expect(status).toBe(200)
            let rows = 0
            for (const result of body.results) {
              if ('error' in result) expect(result.error.code).toBe('LIMIT_EXCEEDED')
              else rows += rowsIn(result.data)
            }
            expect(rows).toBeLessThanOrEqual(limits.maxResultRows)
            expect(new TextEncoder().encode(text).length).toBeLessThanOrEqual(limits.maxResponseBytes)
          }),
          { numRuns: 6 },
        ),
      ),
      { numRuns: 10 },
    )
  })
})

describe('the demo attack with default limits (PostgreSQL)', () => {
  it('refuses Tag → posts → tags → posts → tags, alone and four in a batch, without building the answer', async () => {
    const demo = await openDemo('postgres')
    try {
      const attack = { model: 'Tag', op: 'select', graph: [{ relation: 'posts', graph: [{ relation: 'tags', graph: [{ relation: 'posts', graph: [{ relation: 'tags' }] }] }] }] }
      for (const queries of [[attack], [attack, attack, attack, attack]]) {
        const { status, body } = await demo.post({ v: 1, queries })
        expect(status).toBe(200)
        for (const result of (body as ResponseBody).results) {
          expect(result).toMatchObject({ error: { code: 'LIMIT_EXCEEDED', message: expect.stringContaining(`${DEFAULT_LIMITS.maxResultRows} rows`) } })
        }
      }
    } finally {
      await demo.close()
    }
  })

  it('states the largest answer a request can produce within the default limits', () => {
    // The cost model: whatever the shape, batch and relations, an answer holds at most
    // maxResultRows rows and maxResponseBytes bytes (fuzzed above on a fan-out fixture).
    expect(DEFAULT_LIMITS.maxResultRows).toBe(50_000)
    expect(DEFAULT_LIMITS.maxResponseBytes).toBe(16 * 1024 * 1024)
    expect(DEFAULT_LIMITS.maxResultRows).toBeLessThanOrEqual(DEFAULT_LIMITS.maxBatch * DEFAULT_LIMITS.maxLimit)
  })
})
