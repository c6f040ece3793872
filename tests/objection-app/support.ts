/**
 * The objection example app (examples/objection-app) on one test database, migrated and
 * seeded, with an executor over its API and typed clients on it (in-process fetch), and
 * the comparison helpers its tests use: the same query through async-orm's client and
 * directly with objection on the same knex must give the same answer.
 *
 * The knex instance carries the app's own settings (`knexSnakeCaseMappers()`).
 */
import { SignJWT } from 'jose'
import type { Knex } from 'knex'
import { Model, ValidationError } from 'objection'
import { expect } from 'vitest'
import { createClient, type Client } from '../../client/index.js'
import { createExecutor, jwtAuth, type Executor } from '../../executor/index.js'
import { api, type AppApi, type AppCtx } from '../../examples/objection-app/api.js'
import { knexSettings } from '../../examples/objection-app/knex-config.js'
import { migrate, seed } from '../../examples/objection-app/schema.js'
import { openDatabase, type DatabaseKind } from '../support/databases.js'

export interface ObjectionApp {
  readonly kind: DatabaseKind
  /** The app's knex (snake case mappers); objection's side of every comparison runs on it. */
  readonly knex: Knex
  readonly executor: Executor
  /** What the executor logged, newest last: the cause behind an INTERNAL answer. */
  readonly logged: unknown[]
  /** A typed client on the executor, signed in as `as` (anonymous without it). */
  client(as?: AppCtx): Client<AppApi>
  close(): Promise<void>
}

const SECRET = 'objection example app test secret, 32+ bytes'

export async function openObjectionApp(kind: DatabaseKind): Promise<ObjectionApp> {
  // The app's own knex settings (its mappers) on the test databases.
  const database = await openDatabase(kind, knexSettings)
  const { knex } = database
  try {
    await migrate(knex)
    await seed(knex)
  } catch (error) {
    await database.close()
    throw error
  }
  const logged: unknown[] = []
  const executor = createExecutor({
    knex,
    api,
    auth: jwtAuth<AppCtx>({
      secret: SECRET,
      algorithms: ['HS256'],
      context: (payload) => ({ personId: Number(payload.sub), ...(payload.role === 'admin' && { role: 'admin' as const }) }),
    }),
    logger: { error: (message, details) => logged.push((details as { error?: unknown } | undefined)?.error ?? message) },
  })
  await executor.ready()
  return {
    kind,
    knex,
    executor,
    logged,
    client(as) {
      return createClient<AppApi>({
        url: 'http://objection-app.test/orm',
        ...(as && { headers: async () => ({ authorization: `Bearer ${await tokenFor(as)}` }) }),
        fetch: async (input, init) => executor(new Request(input as string, init)),
      })
    },
    close: database.close,
  }
}

function tokenFor(ctx: AppCtx): Promise<string> {
  return new SignJWT(ctx.role ? { role: ctx.role } : {})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(String(ctx.personId))
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(SECRET))
}

/**
 * An answer as plain data: objection's model instances through `toJSON()` (which
 * converts their relations too), everything else — Dates, bigints, jsonb objects — as
 * it is. With `anyOrder`, arrays below the top level (related rows loaded without an
 * order) are sorted by id.
 */
export function normalize(value: unknown, options: { anyOrder?: boolean } = {}, depth = 0): unknown {
  if (value instanceof Model) return normalize(value.toJSON(), options, depth)
  if (Array.isArray(value)) {
    const items = value.map((item) => normalize(item, options, depth + 1))
    return options.anyOrder && depth > 0 ? items.sort(byId) : items
  }
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {}
    for (const [key, item] of Object.entries(value)) out[key] = normalize(item, options, depth + 1)
    return out
  }
  return value
}

function byId(a: unknown, b: unknown): number {
  return Number((a as { id?: unknown }).id) - Number((b as { id?: unknown }).id)
}

/**
 * Runs a query through the client (`ours`), then the same query with objection on the
 * app's knex (`theirs`), and expects the same answer. Resolves to the client's answer.
 */
export async function expectSame<T>(
  app: ObjectionApp,
  ours: PromiseLike<T>,
  theirs: (knex: Knex) => PromiseLike<unknown>,
  options: { anyOrder?: boolean } = {},
): Promise<T> {
  const answer = await explained(app, ours)
  const expected = await theirs(app.knex)
  expect(normalize(answer, options)).toEqual(normalize(expected, options))
  return answer
}

