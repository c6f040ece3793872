/** Every limit the executor enforces, with its safe default (DESIGN.md, "Security model"). */
export interface Limits {
  /** Rows returned when a query gives no limit. */
  readonly defaultLimit: number
  /** Largest `limit` a query may ask for, at the top level and per parent in a relation. */
  readonly maxLimit: number
  /** Most rows one relation level may load across all parents. */
  readonly maxRelationRows: number
  /**
   * Most rows in one request's answer, across all its queries and relation levels,
   * counting a related row once for every parent it is attached to (what the answer
   * holds after fan-out, not what the database returned).
   */
  readonly maxResultRows: number
  /**
   * Most rows one stream (`qs.stream()`) may send, and its rows when the query gives no
   * limit. Each batch of a stream (its rows and their relations) is an answer of its own
   * for `maxResultRows` and `maxResponseBytes`; `transactionTimeoutMs` bounds it whole.
   */
  readonly maxStreamRows: number
  /**
   * Most streams running at once in this executor process: a stream holds its connection
   * while its client reads (up to `transactionTimeoutMs`), so streams may take only part of
   * the pool. Default: 4, or half the knex pool's `max` when that is smaller (at least 1).
   * More streams are answered `503 UNAVAILABLE` (clients retry).
   */
  readonly maxStreams: number
  /** Largest answer, in bytes of its JSON text. */
  readonly maxResponseBytes: number
  /** Deepest relation nesting in `withGraphFetched` and relation filters. */
  readonly maxGraphDepth: number
  /** Longest `whereIn` list (and most ids in `findByIds`). */
  readonly maxInList: number
  /** Most queries in one request. */
  readonly maxBatch: number
  /** Largest request body, checked before it is parsed. */
  readonly maxBodyBytes: number
  /** Most nodes (objects, arrays, values) in one request. */
  readonly maxAstNodes: number
  /** Deepest nesting in one request. */
  readonly maxAstDepth: number
  /** Longest string value. */
  readonly maxStringLength: number
  /** Longest `like`/`ilike` pattern. */
  readonly maxPatternLength: number
  /** Most unescaped `%` wildcards in one pattern. */
  readonly maxPatternWildcards: number
  /** Most `like`/`ilike` filters in one query. */
  readonly maxPatternFilters: number
  /** `statement_timeout` set with `SET LOCAL` in each request's transaction. */
  readonly statementTimeoutMs: number
  /**
   * Longest time one request may hold a database connection, all its queries together;
   * the statement running when it passes is cancelled.
   */
  readonly transactionTimeoutMs: number
  /** Longest wait for a pooled connection before answering `UNAVAILABLE` (503). */
  readonly acquireTimeoutMs: number
}

export const DEFAULT_LIMITS: Limits = Object.freeze({
  defaultLimit: 100,
  maxLimit: 1000,
  maxRelationRows: 10_000,
  maxResultRows: 50_000,
  maxStreamRows: 100_000,
  maxStreams: 4,
  maxResponseBytes: 16 * 1024 * 1024,
  maxGraphDepth: 4,
  maxInList: 1000,
  maxBatch: 50,
  maxBodyBytes: 1024 * 1024,
  maxAstNodes: 5000,
  maxAstDepth: 40,
  maxStringLength: 10_000,
  maxPatternLength: 100,
  maxPatternWildcards: 4,
  maxPatternFilters: 8,
  statementTimeoutMs: 5000,
  transactionTimeoutMs: 10_000,
  acquireTimeoutMs: 5000,
})

/** `poolMax`: the knex pool's `max`, which bounds the default `maxStreams`. */
export function resolveLimits(overrides: Partial<Limits> = {}, poolMax?: number): Limits {
  const limits = { ...DEFAULT_LIMITS }
  if (poolMax !== undefined && Number.isSafeInteger(poolMax) && poolMax > 0) limits.maxStreams = Math.max(1, Math.min(limits.maxStreams, Math.floor(poolMax / 2)))
  for (const key of Object.keys(overrides) as (keyof Limits)[]) {
    const value = overrides[key]
    if (value === undefined) continue
    if (!Object.hasOwn(DEFAULT_LIMITS, key)) throw new TypeError(`unknown limit "${String(key)}"`)
    if (!Number.isSafeInteger(value) || value < 1) throw new TypeError(`limit ${key} must be a positive integer`)
    limits[key] = value
  }
  return Object.freeze(limits)
}
