/**
 * Issue 12, finding 11: a row could point at another tenant's row, and the database's
 * `does not refer to an existing row` told which ids exist in other tenants. A foreign
 * key the client writes to an exposed model must point at a row the caller may read;
 * one outside the policy gets the answer a missing one gets.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expose } from '../../executor/index.js'
import { DATABASE_KINDS } from '../support/databases.js'
import { openTenantApp, STAFF_1, tenantApi, Ticket, type TenantApp, type TenantCtx } from '../support/tenant-app.js'

describe.each(DATABASE_KINDS)('written foreign keys under the target policy on %s', (kind) => {
  let app: TenantApp
  let own: number
  let foreign: number
  beforeAll(async () => {
    app = await openTenantApp(kind)
    own = (await app.knex('projects').where({ tenant_id: 1, locked: false }).first()).id
    foreign = (await app.knex('projects').where({ tenant_id: 2 }).first()).id
  })
  afterAll(() => app?.close())

  const missing = { code: 'CONFLICT', message: 'projectId does not refer to an existing row' }
  const tickets = async (title: string) => Number(((await app.knex('tickets').where({ title }).count({ n: '*' })) as [{ n: string }])[0].n)

  it('answers an insert pointing at another tenant’s row exactly as one pointing at no row', async () => {
    const [other, none, mine] = await app.run(
      STAFF_1,
      { model: 'Ticket', op: 'insert', rows: [{ projectId: foreign, title: 'cross' }], returning: 'first' },
      { model: 'Ticket', op: 'insert', rows: [{ projectId: 987654, title: 'cross' }], returning: 'first' },
      { model: 'Ticket', op: 'insert', rows: [{ projectId: own, title: 'mine' }], returning: 'first' },
    )
    expect(other).toEqual({ error: missing })
    expect(none).toEqual({ error: missing })
    expect(mine).toMatchObject({ data: { projectId: own } })
    expect(await tickets('cross')).toBe(0)
  })

  it('checks every row of a multi-row insert, and patches', async () => {
    const [insert, patch] = await app.run(
      STAFF_1,
      { model: 'Ticket', op: 'insert', rows: [{ projectId: own, title: 'cross 2' }, { projectId: foreign, title: 'cross 2' }], returning: 'rows' },
      { model: 'Ticket', op: 'patch', values: { projectId: foreign }, where: { kind: 'compare', column: 'title', op: '=', value: 'mine' }, returning: 'count' },
    )
    expect(insert).toEqual({ error: missing })
    expect(patch).toEqual({ error: missing })
    expect(await tickets('cross 2')).toBe(0)
    expect(await app.knex('tickets').where({ title: 'mine' }).first()).toMatchObject({ project_id: own })
  })

  it('lets an app opt out per grant, leaving it to the database', async () => {
    const open = await (await import('../support/tenant-app.js')).openTenantApp(kind, {
      api: {
        ...tenantApi,
        Ticket: expose(Ticket, {
          read: { allow: ['staff'], columns: '*', where: (ctx: TenantCtx | null) => ({ tenantId: ctx!.tenant }) },
          insert: { columns: ['projectId', 'title'], set: (ctx: TenantCtx | null) => ({ tenantId: ctx!.tenant }), checkReferences: false },
          relations: ['project'],
        }),
      },
    })
    try {
      const otherTenant = (await open.knex('projects').where({ tenant_id: 2 }).first()).id
      const [result] = await open.run(STAFF_1, { model: 'Ticket', op: 'insert', rows: [{ projectId: otherTenant, title: 'trusted' }], returning: 'first' })
      expect(result).toMatchObject({ data: { projectId: otherTenant } })
    } finally {
      await open.close()
    }
  })
})
