/**
 * Type parsers for the executor's own reads, passed per query (never installed
 * globally, so the application's other queries keep pg's defaults): int8 as bigint, and
 * timestamptz as a `Date` that already knows its ISO text, so answering it costs no
 * second conversion. Everything else is pg's parser (the application's, if it set one).
 */
import pg from 'pg'

const INT8 = 20
const TIMESTAMPTZ = 1184

/** A `Date` whose `toISOString()` (and so `toJSON()`) is the text it was parsed from. */
class IsoDate extends Date {
  constructor(
    time: number,
    private readonly iso: string,
  ) {
    super(time)
  }

  override toISOString(): string {
    return this.iso
  }
}

/**
 * PostgreSQL's ISO output in UTC (`2024-10-08 16:37:34.713123+00`, the common case) is
 * rewritten to JavaScript's ISO form directly (milliseconds truncated, as `Date` does);
 * any other form (another time zone, BC, infinity, five-digit years) goes through pg.
 */
function parseTimestamptz(text: string): unknown {
  const n = text.length
  const shape = text.charCodeAt(4) === 45 /* - */ && text.charCodeAt(10) === 32 /* space */ && (n === 22 || text.charCodeAt(19) === 46) /* . */
  if (n >= 22 && n <= 29 && shape && text.endsWith('+00')) {
    const fraction = n > 22 ? text.slice(20, n - 3) : ''
    const iso = `${text.slice(0, 10)}T${text.slice(11, 19)}.${`${fraction}000`.slice(0, 3)}Z`
    const date = new IsoDate(Date.parse(iso), iso)
    // Date.parse rolls over what it should refuse (February 30, 24:00): keep only exact fields.
    if (date.getUTCDate() === digits(text, 8) && date.getUTCHours() === digits(text, 11)) return date
  }
  return pg.types.getTypeParser(TIMESTAMPTZ, 'text')(text)
}

/** The two-digit number at `at`. */
function digits(text: string, at: number): number {
  return (text.charCodeAt(at) - 48) * 10 + text.charCodeAt(at + 1) - 48
}

function parseInt8(text: string): bigint {
  return BigInt(text)
}

/**
 * pg's per-query `types` option for the executor's reads. It is also an empty array:
 * pg hands a query's `types` to its Parse message as the parameters' type OIDs as well,
 * and PGlite's driver iterates it, so both readings must hold (no declared OIDs).
 */
export const READ_TYPES: readonly never[] & { getTypeParser(oid: number, format?: 'text' | 'binary'): (text: string) => unknown } = Object.assign([], {
  getTypeParser(oid: number, format?: 'text' | 'binary'): (text: string) => unknown {
    if (format !== 'binary') {
      if (oid === TIMESTAMPTZ) return parseTimestamptz
      if (oid === INT8) return parseInt8
    }
    return format === 'binary' ? pg.types.getTypeParser(oid, 'binary') : pg.types.getTypeParser(oid, 'text')
  },
})
