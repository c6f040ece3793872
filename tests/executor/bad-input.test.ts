/**
 * Hostile and malformed requests: each is refused with its documented code, runs no
 * SQL at all (a spy sees every statement knex sends), and leaves the executor healthy.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { encode } from '../../shared/wire.js'
import { DATABASE_KINDS } from '../support/databases.js'
import { openDemo, type Demo } from '../support/demo.js'

const author = (extra: Record<string, unknown>) => ({ model: 'Author', op: 'select', ...extra })
const where = (filter: unknown) => author({ where: filter })
const compare = (column: string, op: string, value: unknown) => where({ kind: 'compare', column, op, value })
const nest = (depth: number): unknown => (depth === 0 ? { kind: 'null', column: 'bio' } : { kind: 'not', filter: nest(depth - 1) })
const deepGraph = (depth: number): unknown[] =>
  depth === 0 ? [] : [{ relation: depth % 2 === 0 ? 'posts' : 'author', graph: deepGraph(depth - 1) }]

/** Per-query rejections: the request is fine, the query is not. */
const QUERY_CASES: [name: string, query: unknown, code: string][] = [
  ['an unknown model', { model: 'Nope', op: 'select' }, 'BAD_REQUEST'],
  ['a model named like an Object.prototype key', { model: 'toString', op: 'select' }, 'BAD_REQUEST'],
  ['an unknown operation', { model: 'Author', op: 'drop' }, 'BAD_REQUEST'],
  ['a write that is not granted', { model: 'Author', op: 'delete', where: { kind: 'id', ids: [1] }, returning: 'count' }, 'FORBIDDEN'],
  ['a missing model', { op: 'select' }, 'BAD_REQUEST'],
  ['an unknown field on a query', author({ raw: 'select 1' }), 'BAD_REQUEST'],
  ['an unknown column in select', author({ select: ['nope'] }), 'BAD_REQUEST'],
  ['a hidden column in select', author({ select: ['email'] }), 'BAD_REQUEST'],
  ['a hidden column in a filter (an oracle)', compare('email', '=', 'author1@example.com'), 'BAD_REQUEST'],
  ['a hidden column in orderBy', author({ orderBy: [{ column: 'email', direction: 'asc' }] }), 'BAD_REQUEST'],
  ['a hidden column through a relation filter', { model: 'Author', op: 'select', where: { kind: 'exists', relation: 'posts', where: { kind: 'compare', column: 'draftNotes', op: 'like', value: 'private%' } } }, 'BAD_REQUEST'],
  ['a hidden column in a relation select', author({ graph: [{ relation: 'posts', select: ['draftNotes'] }] }), 'BAD_REQUEST'],
  ['a hidden column in an aggregate', { model: 'Author', op: 'aggregate', aggregates: [{ fn: 'max', column: 'email', alias: 'm' }] }, 'BAD_REQUEST'],
  ['a hidden column in groupBy', { model: 'Author', op: 'aggregate', groupBy: ['email'], aggregates: [{ fn: 'count', alias: 'n' }] }, 'BAD_REQUEST'],
  ['a quoted identifier', author({ select: ['name" from authors; --'] }), 'BAD_REQUEST'],
  ['a qualified identifier', author({ select: ['authors.email'] }), 'BAD_REQUEST'],
  ['an aliased identifier', author({ select: ['email as name'] }), 'BAD_REQUEST'],
  ['a wildcard identifier', author({ select: ['*'] }), 'BAD_REQUEST'],
  ['a cast in an identifier', author({ select: ['id::text'] }), 'BAD_REQUEST'],
  ['a JSON path in an identifier', compare('meta:languages[0]', '=', 'en'), 'BAD_REQUEST'],
  ['a JSON arrow in an identifier', compare("meta->>'verified'", '=', 'true'), 'BAD_REQUEST'],
  ['a NUL in an identifier', author({ select: ['name\u0000'] }), 'BAD_REQUEST'],
  ['an operator outside the list', compare('name', '~', 'A.*'), 'BAD_REQUEST'],
  ['SQL in the operator', compare('name', '= name or 1=1 --', 'x'), 'BAD_REQUEST'],
  ['an unknown filter kind', where({ kind: 'raw', sql: 'true' }), 'BAD_REQUEST'],
  ['an extra field on a filter', where({ kind: 'null', column: 'bio', sql: 'true' }), 'BAD_REQUEST'],
  ['an object as a value', compare('name', '=', { toString: 'x' }), 'BAD_REQUEST'],
  ['an array as a compare value', compare('name', '=', ['a', 'b']), 'BAD_REQUEST'],
  ['a NUL in a string value', compare('name', '=', 'a\u0000b'), 'BAD_REQUEST'],
  ['a null compared with =', compare('name', '=', null), 'BAD_REQUEST'],
  ['a non-string like pattern', compare('name', 'like', 5), 'BAD_REQUEST'],
  ['an unknown relation', author({ graph: [{ relation: 'secrets' }] }), 'BAD_REQUEST'],
  ['a relation expression string', author({ graph: [{ relation: '[posts, comments]' }] }), 'BAD_REQUEST'],
  ['a wildcard relation', author({ graph: [{ relation: '*' }] }), 'BAD_REQUEST'],
  ['a recursive relation', author({ graph: [{ relation: 'posts^' }] }), 'BAD_REQUEST'],
  ['a relation modifier', author({ graph: [{ relation: 'posts(published)' }] }), 'BAD_REQUEST'],
  ['a modifier field on a relation', author({ graph: [{ relation: 'posts', modify: 'published' }] }), 'BAD_REQUEST'],
  ['an unknown relation in a filter', where({ kind: 'exists', relation: 'secrets' }), 'BAD_REQUEST'],
  ['relations nested too deep', author({ graph: deepGraph(6) }), 'LIMIT_EXCEEDED'],
  ['a limit above the maximum', author({ limit: 100_000 }), 'LIMIT_EXCEEDED'],
  ['a relation limit above the maximum', author({ graph: [{ relation: 'posts', limit: 100_000 }] }), 'LIMIT_EXCEEDED'],
  ['a negative limit', author({ limit: -1 }), 'BAD_REQUEST'],
  ['a fractional offset', author({ offset: 1.5 }), 'BAD_REQUEST'],
  ['a string limit', author({ limit: '10; drop table authors' }), 'BAD_REQUEST'],
  ['a huge IN list', where({ kind: 'in', column: 'id', values: Array.from({ length: 1001 }, (_, i) => i) }), 'LIMIT_EXCEEDED'],
  ['a huge findByIds', where({ kind: 'id', ids: Array.from({ length: 1001 }, (_, i) => i) }), 'LIMIT_EXCEEDED'],
  ['a very long string', compare('name', '=', 'x'.repeat(10_001)), 'LIMIT_EXCEEDED'],
  ['an aggregate alias with SQL in it', { model: 'Post', op: 'aggregate', aggregates: [{ fn: 'count', alias: 'n"; drop table posts; --' }] }, 'BAD_REQUEST'],
  ['an unknown aggregate function', { model: 'Post', op: 'aggregate', aggregates: [{ fn: 'pg_sleep', column: 'views', alias: 'n' }] }, 'BAD_REQUEST'],
  ['an order direction with SQL in it', author({ orderBy: [{ column: 'id', direction: 'asc, (select 1)' }] }), 'BAD_REQUEST'],
  ['an aggregate ordered by a plain column', { model: 'Post', op: 'aggregate', aggregates: [{ fn: 'count', alias: 'n' }], orderBy: [{ column: 'title', direction: 'asc' }] }, 'BAD_REQUEST'],
  ['a composite id of the wrong size', where({ kind: 'id', ids: [[1, 2]] }), 'BAD_REQUEST'],
]

