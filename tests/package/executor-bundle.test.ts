/**
 * `npm run build:executor`: the quick start's server and Lambda handler, each bundled into
 * one file, run with plain Node (no TypeScript loader, nothing resolved from
 * node_modules): the server as its own process answering the client over HTTP, the
 * handler answering API Gateway events, on PostgreSQL.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { LambdaEvent } from 'hono/aws-lambda'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { createClient } from '../../client/index.js'
import type { api } from '../../examples/quickstart/api.js'
import { tokenFor } from '../../examples/quickstart/auth.js'
import { connect } from '../../examples/quickstart/client.js'
import { buildExecutor, type BuiltFile } from '../../scripts/build-executor.js'
import { viaApiGateway } from '../support/api-gateway.js'
import type { TestDatabase } from '../support/databases.js'
import { openQuickstartDatabase, startApp, type StartedApp } from '../support/quickstart.js'

vi.hoisted(() => {
  process.env.JWT_SECRET = 'the executor bundle test secret, 32 bytes or more'
})

describe('the executor bundled into one file (npm run build:executor)', () => {
  let database: TestDatabase
  let databaseUrl: string
  let outdir: string
  let built: BuiltFile[]
  let server: StartedApp | undefined

  beforeAll(async () => {
    ;({ database, url: databaseUrl } = await openQuickstartDatabase(true))
    outdir = mkdtempSync(join(tmpdir(), 'ao-bundle-'))
    built = await buildExecutor(['examples/quickstart/main.ts', 'examples/quickstart/lambda.ts'], outdir)
  })
  afterAll(async () => {
    await server?.stop()
    rmSync(outdir, { recursive: true, force: true })
    await database?.close()
  })

  const fileOf = (name: string) => built.find((b) => b.file.endsWith(`${name}.mjs`))!.file

  it('writes one file per entry', () => {
    expect(built.map((b) => b.entry).sort()).toEqual(['examples/quickstart/lambda.ts', 'examples/quickstart/main.ts'])
  })

  it('runs the server with plain Node from anywhere, answering the client', async () => {
    // From the temporary directory: nothing can come from this checkout's node_modules.
    server = await startApp([fileOf('main')], { DATABASE_URL: databaseUrl }, outdir)
    const db = connect(`${server.origin}/orm`, () => tokenFor({ userId: 1, orgId: 1 }))
    expect((await db.User.query()).map((u) => u.name)).toEqual(['Ann'])
    expect(await db.Post.query().insert({ title: 'From the bundle', body: 'x' })).toMatchObject({ title: 'From the bundle', authorId: 1 })
  })

  it('answers API Gateway events with the Lambda handler', async () => {
    process.env.DATABASE_URL = databaseUrl
    const { handler } = (await import(pathToFileURL(fileOf('lambda')).href)) as { handler: (event: LambdaEvent) => Promise<unknown> }
    const token = await tokenFor({ userId: 1, orgId: 1 })
    const db = createClient<typeof api>({ url: 'https://abc123.execute-api.eu-west-1.amazonaws.com/orm', headers: { authorization: `Bearer ${token}` }, fetch: viaApiGateway(handler) })
    expect((await db.User.query()).map((u) => u.name)).toEqual(['Ann'])
    await expect(createClient<typeof api>({ url: 'https://abc123.execute-api.eu-west-1.amazonaws.com/orm', fetch: viaApiGateway(handler) }).User.query()).rejects.toMatchObject({ code: 'FORBIDDEN' })
  })
})
