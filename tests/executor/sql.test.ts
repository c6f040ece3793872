/**
 * The SQL writer's quoting: every identifier stays one identifier in either placeholder
 * style, and knex reads no placeholder inside one.
 */
import knexFactory from 'knex'
import { describe, expect, it } from 'vitest'
import { fixed, Params } from '../../executor/session/sql.js'

describe('SQL identifiers', () => {
  it('double-quotes names, doubling embedded quotes', () => {
    const p = new Params('pg')
    expect(p.id('created_at')).toBe('"created_at"')
    expect(p.id('select')).toBe('"select"')
    expect(p.id('we"ird')).toBe('"we""ird"')
    expect(p.id('x" from secrets --')).toBe('"x"" from secrets --"')
    expect(p.id('a?b')).toBe('"a?b"')
    expect(p.table('public.authors')).toBe('"public"."authors"')
    expect(p.column('t0', 'id')).toBe('"t0"."id"')
  })

  it('numbers pg placeholders and keeps the values in order', () => {
    const p = new Params('pg')
    expect([p.add(1), p.add('x'), p.add(null)]).toEqual(['$1', '$2', '$3'])
    expect(p.statement('select').values).toEqual([1, 'x', null])
  })

  it('escapes ? in names for knex, which then reads only the real placeholders', () => {
    const knex = knexFactory({ client: 'pg' })
    const p = new Params('knex')
    const statement = p.statement(`select ${p.column('t0', 'a?b')} as ${p.id('c??d')} from ${p.table('s.t?')} as "t0" where ${p.column('t0', 'id')} = ${p.add(7)}`)
    const { sql, bindings } = knex.raw(statement.text, statement.values as number[]).toSQL().toNative()
    expect(sql).toBe('select "t0"."a?b" as "c??d" from "s"."t?" as "t0" where "t0"."id" = $1')
    expect(bindings).toEqual([7])
  })

  it('gives knex the values in the order the text uses them, whatever order the parts were written in', () => {
    const knex = knexFactory({ client: 'pg' })
    for (const style of ['knex', 'pg'] as const) {
      const p = new Params(style)
      // The where clause is written first, the select list (which comes first in the text) after.
      const where = `"t0"."a" = ${p.add('where')}`
      const select = `${p.add('select')} as "s"`
      const statement = p.statement(`select ${select} from "t" as "t0" where ${where} limit ${p.add(3)}`)
      const native = style === 'knex' ? knex.raw(statement.text, statement.values as string[]).toSQL().toNative() : { sql: statement.text, bindings: statement.values }
      const values = [...native.sql.matchAll(/\$(\d+)/g)].map((m) => native.bindings[Number(m[1]) - 1])
      expect(values, style).toEqual(['select', 'where', 3])
    }
  })
})

describe('fixed SQL words', () => {
  it('maps only own keys of its table, whatever a caller passes', () => {
    const table = { count: 'count' } as Record<string, string>
    expect(fixed<string>(table, 'count', 'aggregate')).toBe('count')
    for (const key of ['constructor', '__proto__', 'toString', 'count; drop table x']) {
      expect(() => fixed<string>(table, key, 'aggregate')).toThrow(TypeError)
    }
  })
})
