/**
 * Issue 12, finding 3 (its second half): what a `like` pattern may cost is bounded — its
 * length, its `%` wildcards and the number of patterns in one query — before any SQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_LIMITS } from '../../executor/index.js'
import { openTenantApp, STAFF_1, type TenantApp } from '../support/tenant-app.js'

describe('pattern bounds (PGlite)', () => {
  let app: TenantApp
  beforeAll(async () => {
    app = await openTenantApp('pglite')
  })
  afterAll(() => app?.close())

  const like = (value: string, op = 'like') => ({ kind: 'compare', column: 'title', op, value })
  const query = (where: unknown) => ({ model: 'Ticket', op: 'count', where })
  const codeOf = async (where: unknown) => {
    app.sql.length = 0
    const [result] = await app.run(STAFF_1, query(where))
    return 'error' in result! ? result.error.code : 'ok'
  }

  it('refuses long patterns, many wildcards and many patterns, in every operator and position', async () => {
    const { maxPatternLength, maxPatternWildcards, maxPatternFilters } = DEFAULT_LIMITS
    expect(await codeOf(like('a'.repeat(maxPatternLength)))).toBe('ok')
    expect(await codeOf(like('a'.repeat(maxPatternLength + 1)))).toBe('LIMIT_EXCEEDED')
    expect(await codeOf(like('%a'.repeat(maxPatternWildcards)))).toBe('ok')
    for (const op of ['like', 'ilike', 'not like', 'not ilike']) {
      expect(await codeOf(like('%a'.repeat(maxPatternWildcards + 1), op))).toBe('LIMIT_EXCEEDED')
    }
    // Escaped wildcards match literally and cost nothing extra.
    expect(await codeOf(like('\\%'.repeat(20)))).toBe('ok')
    const many = (n: number) => ({ kind: 'or', filters: Array.from({ length: n }, (_, i) => like(`%${i}%`)) })
    expect(await codeOf(many(maxPatternFilters))).toBe('ok')
    expect(await codeOf(many(maxPatternFilters + 1))).toBe('LIMIT_EXCEEDED')
    // Patterns in relation filters and relation loads count too.
    const inRelation = { kind: 'exists', relation: 'labels', where: { kind: 'and', filters: Array.from({ length: maxPatternFilters + 1 }, () => ({ kind: 'compare', column: 'name', op: 'ilike', value: '%x%' })) } }
    expect(await codeOf(inRelation)).toBe('LIMIT_EXCEEDED')
    expect(app.sql.filter((s) => s.includes('tickets'))).toEqual([])
  })
})
