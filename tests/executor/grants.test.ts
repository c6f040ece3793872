/**
 * Grant forms on their own: `allow` as true, roles or a function; `read.aggregate`
 * narrower than reading; anonymous callers denied by default (PGlite and PostgreSQL).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Tag, Post } from '../../examples/demo/models.js'
import { createExecutor, expose, type Executor } from '../../executor/index.js'
import { decode, encodeRequest } from '../../shared/wire.js'
import { DATABASE_KINDS } from '../support/databases.js'
import { openDemo, type Demo } from '../support/demo.js'

type Ctx = { role?: string; roles?: string[]; team?: string } | null

describe.each(DATABASE_KINDS)('grant forms on %s', (kind) => {
  let demo: Demo
  let executor: Executor

  beforeAll(async () => {
    demo = await openDemo(kind)
    const api = {
      Tag: expose(Tag, { read: { allow: true, aggregate: ['analyst'], columns: ['id', 'name'] }, relations: ['posts'] }),
      Post: expose(Post, { read: { allow: (ctx: Ctx) => ctx?.team === 'editorial', columns: ['id', 'title'] }, relations: ['tags'] }),
    }
    executor = createExecutor<Ctx>({
      knex: demo.knex,
      api,
      auth: (request) => {
        const header = request.headers.get('x-test-identity')
        return header ? (JSON.parse(header) as Ctx) : null
      },
      logger: { error() {} },
    })
    await executor.ready()
  })
  afterAll(() => demo?.close())

  const run = async (identity: Ctx, query: unknown) => {
    const response = await executor(
      new Request('http://g/orm', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(identity && { 'x-test-identity': JSON.stringify(identity) }) },
        body: encodeRequest({ v: 1, queries: [query] } as never),
      }),
    )
    const [result] = decode<{ results: { data?: unknown; error?: { code: string } }[] }>(await response.text()).results
    return result!.error?.code ?? 'ok'
  }

  it('opens a grant to everyone with allow: true, and aggregates only to listed roles', async () => {
    expect(await run(null, { model: 'Tag', op: 'count' })).toBe('ok')
    expect(await run(null, { model: 'Tag', op: 'aggregate', aggregates: [{ fn: 'count', alias: 'n' }] })).toBe('FORBIDDEN')
    expect(await run({ role: 'analyst' }, { model: 'Tag', op: 'aggregate', aggregates: [{ fn: 'count', alias: 'n' }] })).toBe('ok')
    expect(await run({ roles: ['viewer', 'analyst'] }, { model: 'Tag', op: 'aggregate', aggregates: [{ fn: 'count', alias: 'n' }] })).toBe('ok')
  })

  it('decides with a function of the context, through relations too', async () => {
    expect(await run({ team: 'editorial' }, { model: 'Post', op: 'count' })).toBe('ok')
    expect(await run({ team: 'sales' }, { model: 'Post', op: 'count' })).toBe('FORBIDDEN')
    expect(await run(null, { model: 'Post', op: 'count' })).toBe('FORBIDDEN')
    expect(await run(null, { model: 'Tag', op: 'select', graph: [{ relation: 'posts' }] })).toBe('FORBIDDEN')
    expect(await run(null, { model: 'Tag', op: 'select', where: { kind: 'exists', relation: 'posts' } })).toBe('FORBIDDEN')
    expect(await run({ team: 'editorial' }, { model: 'Tag', op: 'select', graph: [{ relation: 'posts', limit: 1 }] })).toBe('ok')
  })
})
