/**
 * Issue 12, finding 4: a patch of a locked project was refused by the update grant's
 * `check`, but the same change through `insert … onConflict().merge()` went through and
 * skipped the `updatedBy` preset. A merge is an update: it takes the update grant's
 * `set`, `check`, `where` and the read policy; rows it inserts take the insert grant's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DATABASE_KINDS } from '../support/databases.js'
import { openTenantApp, STAFF_1, STAFF_2, USER_1, type TenantApp } from '../support/tenant-app.js'

describe.each(DATABASE_KINDS)('upsert merges under the update grant on %s', (kind) => {
  let app: TenantApp
  beforeAll(async () => {
    app = await openTenantApp(kind)
  })
  afterAll(() => app?.close())

  const project = (name: string, tenant = 1) => app.knex('projects').where({ tenant_id: tenant, name }).first()
  const upsert = (name: string, merge?: string[]) => ({
    model: 'Project',
    op: 'insert',
    rows: [{ name }],
    returning: 'rows',
    onConflict: { columns: ['tenantId', 'name'], action: 'merge', ...(merge && { merge }) },
  })

  it('refuses to merge into a row the update check refuses, as a patch would be refused', async () => {
    const locked = await project('t1 project 0')
    expect(locked.locked).toBe(true)
    const [patch] = await app.run(USER_1, { model: 'Project', op: 'patch', values: { name: 't1 project 0' }, where: { kind: 'id', ids: [locked.id] }, returning: 'count' })
    expect(patch).toMatchObject({ error: { code: 'FORBIDDEN' } })
    const [merged] = await app.run(USER_1, upsert('t1 project 0'))
    expect(merged).toMatchObject({ error: { code: 'FORBIDDEN' } })
    expect(await project('t1 project 0')).toMatchObject({ updated_by: null })
  })

  it('applies the update preset to merged rows and the insert presets to inserted ones', async () => {
    const [merged] = await app.run(USER_1, upsert('t1 project 1', ['name']))
    expect(merged).toHaveProperty('data')
    expect(await project('t1 project 1')).toMatchObject({ updated_by: 'bob', created_by: null })
    const [inserted] = await app.run(USER_1, upsert('t1 brand new'))
    expect(inserted).toMatchObject({ data: [{ name: 't1 brand new', tenantId: 1, createdBy: 'bob', updatedBy: null }] })
  })

  it('merges only into rows the caller may reach, and returns only those it may read', async () => {
    // Tenant 2's row with the same conflict key cannot be reached: tenant_id is a preset, so
    // the conflict is on tenant 1's own key; a missing one is inserted, never merged across.
    const [result] = await app.run(STAFF_2, upsert('t1 project 2'))
    expect(result).toMatchObject({ data: [{ tenantId: 2, name: 't1 project 2' }] })
    expect(await project('t1 project 2')).toMatchObject({ updated_by: null })
  })

  it('runs the insert check on rows an upsert inserts and the update check on rows it merges, in one statement', async () => {
    const [both] = await app.run(STAFF_1, {
      model: 'Project',
      op: 'insert',
      rows: [{ name: 't1 project 1' }, { name: 't1 other new' }, { name: 't1 project 0' }],
      returning: 'rows',
      onConflict: { columns: ['tenantId', 'name'], action: 'merge' },
    })
    // The locked row fails the update check: nothing of the statement is applied.
    expect(both).toMatchObject({ error: { code: 'FORBIDDEN' } })
    expect(await project('t1 other new')).toBeUndefined()
  })
})