/**
 * A write compared with objection's: `theirs` runs first, in a transaction that is rolled
 * back (and the id sequences put back), then `ours` runs through the client on the same
 * data. Both must answer the same and leave every table the same. Timestamps set during
 * the write (by the models' hooks) cannot be equal to the millisecond: a Date later than
 * the start of the comparison counts as "set now" on either side.
 */
export async function expectSameWrite<T>(
  app: ObjectionApp,
  ours: () => PromiseLike<T>,
  theirs: (trx: Knex.Transaction) => PromiseLike<unknown>,
): Promise<T> {
  const since = new Date()
  const { answer: expected, tables: expectedTables } = await dryRun(app, theirs)
  const answer = await explained(app, ours())
  const tables = await snapshot(app.knex)
  expect(stamped(normalize(answer), since), 'the answer').toEqual(stamped(expected, since))
  expect(stamped(tables, since), 'the tables after the write').toEqual(stamped(expectedTables, since))
  return answer
}

/**
 * A write objection's jsonSchema refuses (`theirs` rejects with a ValidationError) must
 * be refused through the client as BAD_REQUEST naming the same properties, and change
 * nothing.
 */
export async function expectSameValidationError(
  app: ObjectionApp,
  ours: () => PromiseLike<unknown>,
  theirs: (trx: Knex.Transaction) => PromiseLike<unknown>,
): Promise<void> {
  const before = await snapshot(app.knex)
  const expected = await dryRun(app, theirs).then(
    () => undefined,
    (error: unknown) => error,
  )
  expect(expected).toBeInstanceOf(ValidationError)
  const error = await ours().then(
    () => undefined,
    (error: unknown) => error,
  )
  expect(error, 'the client’s error').toMatchObject({ code: 'BAD_REQUEST' })
  // objection names nested properties by their path (`children[0].age`).
  const props = Object.keys((expected as ValidationError).data as object).map((path) => path.replace(/^.*[.\]]/, ''))
  for (const prop of props) expect((error as Error).message, 'the client’s error message').toContain(prop)
  expect(await snapshot(app.knex), 'the tables').toEqual(before)
}

/**
 * `theirs` in a transaction that is rolled back. Sequences are not transactional, so
 * each is put back where it was (an upsert takes ids for rows it then does not insert).
 */
async function dryRun(app: ObjectionApp, theirs: (trx: Knex.Transaction) => PromiseLike<unknown>) {
  const sequences = await Promise.all(['persons', 'movies', 'animals'].map((table) => sequenceOf(app.knex, table)))
  const trx = await app.knex.transaction()
  try {
    const answer = normalize(await theirs(trx))
    return { answer, tables: await snapshot(trx) }
  } finally {
    await trx.rollback()
    for (const { name, lastValue, isCalled } of sequences) {
      await app.knex.raw('select setval(?, ?, ?)', [name, lastValue, isCalled])
    }
  }
}

async function sequenceOf(knex: Knex, table: string): Promise<{ name: string; lastValue: string; isCalled: boolean }> {
  const { rows } = (await knex.raw(`select pg_get_serial_sequence(?, 'id') as name`, [table])) as { rows: [{ name: string }] }
  const name = rows[0].name
  // `name` comes from PostgreSQL itself (schema-qualified and quoted as needed).
  const state = (await knex.raw(`select last_value, is_called from ${name}`)) as { rows: [{ last_value: string; is_called: boolean }] }
  return { name, lastValue: state.rows[0].last_value, isCalled: state.rows[0].is_called }
}

/** Every row of the app's tables, as knex (with the mappers) reads them. */
export async function snapshot(knex: Knex): Promise<Record<string, unknown[]>> {
  return {
    persons: await knex('persons').orderBy('id'),
    animals: await knex('animals').orderBy('id'),
    movies: await knex('movies').orderBy('id'),
    personsMovies: await knex('personsMovies').orderBy(['personId', 'movieId']),
  }
}

const SET_NOW = 'a timestamp set during the write'

function stamped(value: unknown, since: Date): unknown {
  if (value instanceof Date) return value.getTime() >= since.getTime() ? SET_NOW : value
  if (Array.isArray(value)) return value.map((item) => stamped(item, since))
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, stamped(item, since)]))
  }
  return value
}

/** The client's answer, or its error with what the executor logged for it (an INTERNAL's cause). */
async function explained<T>(app: ObjectionApp, ours: PromiseLike<T>): Promise<T> {
  const logged = app.logged.length
  try {
    return await ours
  } catch (error) {
    const causes = app.logged.slice(logged)
    if (causes.length > 0) (error as Error).message += ` — the executor logged: ${causes.map(String).join('; ')}`
    throw error
  }
}
