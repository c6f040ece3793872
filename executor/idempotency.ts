/**
 * The opt-in idempotency store: a request that writes and carries an `Idempotency-Key`
 * is applied once. Its answer is saved in a PostgreSQL table in the same transaction as
 * its writes, so a retry (same key, same caller, same body) replays the saved answer
 * instead of writing again; a concurrent duplicate waits on the key's unique index and
 * then replays. A key reused for a different request is a `CONFLICT`.
 */
import type { Knex } from 'knex'
import type { DbSession } from './db-session.js'
import { ExecutorError } from './executor-error.js'

export interface IdempotencyOptions {
  /** The table the store keeps answers in (created when missing). Default `async_orm_idempotency`. */
  readonly table?: string
}

export interface StoredAnswer {
  readonly requestHash: string
  readonly response: string
}

const KEY = /^[A-Za-z0-9_.:-]{1,200}$/
const TABLE = /^[a-z_][a-z0-9_]{0,62}$/

export class IdempotencyStore {
  readonly table: string

  constructor(
    private readonly knex: Knex,
    options: IdempotencyOptions = {},
  ) {
    this.table = options.table ?? 'async_orm_idempotency'
    if (!TABLE.test(this.table)) throw new TypeError('idempotency.table must be a plain lower-case identifier')
  }

  async ensureTable(): Promise<void> {
    if (await this.knex.schema.hasTable(this.table)) return
    await this.knex.schema.createTable(this.table, (t) => {
      t.text('key').notNullable()
      t.text('scope').notNullable()
      t.text('request_hash').notNullable()
      t.text('response').notNullable()
      t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(this.knex.fn.now())
      t.primary(['key', 'scope'])
    })
  }

  /** Checks the header's form; the key is then only ever a bound value. */
  static key(header: string): string {
    if (!KEY.test(header)) {
      throw new ExecutorError('BAD_REQUEST', 'Idempotency-Key must be 1 to 200 letters, digits or . _ : -')
    }
    return header
  }

  async lookup(key: string, scope: string): Promise<StoredAnswer | undefined> {
    const row = await this.knex(this.table).where({ key, scope }).first('request_hash', 'response')
    return row ? { requestHash: row.request_hash, response: row.response } : undefined
  }

  /** Saves the answer inside the request's transaction, just before it commits. */
  async save(session: DbSession, key: string, scope: string, requestHash: string, response: string): Promise<void> {
    await session.run(session.knex(this.table).insert({ key, scope, request_hash: requestHash, response }))
  }

  /** Whether `error` is the unique violation of a concurrent request with the same key. */
  isDuplicate(error: unknown): boolean {
    const pg = error as { code?: string; table?: string }
    return pg?.code === '23505' && pg.table === this.table
  }
}

/** SHA-256 of a string, hex: the body's fingerprint and the caller's scope. */
export async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text))
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('')
}

/** The caller's identity as a stable string (keys are per caller). */
export function scopeOf(ctx: unknown): string {
  return JSON.stringify(ctx ?? null, (_key, value: unknown) => (typeof value === 'bigint' ? `${value}n` : value))
}
