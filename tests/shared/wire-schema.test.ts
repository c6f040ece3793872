/**
 * `shared/wire-schema.json`, the machine-readable description of a request, checked
 * against the AST definitions and against what the client really sends, so it cannot
 * drift from the code.
 */
import { readFileSync } from 'node:fs'
import { Ajv } from 'ajv'
import { describe, expect, it } from 'vitest'
import { createClient } from '../../client/index.js'
import type { DemoApi } from '../../examples/demo/api.js'
import { AGGREGATE_FUNCTIONS, ALIAS_PATTERN, COMPARISON_OPERATORS, FILTER_KINDS, READ_OPS } from '../../shared/query-ast.js'
import { encode, PROTOCOL_VERSION } from '../../shared/wire.js'

const schema = JSON.parse(readFileSync(new URL('../../shared/wire-schema.json', import.meta.url), 'utf8'))
const validate = new Ajv({ strict: false }).compile(schema)
const db = createClient<DemoApi>({ url: 'http://schema.test/orm' })

describe('the wire JSON Schema', () => {
  it('lists exactly the operators, kinds, operations and functions the AST defines', () => {
    const filters = schema.definitions.filter.oneOf as { properties: { kind: { const?: string; enum?: string[] }; op?: { enum: string[] } } }[]
    expect(filters.flatMap((f) => f.properties.kind.enum ?? [f.properties.kind.const]).sort()).toEqual([...FILTER_KINDS].sort())
    expect(filters[0]!.properties.op!.enum).toEqual([...COMPARISON_OPERATORS])
    expect(schema.definitions.query.properties.op.enum).toEqual([...READ_OPS])
    expect(schema.definitions.aggregate.properties.fn.enum).toEqual([...AGGREGATE_FUNCTIONS])
    expect(schema.definitions.aggregate.properties.alias.pattern).toBe(ALIAS_PATTERN.source)
    expect(schema.properties.json.properties.v.const).toBe(PROTOCOL_VERSION)
  })

  it('accepts every request the client builds', () => {
    const querysets = [
      db.Author.query().where('id', 1n).orWhere((q) => q.whereNull('bio').whereNotIn('name', ['x'])).orderBy('createdAt', 'desc', 'last').limit(3).offset(1),
      db.Author.query().findById(1n).withGraphFetched({ profile: true, posts: (p) => p.where('createdAt', '>', new Date(0)).limit(2).withGraphFetched({ tags: true }) }),
      db.Post.query().whereExists('tags', (t) => t.whereILike('name', '%e%')).page(1, 20),
      db.Post.query().groupBy('authorId').countDistinct('id as n').avg('views as a'),
      db.Post.query().whereBetween('createdAt', [new Date(0), new Date()]).whereNot({ views: 1 }).distinct('authorId'),
      db.Tag.query().findByIds([1, 2]).exists(),
      db.Post.objects.filter({ title__icontains: 'x', authorId__isnull: false, views__range: [1, 2] }).exclude({ id__in: [1] }),
      db.Author.query().withGraphFetched('posts(recent)').whereFilter({ kind: 'modifier', name: 'x', args: [1, 'a'] }),
      db.Author.relatedQuery('posts').for([1n, 2n]).where('views', '>', 1).select('id', db.Post.relatedQuery('tags').count().as('n')),
      db.Post.query().joinRelated('author').leftJoinRelated('author.profile').where('author.name', 'x').orderBy('author.name').select('id', 'author.name as authorName'),
      db.Author.query().select('id', db.Author.relatedQuery('posts').where('published', true).max('views').as('top')).withGraphFetched({ posts: (p) => p.select('id', db.Post.relatedQuery('comments').count().as('comments')) }),
    ]
    for (const qs of querysets) {
      const document = JSON.parse(encode({ v: 1, queries: [qs.toJSON()] }))
      expect(validate(document), JSON.stringify(validate.errors)).toBe(true)
    }
    const stream = JSON.parse(encode({ v: 1, queries: [db.Post.query().where('views', '>', 1).orderBy('id').toJSON()], stream: true }))
    expect(validate(stream), JSON.stringify(validate.errors)).toBe(true)
    // Asking for the API's description: with reads, or alone.
    for (const body of [{ v: 1, queries: [db.Tag.query().toJSON()], describe: true }, { v: 1, queries: [], describe: true }]) {
      expect(validate(JSON.parse(encode(body))), JSON.stringify(validate.errors)).toBe(true)
    }
  })

  it('takes no queries only from a request that asks for the description', () => {
    expect(validate({ json: { v: 1, queries: [], describe: false } })).toBe(false)
    expect(validate({ json: { v: 1, queries: [], describe: 'yes' } })).toBe(false)
    expect(validate({ json: { v: 1, queries: [], atomic: 1 } })).toBe(false)
  })

  it('rejects what the executor rejects for its shape', () => {
    const bad = [
      { json: { v: 1, queries: [] } },
      { json: { v: 2, queries: [{ model: 'A', op: 'select' }] } },
      { json: { v: 1, queries: [{ model: 'A', op: 'select' }], sql: 'x' } },
      { json: { v: 1, queries: [{ model: 'A', op: 'drop' }] } },
      { json: { v: 1, queries: [{ model: 'A', op: 'select', raw: 'x' }] } },
      { json: { v: 1, queries: [{ model: 'A', op: 'select', where: { kind: 'raw', sql: 'x' } }] } },
      { json: { v: 1, queries: [{ model: 'A', op: 'select', where: { kind: 'compare', column: 'a', op: '~', value: 1 } }] } },
      { json: { v: 1, queries: [{ model: 'A', op: 'select', where: { kind: 'compare', column: 'a', op: '=', value: { x: 1 } } }] } },
      { json: { v: 1, queries: [{ model: 'A', op: 'select', limit: -1 }] } },
      { json: { v: 1, queries: [{ model: 'A', op: 'aggregate', aggregates: [{ fn: 'count', alias: 'a b' }] }] } },
      { json: { v: 1, queries: [{ model: 'A', op: 'select', graph: [{ relation: 'p', modify: 'x' }] }] } },
      { json: { v: 1, queries: [{ model: 'A', op: 'select' }] }, meta: { referentialEqualities: {} } },
      { json: { v: 1, queries: [{ model: 'A', op: 'select' }] }, meta: { values: { 'queries.0.model': ['map'] } } },
    ]
    for (const document of bad) expect(validate(document), JSON.stringify(document)).toBe(false)
  })
})
