/**
 * The executor's per-query type parsers agree with pg's own: the same instant and the
 * same ISO text for every timestamptz PostgreSQL can print, on the fast path and off it;
 * parsers the application sets on its connection keep applying to the other types.
 */
import fc from 'fast-check'
import knexFactory, { type Knex } from 'knex'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient } from '../../client/index.js'
import type { DemoApi } from '../../examples/demo/api.js'
import { api } from '../../examples/demo/api.js'
import { createExecutor } from '../../executor/index.js'
import { READ_TYPES } from '../../executor/session/read-types.js'
import { POSTGRES_URL } from '../support/databases.js'
import { openDemo, type Demo } from '../support/demo.js'

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

  it('parses int8 and int8 arrays as bigint and leaves other types to pg', () => {
    expect(READ_TYPES.getTypeParser(20, 'text')('9007199254740993')).toBe(9007199254740993n)
    expect(READ_TYPES.getTypeParser(1016, 'text')('{1,NULL,9007199254740993}')).toEqual([1n, null, 9007199254740993n])
    expect(READ_TYPES.getTypeParser(1016, 'text')('{{1,2},{3,NULL}}')).toEqual([[1n, 2n], [3n, null]])
    expect(READ_TYPES.getTypeParser(23, 'text')).toBe(pg.types.getTypeParser(23, 'text'))
    expect(READ_TYPES.getTypeParser(1114, 'text')).toBe(pg.types.getTypeParser(1114, 'text'))
  })

  it('is also an empty list of parameter types, as pg and PGlite read it in Parse', () => {
    expect(READ_TYPES).toHaveLength(0)
    expect([...READ_TYPES]).toEqual([])
  })
})

describe('type parsers set on the connection (PostgreSQL)', () => {
  let demo: Demo
  beforeAll(async () => {
    demo = await openDemo('postgres')
  })
  afterAll(() => demo?.close())

  it('still apply to every type but int8 and timestamptz in the executor’s reads', async () => {
    const { searchPath } = demo.knex.client.config as { searchPath: string[] }
    const NUMERIC = 1700
    const types = { getTypeParser: (oid: number, format?: 'text' | 'binary') => (oid === NUMERIC ? Number : pg.types.getTypeParser(oid, format ?? 'text')) }
    const knex = knexFactory({ client: 'pg', connection: { connectionString: POSTGRES_URL, types } as Knex.PgConnectionConfig, searchPath, pool: { min: 0, max: 1 } })
    try {
      const executor = createExecutor({ knex, api })
      const db = createClient<DemoApi>({ url: 'http://test.local/orm', fetch: (input, init) => executor(new Request(input as string, init)) })
      const author = await db.Author.query().whereNotNull('rating').orderBy('id').first()
      expect(typeof author!.rating).toBe('number')
      expect(typeof author!.id).toBe('bigint')
      expect(author!.createdAt).toBeInstanceOf(Date)
    } finally {
      await knex.destroy()
    }
  })
})
