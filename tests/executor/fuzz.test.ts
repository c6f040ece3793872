/**
 * Property-based fuzzing with fast-check, on PostgreSQL and PGlite: random well-formed
 * queries over the demo API are answered (never with a 5xx or INTERNAL), random
 * malformed payloads never produce a 5xx, and nothing pollutes Object.prototype.
 */
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encode } from '../../shared/wire.js'
import { DATABASE_KINDS } from '../support/databases.js'
import { openDemo, type Demo } from '../support/demo.js'

const MODELS = {
  Author: { columns: ['id', 'name', 'bio', 'rating', 'meta', 'createdAt'], relations: { profile: 'Profile', posts: 'Post', comments: 'Comment' } },
  Profile: { columns: ['id', 'authorId', 'website', 'location'], relations: { author: 'Author' } },
  Post: { columns: ['id', 'authorId', 'title', 'body', 'published', 'views', 'createdAt'], relations: { author: 'Author', comments: 'Comment', tags: 'Tag' } },
  Comment: { columns: ['id', 'postId', 'authorId', 'body', 'createdAt'], relations: { post: 'Post', author: 'Author' } },
  Tag: { columns: ['id', 'name'], relations: { posts: 'Post' } },
} as const
type ModelName = keyof typeof MODELS

const scalar = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.integer({ min: -5, max: 5000 }),
  fc.bigInt({ min: -5n, max: 500n }),
  fc.boolean(),
  fc.date({ min: new Date('2023-01-01'), max: new Date('2026-01-01'), noInvalidDate: true }),
  fc.constantFrom('%a%', 'A%', '2024-03-01', '1.5', '{"a":1}', "'; drop table posts; --"),
)

function filter(model: ModelName, depth: number): fc.Arbitrary<unknown> {
  const { columns, relations } = MODELS[model]
  const column = fc.constantFrom(...columns)
  const leaves = [
    fc.record({ kind: fc.constant('compare'), column, op: fc.constantFrom('=', '!=', '<>', '<', '<=', '>', '>=', 'like', 'ilike', 'not like', 'not ilike'), value: scalar }),
    fc.record({ kind: fc.constant('in'), column, values: fc.array(scalar, { maxLength: 4 }), negated: fc.boolean() }),
    fc.record({ kind: fc.constant('null'), column, negated: fc.boolean() }),
    fc.record({ kind: fc.constant('between'), column, low: scalar, high: scalar }),
    fc.record({ kind: fc.constant('id'), ids: fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 3 }) }),
  ]
  if (depth <= 0) return fc.oneof(...leaves)
  const relation = fc.constantFrom(...(Object.keys(relations) as (keyof typeof relations)[]))
  return fc.oneof(
    ...leaves,
    fc.record({ kind: fc.constantFrom('and', 'or'), filters: fc.array(filter(model, depth - 1), { maxLength: 3 }) }),
    fc.record({ kind: fc.constant('not'), filter: filter(model, depth - 1) }),
    relation.chain((name) =>
      fc.record(
        { kind: fc.constant('exists'), relation: fc.constant(name), where: filter(relations[name as keyof typeof relations] as ModelName, depth - 1), negated: fc.boolean() },
        { requiredKeys: ['kind', 'relation'] },
      ),
    ),
  )
}

function graph(model: ModelName, depth: number): fc.Arbitrary<unknown[]> {
  const { relations } = MODELS[model]
  const names = Object.keys(relations) as (keyof typeof relations)[]
  if (depth <= 0) return fc.constant([])
  return fc.uniqueArray(fc.constantFrom(...names), { maxLength: 2 }).chain((picked) =>
    fc.tuple(
      ...picked.map((name) => {
        const target = relations[name] as ModelName
        return fc.record(
          {
            relation: fc.constant(name),
            where: filter(target, 1),
            orderBy: fc.array(fc.record({ column: fc.constantFrom(...MODELS[target].columns), direction: fc.constantFrom('asc', 'desc') }), { maxLength: 2 }),
            limit: fc.integer({ min: 0, max: 5 }),
            graph: graph(target, depth - 1),
          },
          { requiredKeys: ['relation'] },
        )
      }),
    ),
  )
}

