/**
 * The opt-in idempotency store: a request that writes and carries an `Idempotency-Key` is
 * applied once. What its writes answered is saved in a PostgreSQL table in the same
 * transaction as the writes, so a retry (same key, same caller, same body) is answered
 * from it instead of writing again; its reads are not kept but run again. A concurrent
 * duplicate waits on the key's unique index and then replays. A key reused for a
 * different request is a `CONFLICT`. Entries expire (`ttlSeconds`) and are swept.
 */
import type { Knex } from 'knex'
import type { DbSession } from '../session/db-session.js'
import { ExecutorError } from '../executor-error.js'

export interface IdempotencyOptions {
  /** The table the store keeps answers in (created when missing). Default `async_orm_idempotency`. */
  readonly table?: string
  /** How long a saved answer is replayed, in seconds. Default 86 400 (a day). */
  readonly ttlSeconds?: number
  /**
   * Largest saved answer (its write results), in bytes. A request whose writes would
   * answer more is refused (`LIMIT_EXCEEDED`) and nothing is applied. Default 1 MiB.
   */
  readonly maxAnswerBytes?: number
}

export interface StoredAnswer {
  readonly requestHash: string
  readonly response: string
}

const KEY = /^[A-Za-z0-9_.:-]{1,200}$/
const TABLE = /^[a-z_][a-z0-9_]{0,62}$/
/** Expired entries are swept at most this often (per executor). */
const SWEEP_INTERVAL_MS = 60_000

/** Thrown inside the request's transaction when an entry for the key exists already. */
export class DuplicateKey extends Error {}

export class IdempotencyStore {
  readonly table: string
  readonly ttlSeconds: number
  readonly maxAnswerBytes: number
  private lastSweep = 0

  constructor(
    private readonly knex: Knex,
    options: IdempotencyOptions = {},
  ) {
    this.table = options.table ?? 'async_orm_idempotency'
    if (!TABLE.test(this.table)) throw new TypeError('idempotency.table must be a plain lower-case identifier')
    this.ttlSeconds = positive(options.ttlSeconds, 86_400, 'idempotency.ttlSeconds')
    this.maxAnswerBytes = positive(options.maxAnswerBytes, 1024 * 1024, 'idempotency.maxAnswerBytes')
  }

  /**
   * Creates the table if it is missing. Executors starting together take turns (a
   * transaction-level advisory lock, which a pooler in transaction mode keeps): one creates
   * it, the others find it.
   */
  async ensureTable(): Promise<void> {
    if (await this.knex.schema.hasTable(this.table)) return
    await this.knex.transaction(async (trx) => {
      await trx.raw('select pg_advisory_xact_lock(hashtext(?))', [`async-orm idempotency ${this.table}`])
      if (await trx.schema.hasTable(this.table)) return
      await trx.schema.createTable(this.table, (t) => {
        t.text('key').notNullable()
        t.text('scope').notNullable()
        t.text('request_hash').notNullable()
        t.text('response').notNullable()
        t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(this.knex.fn.now())
        t.primary(['key', 'scope'])
        t.index(['created_at'])
      })
    })
  }

  /** Checks the header's form; the key is then only ever a bound value. */
  static key(header: string): string {
    if (!KEY.test(header)) {
      throw new ExecutorError('BAD_REQUEST', 'Idempotency-Key must be 1 to 200 letters, digits or . _ : -')
    }
    return header
  }

  /** The unexpired entry for this key and caller. */
  async lookup(key: string, scope: string): Promise<StoredAnswer | undefined> {
    const row = await this.knex(this.table)
      .where({ key, scope })
      .andWhereRaw('created_at > now() - make_interval(secs => ?)', [this.ttlSeconds])
      .first('request_hash', 'response')
    return row ? { requestHash: row.request_hash, response: row.response } : undefined
  }

  /**
   * Saves the answer inside the request's transaction, just before it commits. An entry
   * for the key that has expired is replaced; a live one (a concurrent duplicate that
   * committed first) makes this throw `DuplicateKey`.
   */
  async save(session: DbSession, key: string, scope: string, requestHash: string, response: string): Promise<void> {
    if (response.length > this.maxAnswerBytes) {
      throw new ExecutorError(
        'LIMIT_EXCEEDED',
        `the answer of this write would be larger than ${this.maxAnswerBytes} bytes, more than the idempotency store keeps; return fewer rows or columns`,
      )
    }
    const saved = await session.run<{ rows: unknown[] }>(
      session.knex.raw(
        `insert into ?? as "entry" (key, scope, request_hash, response, created_at) values (?, ?, ?, ?, now())
         on conflict (key, scope) do update set request_hash = excluded.request_hash, response = excluded.response, created_at = excluded.created_at
         where "entry".created_at <= now() - make_interval(secs => ?) returning 1`,
        [this.table, key, scope, requestHash, response, this.ttlSeconds],
      ),
    )
    if (saved.rows.length === 0) throw new DuplicateKey()
  }

  /** Whether `error` says a concurrent request with the same key got there first. */
  isDuplicate(error: unknown): boolean {
    if (error instanceof DuplicateKey) return true
    const pg = error as { code?: string; table?: string }
    return pg?.code === '23505' && pg.table === this.table
  }

  /** Deletes expired entries, at most once a minute; never fails the caller. */
  sweep(onError: (error: unknown) => void): void {
    const now = Date.now()
    if (now - this.lastSweep < SWEEP_INTERVAL_MS) return
    this.lastSweep = now
    this.knex(this.table)
      .whereRaw('created_at <= now() - make_interval(secs => ?)', [this.ttlSeconds])
      .delete()
      .then(() => undefined, onError)
  }
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback
  if (!Number.isSafeInteger(value) || value < 1) throw new TypeError(`${name} must be a positive integer`)
  return value
}

/** SHA-256 of a string, hex: the body's fingerprint and the caller's scope. */
export async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text))
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('')
}

/** Token claims that change with every issuance of a token, not with the caller. */
const ISSUANCE_CLAIMS = new Set(['iat', 'exp', 'nbf', 'jti'])

/**
 * The caller's identity as a stable string (keys are per caller): the context without the
 * claims a refreshed token changes (`iat`, `exp`, `nbf`, `jti`, when `jwtAuth` passes the
 * payload through), so a retry sent with a new token for the same caller is the same
 * caller. Keys are sorted: two equal contexts give one scope.
 */
export function scopeOf(ctx: unknown): string {
  const plain = (value: unknown): value is Record<string, unknown> =>
    value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Date)
  const root = plain(ctx) ? Object.fromEntries(Object.entries(ctx).filter(([key]) => !ISSUANCE_CLAIMS.has(key))) : (ctx ?? null)
  return JSON.stringify(root, (_key, value: unknown) => {
    if (typeof value === 'bigint') return `${value}n`
    return plain(value) ? Object.fromEntries(Object.keys(value).sort().map((k) => [k, value[k]])) : value
  })
}
