/**
 * The README's deploy examples, run as written: `examples/quickstart/lambda.ts` answering
 * the client through API Gateway v2 events, and `examples/quickstart/origin.ts` as its own
 * process behind the edge proxy (edge/worker.ts in workerd), on PostgreSQL.
 */
import { Miniflare } from 'miniflare'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { createClient } from '../../client/index.js'
import type { api } from '../../examples/quickstart/api.js'
import { tokenFor } from '../../examples/quickstart/auth.js'
import { connect } from '../../examples/quickstart/client.js'
import type { TestDatabase } from '../support/databases.js'
import { openQuickstartDatabase, startApp, type StartedApp } from '../support/quickstart.js'
import { viaApiGateway } from '../support/api-gateway.js'
import { bundleWorker } from '../support/workers.js'

const secrets = vi.hoisted(() => {
  process.env.JWT_SECRET = 'the quick start deploy test secret, 32 bytes or more'
  return { jwt: process.env.JWT_SECRET, hop: 'the hop secret shared by proxy and origin, 32+ chars' }
})

let database: TestDatabase
let databaseUrl: string

beforeAll(async () => {
  ;({ database, url: databaseUrl } = await openQuickstartDatabase(true))
})
afterAll(() => database?.close())

describe('examples/quickstart/lambda.ts', () => {
  it('answers the client through API Gateway events, under the policies', async () => {
    process.env.DATABASE_URL = databaseUrl
    const { handler } = await import('../../examples/quickstart/lambda.js')
    const invoke = viaApiGateway(handler)
    const token = await tokenFor({ userId: 1, orgId: 1 })
    const db = createClient<typeof api>({ url: 'https://abc123.execute-api.eu-west-1.amazonaws.com/orm', headers: { authorization: `Bearer ${token}` }, fetch: invoke })
    expect((await db.User.query()).map((u) => u.name)).toEqual(['Ann'])
    const post = await db.Post.query().insert({ title: 'From Lambda', body: 'x' })
    expect(post).toMatchObject({ title: 'From Lambda', authorId: 1 })
    expect(post.createdAt).toBeInstanceOf(Date)
    const anonymous = createClient<typeof api>({ url: 'https://abc123.execute-api.eu-west-1.amazonaws.com/orm', fetch: invoke })
    await expect(anonymous.User.query()).rejects.toMatchObject({ code: 'FORBIDDEN' })
  })
})

describe('examples/quickstart/origin.ts behind the edge proxy', () => {
  let app: StartedApp | undefined
  let origin: string
  let mf: Miniflare
  let proxy: string

  beforeAll(async () => {
    app = await startApp(['--import', 'tsx', 'examples/quickstart/origin.ts'], { DATABASE_URL: databaseUrl, HOP_SECRET: secrets.hop })
    origin = `${app.origin}/orm`
    mf = new Miniflare({
      modules: true,
      script: await bundleWorker('edge/worker.ts'),
      compatibilityDate: '2025-01-01',
      durableObjects: { RATE_LIMITER: 'RateLimiter', CACHE_VERSION: 'CacheVersion' },
      bindings: { EXECUTOR_URL: origin, HOP_SECRET: secrets.hop, JWT_SECRET: secrets.jwt },
      port: 0,
    })
    proxy = new URL('/orm', await mf.ready).toString()
  })
  afterAll(async () => {
    await mf?.dispose()
    await app?.stop()
  })

  it('reads and writes as the caller the proxy verified', async () => {
    const db = connect(proxy, () => tokenFor({ userId: 1, orgId: 1 }))
    expect((await db.User.query()).map((u) => u.name)).toEqual(['Ann'])
    const post = await db.Post.query().insert({ title: 'Through the edge', body: 'x' })
    expect(post).toMatchObject({ title: 'Through the edge', authorId: 1 })
    expect(await database.knex('posts').where('title', 'Through the edge').count({ n: '*' })).toEqual([{ n: '1' }])
  })

  it('refuses a bad token at the edge, and any request that did not come through the proxy', async () => {
    const forged = connect(proxy, () => 'not.a.token')
    await expect(forged.User.query()).rejects.toMatchObject({ code: 'UNAUTHENTICATED' })
    const direct = connect(origin, () => tokenFor({ userId: 1, orgId: 1 }))
    await expect(direct.User.query()).rejects.toMatchObject({ code: 'UNAUTHENTICATED', status: 401 })
  })
})
