/**
 * The demo schema, seeded, on one test database, with an executor over the demo API and
 * a spy on every SQL statement knex sends.
 */
import type { Knex } from 'knex'
import { createExecutor, type Executor, type ExecutorOptions } from '../../executor/index.js'
import { api, procedures, type DemoApi, type DemoCtx, type DemoProcedures } from '../../examples/demo/api.js'
import { jwtAuth } from '../../executor/index.js'
import { SignJWT } from 'jose'
import { createClient, type Client } from '../../client/index.js'
import { migrate, seed, type SeedSize } from '../../examples/demo/schema.js'
import { BaseModel } from '../../examples/demo/models.js'
import { knexSnakeCaseMappers } from 'objection'
import { encodeRequest, decode, type RequestBody, type ResponseBody } from '../../shared/wire.js'
import { openDatabase, type DatabaseKind, type TestDatabase } from './databases.js'
import type { ApiDescription } from '../../shared/api-description.js'

/** The demo API's description, as its executor answers it to a caller who may read every model. */
export const DEMO_DESCRIPTION: ApiDescription = {
  models: {
    Author: { relations: { profile: 'Profile', posts: 'Post', comments: 'Comment' }, references: [] },
    Profile: { relations: { author: 'Author' }, references: ['Author'] },
    Post: { relations: { author: 'Author', comments: 'Comment', tags: 'Tag' }, references: ['Author'] },
    Comment: { relations: { post: 'Post', author: 'Author' }, references: ['Author', 'Post'] },
    Tag: { relations: { posts: 'Post' }, references: [] },
  },
}

export const TEST_SIZE: SeedSize = { authors: 60, postsPerAuthor: 6, commentsPerPost: 3 }

export interface Demo {
  readonly db: TestDatabase
  readonly knex: Knex
  readonly executor: Executor
  /** SQL statements run since the last `sql.length = 0`. */
  readonly sql: string[]
  /** Posts a request body (any value, encoded with superjson) to the executor in-process. */
  post(body: unknown, headers?: Record<string, string>): Promise<{ status: number; body: unknown }>
  /** A typed client on this executor (in-process fetch), signed in as `authorId` if given. */
  client(authorId?: bigint, role?: 'admin'): Client<DemoApi, DemoProcedures> & { requests: number }
  /** Runs queries (wire form) and returns their results. */
  run(...queries: unknown[]): Promise<ResponseBody['results']>
  close(): Promise<void>
}

export async function openDemo(
  kind: DatabaseKind,
  options: Partial<ExecutorOptions<unknown>> & {
    api?: DemoApi | Record<string, unknown>
    /** Where columns are mapped to properties: in the models (default) or in knex (`knexSnakeCaseMappers()`). */
    mappers?: 'model' | 'knex'
  } = {},
): Promise<Demo> {
  const { mappers = 'model', ...executorOptions } = options
  BaseModel.mapsColumns = mappers === 'model'
  const db = await openDatabase(kind, mappers === 'knex' ? knexSnakeCaseMappers() : {})
  await migrate(db.knex)
  await seed(db.knex, TEST_SIZE)
  const sql: string[] = []
  db.knex.on('query', (query: { sql: string }) => sql.push(query.sql))
  const executor = createExecutor({ knex: db.knex, api, procedures, auth: testAuth, logger: { error() {} }, ...executorOptions } as ExecutorOptions<unknown>)
  await executor.ready()
  const post = async (body: unknown, headers: Record<string, string> = {}) => {
    const response = await executor(
      new Request('http://test.local/orm', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: typeof body === 'string' ? body : encodeRequest(body as RequestBody),
      }),
    )
    return { status: response.status, body: decode(await response.text()) }
  }
  return {
    db,
    knex: db.knex,
    executor,
    sql,
    post,
    client(authorId, role) {
      const counter = { requests: 0 }
      const db = createClient<DemoApi, DemoProcedures>({
        url: 'http://test.local/orm',
        ...(authorId !== undefined && { headers: async () => ({ authorization: `Bearer ${await tokenFor(authorId, role ? { role } : {})}` }) }),
        fetch: async (input, init) => {
          counter.requests++
          return executor(new Request(input as string, init))
        },
      })
      return new Proxy(db, { get: (target, name) => (name === 'requests' ? counter.requests : (target as never)[name]) }) as never
    },
    async run(...queries) {
      const { status, body } = await post({ v: 1, queries })
      if (status !== 200) throw new Error(`executor answered ${status}: ${JSON.stringify(body)}`)
      return (body as ResponseBody).results
    },
    close: () => db.close(),
  }
}

export const TEST_SECRET = 'async-orm test secret, at least 32 bytes long'

export const testAuth = jwtAuth<DemoCtx>({
  secret: TEST_SECRET,
  algorithms: ['HS256'],
  audience: 'async-orm-tests',
  context: (payload) => ({ authorId: BigInt(payload.sub!), ...(payload.role === 'admin' && { role: 'admin' as const }) }),
})

export function tokenFor(authorId: bigint, options: { expiresIn?: string; audience?: string; secret?: string; role?: 'admin' } = {}): Promise<string> {
  return new SignJWT(options.role ? { role: options.role } : {})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(String(authorId))
    .setAudience(options.audience ?? 'async-orm-tests')
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? '5m')
    .sign(new TextEncoder().encode(options.secret ?? TEST_SECRET))
}
