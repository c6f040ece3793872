/**
 * The executor's per-query type parsers agree with pg's own: the same instant and the
 * same ISO text for every timestamptz PostgreSQL can print, on the fast path and off it.
 */
import fc from 'fast-check'
import pg from 'pg'
import { describe, expect, it } from 'vitest'
import { READ_TYPES } from '../../executor/read-types.js'

const TIMESTAMPTZ = 1184
const pgParse = pg.types.getTypeParser(TIMESTAMPTZ, 'text') as (text: string) => unknown
const ours = READ_TYPES.getTypeParser(TIMESTAMPTZ, 'text')

const pad = (n: number, width: number) => String(n).padStart(width, '0')

/** A timestamptz as PostgreSQL prints it with DateStyle ISO (fraction without trailing zeros). */
const printed = fc
  .record({
    time: fc.integer({ min: Date.UTC(1, 0, 1) - Date.UTC(1970, 0, 1) + Date.UTC(1970, 0, 1), max: Date.UTC(9999, 11, 31, 23, 59, 59) }),
    micros: fc.integer({ min: 0, max: 999_999 }),
    offset: fc.constantFrom('+00', '+00', '+00', '+05:30', '-08', '+01'),
  })
  .map(({ time, micros, offset }) => {
    const d = new Date(time)
    const fraction = micros === 0 ? '' : `.${pad(micros, 6)}`.replace(/0+$/, '')
    const date = `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}`
    return `${date} ${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}${fraction}${offset}`
  })

function same(text: string): void {
  const expected = pgParse(text)
  const actual = ours(text)
  if (expected instanceof Date) {
    expect(actual).toBeInstanceOf(Date)
    expect((actual as Date).getTime()).toBe(expected.getTime())
    if (!Number.isNaN(expected.getTime())) expect((actual as Date).toISOString()).toBe(expected.toISOString())
    expect(JSON.stringify(actual)).toBe(JSON.stringify(expected))
  } else {
    expect(actual).toEqual(expected)
  }
}

describe('timestamptz parsing for reads', () => {
  it('matches pg for any printed timestamp, in UTC or another zone', () => {
    fc.assert(fc.property(printed, same), { numRuns: 3000 })
  })

  it('matches pg off the fast path: BC, infinity, five-digit years, odd text', () => {
    for (const text of [
      '0044-03-15 12:00:00+00 BC',
      'infinity',
      '-infinity',
      '12345-01-01 00:00:00+00',
      '2024-10-08 16:37:34.713+05:30',
      '2024-02-30 00:00:00+00',
      '2024-10-08 24:00:00+00',
      '2024-10-08T16:37:34+00',
      '2024-10-08 16:37:34,5+00',
      '2024-10-08 16:37:34.+00',
      '2024-13-08 16:37:34+00',
      '2024-10-08 16:60:34+00',
      '2024-10-08 16:37:60.5+00',
      '0099-12-31 23:59:59.999+00',
      '2024-1a-08 16:37:34+00',
    ]) {
      same(text)
    }
  })

  it('parses int8 as bigint and leaves other types to pg', () => {
    expect(READ_TYPES.getTypeParser(20, 'text')('9007199254740993')).toBe(9007199254740993n)
    expect(READ_TYPES.getTypeParser(23, 'text')).toBe(pg.types.getTypeParser(23, 'text'))
    expect(READ_TYPES.getTypeParser(1114, 'text')).toBe(pg.types.getTypeParser(1114, 'text'))
  })

  it('is also an empty list of parameter types, as pg and PGlite read it in Parse', () => {
    expect(READ_TYPES).toHaveLength(0)
    expect([...READ_TYPES]).toEqual([])
  })
})
