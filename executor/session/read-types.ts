/**
 * Type parsers for the executor's own reads, passed per query (never installed
 * globally, so the application's other queries keep pg's defaults): int8 and its arrays
 * as bigint, and timestamptz as a `Date` read from PostgreSQL's own text, so answering
 * it costs no second conversion. Everything else is pg's parser (the application's, if it set one).
 */
import pg from 'pg'

const INT8 = 20
const INT8_ARRAY = 1016
const TIMESTAMPTZ = 1184

/**
 * A `Date` parsed from PostgreSQL's UTC text, which it keeps (pg allocated it anyway):
 * `toISOString()` (and so `toJSON()`) rewrites that text instead of formatting the time.
 * Nothing else is allocated per value, which matters while a large result is arriving.
 */
class PgDate extends Date {
  constructor(
    time: number,
    private readonly text: string,
  ) {
    super(time)
  }

  override toISOString(): string {
    const ms = this.getUTCMilliseconds()
    return `${this.text.slice(0, 10)}T${this.text.slice(11, 19)}.${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z`
  }
}

/**
 * PostgreSQL's ISO output in UTC (`2024-10-08 16:37:34.713123+00`, the common case) is
 * read digit by digit (milliseconds truncated, as `Date` does); any other form (another
 * time zone, BC, infinity, years before 100 or after 9999) goes through pg's parser.
 */
function parseTimestamptz(text: string): unknown {
  const n = text.length
  if (n >= 22 && n <= 29 && text.endsWith('+00') && shaped(text, n)) {
    const year = digits(text, 0) * 100 + digits(text, 2)
    const month = digits(text, 5)
    const day = digits(text, 8)
    const hour = digits(text, 11)
    const minute = digits(text, 14)
    const second = digits(text, 17)
    let ms = 0
    for (let i = 20, scale = 100; i < n - 3 && scale >= 1; i++, scale /= 10) ms += (text.charCodeAt(i) - 48) * scale
    if (year >= 100) {
      const date = new PgDate(Date.UTC(year, month - 1, day, hour, minute, second, ms), text)
      // Date.UTC rolls over what it should refuse (February 30, 24:00): keep only exact fields.
      const exact =
        date.getUTCMonth() === month - 1 && date.getUTCDate() === day && date.getUTCHours() === hour && date.getUTCMinutes() === minute && date.getUTCSeconds() === second
      if (exact) return date
    }
  }
  return pg.types.getTypeParser(TIMESTAMPTZ, 'text')(text)
}

/** `YYYY-MM-DD HH:MM:SS` then `+00` or `.` and 1 to 6 digits then `+00`, digits where digits belong. */
function shaped(text: string, n: number): boolean {
  for (let i = 0; i < n - 3; i++) {
    const c = text.charCodeAt(i)
    const expected = i === 4 || i === 7 ? 45 /* - */ : i === 10 ? 32 /* space */ : i === 13 || i === 16 ? 58 /* : */ : i === 19 ? 46 /* . */ : -1
    if (expected === -1 ? c < 48 || c > 57 : c !== expected) return false
  }
  return n === 22 || n > 23
}

/** The two-digit number at `at`. */
function digits(text: string, at: number): number {
  return (text.charCodeAt(at) - 48) * 10 + text.charCodeAt(at + 1) - 48
}

function parseInt8(text: string): bigint {
  return BigInt(text)
}

/** Every element of a (nested) int8 array as a bigint; nulls stay null. */
function toBigInts(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toBigInts)
  return typeof value === 'string' || typeof value === 'number' ? BigInt(value) : value
}

/** Type parsers as pg looks them up (a pg client, or pg's global registry). */
export interface TypeParsers {
  getTypeParser(oid: number, format?: 'text' | 'binary'): (text: string) => unknown
}

/**
 * The app's parsers for PostgreSQL types pg leaves as text (`createExecutor({ types: {
 * numeric: (text) => new Decimal(text) } })`), by type OID and by the name the catalog
 * gives the type (`format_type`, as column types are known).
 */
export interface TypeOverrides {
  readonly byOid: ReadonlyMap<number, (text: string) => unknown>
  readonly byName: ReadonlyMap<string, (text: string) => unknown>
}