describe.each(DATABASE_KINDS)('bad input on %s', (kind) => {
  let demo: Demo

  beforeAll(async () => {
    demo = await openDemo(kind)
  })
  afterAll(() => demo?.close())
  beforeEach(() => {
    demo.sql.length = 0
  })

  it.each(QUERY_CASES)('rejects %s, running no SQL', async (_name, query, code) => {
    const { status, body } = await demo.post({ v: 1, queries: [query] })
    expect(status).toBe(200)
    expect(body).toMatchObject({ results: [{ error: { code } }] })
    expect(demo.sql).toEqual([])
  })

  it('says the same of a hidden column as of a column that does not exist', async () => {
    const hidden = await demo.run(compare('email', '=', 'x'))
    const missing = await demo.run(compare('emial', '=', 'x'))
    expect(hidden[0]).toEqual({ error: { code: 'BAD_REQUEST', message: 'unknown column "email" on Author' } })
    expect(missing[0]).toEqual({ error: { code: 'BAD_REQUEST', message: 'unknown column "emial" on Author' } })
  })

  it('binds SQL in value positions as a plain value', async () => {
    const results = await demo.run(compare('name', '=', "x'; drop table authors; --"), { model: 'Author', op: 'count' })
    expect(results[0]).toEqual({ data: [] })
    expect(results[1]).toMatchObject({ data: expect.any(Number) })
  })

  const post = (init: RequestInit) =>
    demo.executor(new Request('http://test.local/orm', { method: 'POST', headers: { 'content-type': 'application/json' }, ...init }))

  const REQUEST_CASES: [name: string, init: () => RequestInit, status: number, code: string][] = [
    ['a GET', () => ({ method: 'GET', body: null }), 400, 'BAD_REQUEST'],
    ['a form post (no JSON content type, as CSRF would send)', () => ({ headers: { 'content-type': 'text/plain' }, body: encode({ v: 1, queries: [author({})] }) }), 400, 'BAD_REQUEST'],
    ['a body that is not JSON', () => ({ body: '{"json": ' }), 400, 'BAD_REQUEST'],
    ['a body that is not UTF-8', () => ({ body: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]) }), 400, 'BAD_REQUEST'],
    ['a body that is not a superjson document', () => ({ body: JSON.stringify({ v: 1, queries: [] }) }), 400, 'BAD_REQUEST'],
    ['another protocol version', () => ({ body: encode({ v: 2, queries: [author({})] }) }), 400, 'UNSUPPORTED_VERSION'],
    ['no queries', () => ({ body: encode({ v: 1, queries: [] }) }), 400, 'BAD_REQUEST'],
    ['queries that are not an array', () => ({ body: encode({ v: 1, queries: { 0: author({}) } }) }), 400, 'BAD_REQUEST'],
    ['an unknown envelope field', () => ({ body: encode({ v: 1, queries: [author({})], sql: 'select 1' }) }), 400, 'BAD_REQUEST'],
    ['too many queries', () => ({ body: encode({ v: 1, queries: Array.from({ length: 51 }, () => author({})) }) }), 422, 'LIMIT_EXCEEDED'],
    ['a declared body over the limit', () => ({ headers: { 'content-type': 'application/json', 'content-length': String(2 * 1024 * 1024) }, body: '{}' }), 413, 'PAYLOAD_TOO_LARGE'],
    ['a streamed body over the limit', () => ({ body: stream(2 * 1024 * 1024), duplex: 'half' } as RequestInit), 413, 'PAYLOAD_TOO_LARGE'],
    ['superjson referential equalities outside the document', () => ({ body: JSON.stringify({ json: { v: 1, queries: [author({}), author({})] }, meta: { referentialEqualities: { 'queries.0': ['queries.2'] } } }) }), 400, 'BAD_REQUEST'],
    ['superjson referential equalities through the prototype', () => ({ body: JSON.stringify({ json: { v: 1, queries: [author({}), author({})] }, meta: { referentialEqualities: { 'queries.0': ['queries.1.__proto__'] } } }) }), 400, 'BAD_REQUEST'],
    ['superjson referential equalities as a root cycle', () => ({ body: JSON.stringify({ json: { v: 1, queries: [author({})] }, meta: { referentialEqualities: [['queries.0']] } }) }), 400, 'BAD_REQUEST'],
    ['a superjson class annotation', () => ({ body: superjson({ 'queries.0.where.value': ['class', 'Author'] }, compare('name', '=', 'x')) }), 400, 'BAD_REQUEST'],
    ['a superjson custom annotation', () => ({ body: superjson({ 'queries.0.where.value': ['custom', 'x'] }, compare('name', '=', 'x')) }), 400, 'BAD_REQUEST'],
    ['a superjson map annotation', () => ({ body: superjson({ 'queries.0.where': ['map'] }, where([['kind', 'null']])) }), 400, 'BAD_REQUEST'],
    ['a superjson regexp annotation', () => ({ body: superjson({ 'queries.0.where.value': ['regexp'] }, compare('name', '=', '/x/')) }), 400, 'BAD_REQUEST'],
    ['a superjson annotation on the root', () => ({ body: JSON.stringify({ json: '2024-01-01', meta: { values: ['Date'] } }) }), 400, 'BAD_REQUEST'],
    ['a superjson path through the prototype', () => ({ body: superjson({ 'queries.0.hasOwnProperty.x': ['Date'] }, author({})) }), 400, 'BAD_REQUEST'],
    ['a superjson path with __proto__', () => ({ body: superjson({ '__proto__.polluted': ['Date'] }, author({})) }), 400, 'BAD_REQUEST'],
    ['a superjson path with constructor', () => ({ body: superjson({ 'queries.0.constructor.prototype.polluted': ['undefined'] }, author({})) }), 400, 'BAD_REQUEST'],
    ['an invalid Date', () => ({ body: superjson({ 'queries.0.where.value': ['Date'] }, compare('createdAt', '=', 'not a date')) }), 200, 'BAD_REQUEST'],
    ['a number annotation on something else than a non-finite number', () => ({ body: superjson({ 'queries.0.where.value': ['number'] }, compare('name', '=', '12')) }), 400, 'BAD_REQUEST'],
    ['a non-finite number (superjson\'s number annotation)', () => ({ body: encode({ v: 1, queries: [compare('name', '=', Infinity)] }) }), 400, 'BAD_REQUEST'],
    ['NaN in a procedure\'s arguments', () => ({ body: encode({ v: 1, queries: [{ op: 'call', procedure: 'moveViews', args: { from: 1, to: 2, views: Number.NaN } }] }) }), 400, 'BAD_REQUEST'],
    ['a malformed bigint', () => ({ body: superjson({ 'queries.0.where.value': ['bigint'] }, compare('id', '=', '1; drop')) }), 400, 'BAD_REQUEST'],
    ['a __proto__ key', () => ({ body: `{"json":{"v":1,"queries":[{"model":"Author","op":"select","__proto__":{"polluted":true}}]}}` }), 400, 'BAD_REQUEST'],
    ['a constructor key', () => ({ body: `{"json":{"v":1,"queries":[{"model":"Author","op":"select","where":{"constructor":{"prototype":{"polluted":true}}}}]}}` }), 400, 'BAD_REQUEST'],
    ['a prototype key', () => ({ body: `{"json":{"v":1,"queries":[{"model":"Author","op":"select","prototype":1}]}}` }), 400, 'BAD_REQUEST'],
    ['filters nested too deep', () => ({ body: encode({ v: 1, queries: [where(nest(60))] }) }), 422, 'LIMIT_EXCEEDED'],
    ['too many nodes', () => ({ body: encode({ v: 1, queries: [where({ kind: 'and', filters: Array.from({ length: 3000 }, () => ({ kind: 'null', column: 'bio' })) })] }) }), 422, 'LIMIT_EXCEEDED'],
  ]

  it.each(REQUEST_CASES)('refuses %s, running no SQL', async (_name, init, status, code) => {
    const response = await post(init())
    expect(response.status).toBe(status)
    const text = await response.text()
    expect(text).toContain(`"code":"${code}"`)
    expect(text).not.toMatch(/select|insert|drop table|at .*\.ts/i)
    expect(demo.sql).toEqual([])
  })

  it('stays healthy and unpolluted after every attack', async () => {
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect(Object.prototype).not.toHaveProperty('polluted')
    const [result] = await demo.run({ model: 'Tag', op: 'count' })
    expect(result).toEqual({ data: 12 })
  })
})

function superjson(values: Record<string, unknown>, query: unknown): string {
  return JSON.stringify({ json: { v: 1, queries: [query] }, meta: { values, v: 1 } })
}

function stream(bytes: number): ReadableStream<Uint8Array> {
  let sent = 0
  return new ReadableStream({
    pull(controller) {
      if (sent >= bytes) return controller.close()
      const chunk = new Uint8Array(64 * 1024).fill(0x20)
      sent += chunk.byteLength
      controller.enqueue(chunk)
    },
  })
}