const query = fc.constantFrom(...(Object.keys(MODELS) as ModelName[])).chain((model) =>
  fc.record(
    {
      model: fc.constant(model),
      op: fc.constantFrom('select', 'first', 'page', 'count', 'exists'),
      select: fc.uniqueArray(fc.constantFrom(...MODELS[model].columns), { minLength: 1, maxLength: 3 }),
      distinct: fc.boolean(),
      where: filter(model, 2),
      orderBy: fc.array(fc.record({ column: fc.constantFrom(...MODELS[model].columns), direction: fc.constantFrom('asc', 'desc'), nulls: fc.constantFrom('first', 'last') }), { maxLength: 2 }),
      limit: fc.integer({ min: 0, max: 50 }),
      offset: fc.integer({ min: 0, max: 20 }),
      graph: graph(model, 2),
    },
    { requiredKeys: ['model', 'op'] },
  ),
)

const aggregate = fc.constantFrom(...(Object.keys(MODELS) as ModelName[])).chain((model) =>
  fc.record({
    model: fc.constant(model),
    op: fc.constant('aggregate'),
    groupBy: fc.uniqueArray(fc.constantFrom(...MODELS[model].columns), { minLength: 1, maxLength: 2 }),
    aggregates: fc.tuple(
      fc.record({ fn: fc.constantFrom('count', 'sum', 'avg', 'min', 'max'), column: fc.constantFrom(...MODELS[model].columns), alias: fc.constant('a1'), distinct: fc.boolean() }),
    ),
    where: filter(model, 1),
  }),
)

describe.each(DATABASE_KINDS)('fuzzing on %s', (kind) => {
  let demo: Demo

  beforeAll(async () => {
    demo = await openDemo(kind)
  })
  afterAll(() => demo?.close())

  it('answers random well-formed queries with data or a 4xx error, never INTERNAL', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof({ weight: 4, arbitrary: query }, { weight: 1, arbitrary: aggregate }), { minLength: 1, maxLength: 4 }), async (queries) => {
        const { status, body } = await demo.post({ v: 1, queries })
        expect(status).toBe(200)
        for (const result of (body as { results: { error?: { code: string } }[] }).results) {
          if (result.error) expect(['BAD_REQUEST', 'LIMIT_EXCEEDED', 'FORBIDDEN'], JSON.stringify(result.error)).toContain(result.error.code)
        }
      }),
      { numRuns: 150 },
    )
  })

  it('never answers random malformed payloads with a 5xx', async () => {
    const payload = fc.oneof(
      fc.jsonValue().map((json) => JSON.stringify(json)),
      fc.jsonValue().map((json) => JSON.stringify({ json })),
      fc.jsonValue().map((json) => JSON.stringify({ json: { v: 1, queries: [json] } })),
      fc.record({ model: fc.constantFrom('Author', 'Post', '__proto__', 'constructor'), op: fc.string(), where: fc.jsonValue() }).map((q) => encode({ v: 1, queries: [q] })),
      fc.tuple(fc.jsonValue(), fc.dictionary(fc.string(), fc.array(fc.constantFrom('Date', 'bigint', 'undefined', 'map', 'set', 'regexp'), { maxLength: 2 }))).map(([json, values]) =>
        JSON.stringify({ json: { v: 1, queries: [json] }, meta: { values } }),
      ),
      fc.string(),
    )
    await fc.assert(
      fc.asyncProperty(payload, async (text) => {
        const { status } = await demo.post(text)
        expect(status).toBeLessThan(500)
      }),
      { numRuns: 300 },
    )
    expect(Object.prototype).not.toHaveProperty('polluted')
    expect(({} as Record<string, unknown>).constructor).toBe(Object)
  })
})