const NO_OVERRIDES: TypeOverrides = { byOid: new Map(), byName: new Map() }

/** Per-query parsers for reads, empty arrays as well (below), by the parsers they fall back to and the app's overrides. */
const byFallback = new WeakMap<TypeParsers, WeakMap<TypeOverrides, readonly never[] & TypeParsers>>()

/**
 * pg's per-query `types` option for the executor's reads on a connection: int8 and
 * timestamptz as above, every other type as the connection parses it (so a `types`
 * option in the knex connection settings still applies). It is also an empty array:
 * pg hands a query's `types` to its Parse message as the parameters' type OIDs as well,
 * and PGlite's driver iterates it, so both readings must hold (no declared OIDs).
 */
export function readTypes(connection: Partial<TypeParsers>, overrides: TypeOverrides = NO_OVERRIDES): readonly never[] & TypeParsers {
  const fallback: TypeParsers = typeof connection.getTypeParser === 'function' ? (connection as TypeParsers) : pg.types
  let byOverrides = byFallback.get(fallback)
  if (byOverrides === undefined) byFallback.set(fallback, (byOverrides = new WeakMap()))
  let types = byOverrides.get(overrides)
  if (types === undefined) {
    const parseArray = fallback.getTypeParser(INT8_ARRAY, 'text')
    const parseInt8Array = (text: string) => toBigInts(parseArray(text))
    types = Object.assign([], {
      getTypeParser(oid: number, format?: 'text' | 'binary'): (text: string) => unknown {
        if (format !== 'binary') {
          const own = overrides.byOid.get(oid)
          if (own) return own
          if (oid === TIMESTAMPTZ) return parseTimestamptz
          if (oid === INT8) return parseInt8
          if (oid === INT8_ARRAY) return parseInt8Array
        }
        return fallback.getTypeParser(oid, format ?? 'text')
      },
    })
    byOverrides.set(overrides, types)
  }
  return types
}

/**
 * A value as a statement parameter: what an app's `types` parser made of a column (a
 * Decimal, a Uuid class) goes back to PostgreSQL as its text (`String(value)`), wherever
 * the executor reuses it — relation keys, links, references, policy comparisons; pg would
 * send such an object as JSON. Other values are unchanged.
 */
export function asParameter(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || value instanceof Date || Array.isArray(value) || ArrayBuffer.isView(value)) return value
  const prototype = Object.getPrototypeOf(value) as unknown
  return prototype === Object.prototype || prototype === null ? value : String(value)
}

/** pg's parser for a type it leaves as text (text itself has no other). */
const AS_TEXT = pg.types.getTypeParser(25, 'text')

/**
 * The app's `types` option, checked against the catalog: each name a PostgreSQL type
 * (`numeric`, `money`, `uuid`, a domain's base…), and one pg leaves as text, so that every
 * read, in any session, hands the parser PostgreSQL's text.
 */
export async function typeOverrides(
  query: (text: string, values: unknown[]) => Promise<{ oid: unknown; name: unknown }[]>,
  types: Readonly<Record<string, (text: string) => unknown>> | undefined,
): Promise<TypeOverrides> {
  if (types === undefined || Object.keys(types).length === 0) return NO_OVERRIDES
  const byOid = new Map<number, (text: string) => unknown>()
  const byName = new Map<string, (text: string) => unknown>()
  for (const [name, parse] of Object.entries(types)) {
    if (typeof parse !== 'function') throw new TypeError(`types.${name} must be a function of the value's text`)
    const [row] = await query('select t.oid as "oid", format_type(t.oid, null) as "name" from pg_type t where t.oid = to_regtype($1)', [name])
    if (!row) throw new TypeError(`types.${name}: PostgreSQL has no type "${name}"`)
    const oid = Number(row.oid)
    if (oid === INT8 || oid === TIMESTAMPTZ || pg.types.getTypeParser(oid, 'text') !== AS_TEXT) {
      throw new TypeError(`types.${name}: pg reads ${String(row.name)} as a value of its own already; types maps only types pg leaves as text (numeric, money, uuid, inet…)`)
    }
    byOid.set(oid, parse)
    byName.set(String(row.name), parse)
  }
  return { byOid, byName }
}

/** The read parsers over pg's global registry. */
export const READ_TYPES = readTypes(pg.types)
