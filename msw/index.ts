/**
 * `async-orm/msw`: the real executor inside MSW handlers, in-process, on an embedded
 * PGlite database migrated by the app's own migrations and seeded from fixtures, so
 * queries in client and component tests behave as in production, policies included.
 * For browsers (`msw/browser`) and for tests that want full control, see `ormStubs`.
 */
import type { Knex } from 'knex'
import { http, type HttpHandler } from 'msw'
import type { ApiShape, ContextOf } from '../shared/api-types.js'
import type { Query } from '../shared/query-ast.js'
import SuperJSON from 'superjson'
import { customTypesOf, decode, type RequestBody } from '../shared/wire.js'
import { createExecutor, type Executor, type ExecutorOptions } from '../executor/index.js'
import { createEmbeddedDatabase, type EmbeddedDatabaseOptions } from '../executor/adapters/pglite.js'
import type { ColumnKey, ExposedModel } from '../executor/api/expose.js'

export type { ContextOf } from '../shared/api-types.js'
export { ormStubs, type OrmStubs, type SentRequest, type StubOp } from './stubs.js'

/** A fixture row of an exposed model: its columns, by property name, as its objection model types them. */
export type FixtureRow<Api, K extends keyof Api> = Api[K] extends { readonly '~types'?: infer T }
  ? NonNullable<T> extends { readonly instance: infer I }
    ? Partial<Pick<I, ColumnKey<I>>>
    : Record<string, unknown>
  : Record<string, unknown>

/** Rows to insert, by exposed model name. */
export type Fixtures<Api> = { readonly [K in keyof Api]?: readonly FixtureRow<Api, K>[] }

export interface OrmMockOptions<Ctx, Api extends ApiShape = ApiShape> {
  /** The URL the client calls (`createClient({ url })`), or a pattern MSW understands. */
  readonly url: string | RegExp
  readonly api: Api
  /**
   * More knex settings for the embedded database, as the app's knex has them: `{
   * ...knexSnakeCaseMappers() }` for an app that maps column names in knex rather than in
   * its models.
   */
  readonly knex?: EmbeddedDatabaseOptions['knex']
  /** Creates the schema: the app's migrations (`(knex) => knex.migrate.latest(…)`) or DDL. */
  readonly migrate: (knex: Knex) => Promise<unknown>
  /** Rows to insert, by exposed model name, with property names (`{ Tag: [{ id: 1, name: 'a' }] }`), typed from the models. */
  readonly fixtures?: Fixtures<Api>
  /**
   * The caller every request is made as: a context of the type the API's policies read
   * (`ContextOf<typeof api>`), or `null` (anonymous, the default).
   */
  readonly as?: NoInfer<Ctx> | null
  /** Or a full `auth` function, as the executor takes. */
  readonly auth?: ExecutorOptions<Ctx>['auth']
  readonly procedures?: ExecutorOptions<Ctx>['procedures']
  readonly limits?: ExecutorOptions<Ctx>['limits']
  /** The app's SuperJSON instance (its custom types), as the client and executor take it. */
  readonly superjson?: ExecutorOptions<Ctx>['superjson']
  /** Parsers for PostgreSQL types pg reads as text, as the executor takes them. */
  readonly types?: ExecutorOptions<Ctx>['types']
}

export interface OrmMock {
  /** The MSW handler list to pass to `setupServer(…)` or `server.use(…)`. */
  readonly handlers: HttpHandler[]
  /** Every query the client sent, in order (the AST, as plain data). */
  readonly queries: readonly Query[]
  /** The embedded database, to prepare or inspect rows. */
  readonly knex: Knex
  readonly executor: Executor
  /** Closes PGlite; without it the test runner does not exit. */
  close(): Promise<void>
}

/**
 * @example
 * const orm = await createOrmMock({ url: 'http://localhost/orm', api, migrate, fixtures: { Tag: [{ id: 1, name: 'edge' }] } })
 * const server = setupServer(...orm.handlers)
 * closeWith(server, orm) // server.close() also closes the database
 */
export async function createOrmMock<const Api extends ApiShape, Ctx = ContextOf<Api>>(options: OrmMockOptions<Ctx, Api>): Promise<OrmMock> {
  const database = await createEmbeddedDatabase(options.knex ? { knex: options.knex } : {})
  try {
    await options.migrate(database.knex)
    await insertFixtures(database.knex, options.api, (options.fixtures ?? {}) as Readonly<Record<string, readonly Record<string, unknown>[]>>)
    const executor = createExecutor<Ctx>({
      knex: database.knex,
      api: options.api,
      logger: { error: (message, details) => console.error(message, details) },
      auth: options.auth ?? (() => (options.as ?? null) as Ctx | null),
      ...(options.procedures && { procedures: options.procedures }),
      ...(options.limits && { limits: options.limits }),
      ...(options.superjson && { superjson: options.superjson }),
      ...(options.types && { types: options.types }),
    })
    const custom = customTypesOf(options.superjson ?? SuperJSON)
    await executor.ready()
    const queries: Query[] = []
    const handler = http.post(options.url, async ({ request }) => {
      const text = await request.clone().text()
      try {
        queries.push(...decode<RequestBody>(text, custom).queries)
      } catch {
        // Malformed bodies are the executor's to refuse.
      }
      return executor(request)
    })
    return { handlers: [handler], queries, knex: database.knex, executor, close: () => database.close() }
  } catch (error) {
    await database.close()
    throw error
  }
}

/** Makes `server.close()` close the mock's database too (so test runners exit). */
export function closeWith<S extends { close(): void }>(server: S, mock: Pick<OrmMock, 'close'>): S {
  const close = server.close.bind(server)
  server.close = () => {
    close()
    void mock.close()
  }
  return server
}

async function insertFixtures(knex: Knex, api: ApiShape, fixtures: Readonly<Record<string, readonly Record<string, unknown>[]>>) {
  for (const name of Object.keys(fixtures)) {
    const exposure = (api[name] as ExposedModel<never> | undefined)?.exposure
    if (!exposure) throw new TypeError(`fixtures name ${name}, which the api does not expose`)
    const modelClass = exposure.modelClass as typeof exposure.modelClass & { getTableName(): string; getIdColumnArray(): string[] }
    const mappers = (modelClass as { columnNameMappers?: { format(json: object): object } }).columnNameMappers
    const rows = fixtures[name]!.map((row) => {
      const formatted = (mappers ? mappers.format({ ...row }) : { ...row }) as Record<string, unknown>
      for (const column of Object.keys(formatted)) {
        const value = formatted[column]
        // pg would send arrays as SQL arrays; json columns want JSON text.
        if (value !== null && typeof value === 'object' && !(value instanceof Date)) formatted[column] = JSON.stringify(value)
      }
      return formatted
    })
    if (rows.length === 0) continue
    const table = modelClass.getTableName()
    try {
      await knex.batchInsert(table, rows, 200)
    } catch (error) {
      const { message, column } = error as { message?: string; column?: string }
      const hint = column ? ` (column ${column}: give every row a value for it)` : ''
      throw new TypeError(`fixtures.${name} could not be inserted into ${table}: ${message ?? String(error)}${hint}`, { cause: error })
    }
    for (const id of modelClass.getIdColumnArray()) {
      const sequence = await knex.raw('select pg_get_serial_sequence(?, ?) as name', [table, id])
      if (sequence.rows[0]?.name) await knex.raw('select setval(?::regclass, (select coalesce(max(??), 1) from ??))', [sequence.rows[0].name, id, table])
    }
  }
}
