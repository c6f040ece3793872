/** Every limit the executor enforces, with its safe default (DESIGN.md, "Security model"). */
export interface Limits {
  /** Rows returned when a query gives no limit. */
  readonly defaultLimit: number
  /** Largest `limit` a query may ask for, at the top level and per parent in a relation. */
  readonly maxLimit: number
  /** Most rows one relation level may load across all parents. */
  readonly maxRelationRows: number
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
  /** `statement_timeout` set with `SET LOCAL` in each request's transaction. */
  readonly statementTimeoutMs: number
  /** Longest wait for a pooled connection before answering `UNAVAILABLE` (503). */
  readonly acquireTimeoutMs: number
}

export const DEFAULT_LIMITS: Limits = Object.freeze({
  defaultLimit: 100,
  maxLimit: 1000,
  maxRelationRows: 10_000,
  maxGraphDepth: 4,
  maxInList: 1000,
  maxBatch: 50,
  maxBodyBytes: 1024 * 1024,
  maxAstNodes: 5000,
  maxAstDepth: 40,
  maxStringLength: 10_000,
  statementTimeoutMs: 5000,
  acquireTimeoutMs: 5000,
})

export function resolveLimits(overrides: Partial<Limits> = {}): Limits {
  const limits = { ...DEFAULT_LIMITS }
  for (const key of Object.keys(overrides) as (keyof Limits)[]) {
    const value = overrides[key]
    if (value === undefined) continue
    if (!Object.hasOwn(DEFAULT_LIMITS, key)) throw new TypeError(`unknown limit "${String(key)}"`)
    if (!Number.isSafeInteger(value) || value < 1) throw new TypeError(`limit ${key} must be a positive integer`)
    limits[key] = value
  }
  return Object.freeze(limits)
}
