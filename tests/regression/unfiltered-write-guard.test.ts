/**
 * Issue 12, finding 14: `{ kind: 'and', filters: [] }` passed the guard against patches and
 * deletes without a filter. Any filter that matches every row by its shape alone (empty
 * groups, `not in []`, `not (or [])`, nested) counts as no filter.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DATABASE_KINDS } from '../support/databases.js'
import { openTenantApp, STAFF_1, type TenantApp } from '../support/tenant-app.js'

describe.each(DATABASE_KINDS)('the guard against whole-table writes on %s', (kind) => {
  let app: TenantApp
  beforeAll(async () => {
    app = await openTenantApp(kind)
  })
  afterAll(() => app?.close())

  const everyRow = [
    { kind: 'and', filters: [] },
    { kind: 'and', filters: [{ kind: 'and', filters: [] }, { kind: 'and', filters: [] }] },
    { kind: 'or', filters: [{ kind: 'and', filters: [] }, { kind: 'compare', column: 'id', op: '=', value: 1 }] },
    { kind: 'not', filter: { kind: 'or', filters: [] } },
    { kind: 'in', column: 'id', values: [], negated: true },
    { kind: 'not', filter: { kind: 'not', filter: { kind: 'and', filters: [] } } },
  ]

  it('refuses patch and delete whose filter matches every row by its shape', async () => {
    for (const where of everyRow) {
      const [patch, del] = await app.run(
        STAFF_1,
        { model: 'Ticket', op: 'patch', values: { title: 'all of them' }, where, returning: 'count' },
        { model: 'Ticket', op: 'delete', where, returning: 'count' },
      )
      expect(patch).toMatchObject({ error: { code: 'BAD_REQUEST', message: expect.stringContaining('without a filter') } })
      expect(del).toMatchObject({ error: { code: 'BAD_REQUEST', message: expect.stringContaining('without a filter') } })
    }
    expect(Number(((await app.knex('tickets').where({ title: 'all of them' }).count({ n: '*' })) as [{ n: string }])[0].n)).toBe(0)
  })

  it('still runs filters that can narrow the rows', async () => {
    const [patch] = await app.run(STAFF_1, {
      model: 'Ticket',
      op: 'patch',
      values: { title: 'narrowed' },
      where: { kind: 'and', filters: [{ kind: 'and', filters: [] }, { kind: 'in', column: 'id', values: [1, 2] }] },
      returning: 'count',
    })
    expect(patch).toEqual({ data: 2 })
    const [none] = await app.run(STAFF_1, { model: 'Ticket', op: 'delete', where: { kind: 'or', filters: [] }, returning: 'count' })
    expect(none).toEqual({ data: 0 })
  })
})
