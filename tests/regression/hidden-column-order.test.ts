/**
 * Issue 12, finding 2: a non-aggregate query carrying `aggregates: []` skipped the column
 * check on `orderBy`, so callers could sort by hidden columns (`budget`), tell hidden
 * columns from missing ones, and order by the whole row (`to_jsonb`). Every field of a
 * query is checked whatever its op; an order term names a readable column, or (in an
 * aggregate query only) one of that query's own aliases.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DATABASE_KINDS } from '../support/databases.js'
import { openTenantApp, STAFF_1, type TenantApp } from '../support/tenant-app.js'

describe.each(DATABASE_KINDS)('order terms on %s', (kind) => {
  let app: TenantApp
  beforeAll(async () => {
    app = await openTenantApp(kind)
  })
  afterAll(() => app?.close())

  const order = (column: string) => [{ column, direction: 'desc' }]
  const refusal = async (query: Record<string, unknown>) => {
    app.sql.length = 0
    const [result] = await app.run(STAFF_1, query)
    expect(app.sql.filter((s) => /projects/.test(s))).toEqual([])
    return result
  }

  it('refuses a hidden column exactly like a missing one, whatever the op and the empty fields', async () => {
    const shapes: Record<string, unknown>[] = [
      { op: 'select', aggregates: [] },
      { op: 'select', groupBy: [] },
      { op: 'first', aggregates: [] },
      { op: 'page', aggregates: [], limit: 5 },
      { op: 'count' },
      { op: 'exists' },
      { op: 'select' },
    ]
    for (const shape of shapes) {
      for (const column of ['budget', 'to_jsonb', 'ctid', 'xmin']) {
        const result = await refusal({ model: 'Project', ...shape, orderBy: order(column) })
        const missing = await refusal({ model: 'Project', ...shape, orderBy: order('doesNotExist') })
        expect(result).toHaveProperty('error.code', 'BAD_REQUEST')
        expect(missing).toHaveProperty('error.code', 'BAD_REQUEST')
        // One message shape for both: a hidden column is indistinguishable from a missing one.
        expect((result as { error: { message: string } }).error.message).toBe(
          (missing as { error: { message: string } }).error.message.replace('doesNotExist', column),
        )
      }
    }
  })

  it('refuses hidden order terms inside relations, and aggregate aliases outside aggregate queries', async () => {
    const inRelation = await refusal({ model: 'Ticket', op: 'select', graph: [{ relation: 'project', orderBy: order('budget') }] })
    expect(inRelation).toHaveProperty('error.code', 'BAD_REQUEST')
    const alias = await refusal({ model: 'Project', op: 'select', aggregates: [], orderBy: order('n') })
    expect(alias).toHaveProperty('error.code', 'BAD_REQUEST')
    const undeclared = await refusal({ model: 'Project', op: 'aggregate', aggregates: [{ fn: 'count', alias: 'n' }], orderBy: order('budget') })
    expect(undeclared).toHaveProperty('error.code', 'BAD_REQUEST')
    const groupedHidden = await refusal({ model: 'Project', op: 'aggregate', aggregates: [{ fn: 'count', alias: 'n' }], groupBy: ['budget'] })
    expect(groupedHidden).toHaveProperty('error.code', 'BAD_REQUEST')
  })

  it('still orders aggregate queries by their own aliases and groupBy columns', async () => {
    const [result] = await app.run(STAFF_1, {
      model: 'Ticket',
      op: 'aggregate',
      groupBy: ['projectId'],
      aggregates: [{ fn: 'count', alias: 'n' }],
      orderBy: [{ column: 'n', direction: 'desc' }, { column: 'projectId', direction: 'asc' }],
    })
    expect(result).toHaveProperty('data')
    expect((result as { data: { n: number }[] }).data.map((row) => row.n)).toEqual([4, 4, 4])
  })
})
