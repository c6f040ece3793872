/** Helpers to compare executor results with objection's, whatever each side parses to. */

/** Deep copy with bigints as strings (objection leaves int8 as strings) and models as plain objects. */
export function plain(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString()
  if (value instanceof Date) return value.toISOString()
  if (Array.isArray(value)) return value.map(plain)
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = plain(v)
    return out
  }
  return value
}

/** Keeps only `keys` of each row (objection returns every column; the API exposes some). */
export function pick<T extends object>(rows: readonly T[], keys: readonly string[]): Record<string, unknown>[] {
  return rows.map((row) => {
    const out: Record<string, unknown> = {}
    for (const key of keys) if (key in row) out[key] = (row as Record<string, unknown>)[key]
    return out
  })
}
