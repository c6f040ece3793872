/**
 * Issue 12, finding 5: a caller who may not read tickets patched one with `returning:
 * rows` and got the staff-only `internalNote`; `where internalNote like …` with a count
 * was an oracle; anonymous inserts returned an admin-only column. What a write filters
 * on needs the read grant; what it returns is what the caller may read.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DATABASE_KINDS } from '../support/databases.js'
import { openTenantApp, STAFF_1, USER_1, type TenantApp } from '../support/tenant-app.js'

describe.each(DATABASE_KINDS)('writes limited by the read grant on %s', (kind) => {
  let app: TenantApp
  let ticketId: number
  beforeAll(async () => {
    app = await openTenantApp(kind)
    ticketId = (await app.knex('tickets').where({ tenant_id: 1 }).orderBy('id').first()).id
  })
  afterAll(() => app?.close())

  const byId = { kind: 'id', ids: [0] }
  const note = { kind: 'compare', column: 'internalNote', op: 'like', value: 'staff%' }

  it('refuses a filter from a caller without the read grant, for patch, update and delete', async () => {
    const results = await app.run(
      USER_1,
      { model: 'Ticket', op: 'patch', values: { title: 'x' }, where: note, returning: 'count' },
      { model: 'Ticket', op: 'patch', values: { title: 'x' }, where: { ...byId, ids: [ticketId] }, returning: 'rows' },
      { model: 'Ticket', op: 'delete', where: note, returning: 'count' },
      { model: 'Ticket', op: 'patch', values: { title: 'x' }, where: { kind: 'exists', relation: 'project', where: { kind: 'compare', column: 'name', op: 'like', value: '%' } }, returning: 'count' },
    )
    for (const result of results) expect(result).toMatchObject({ error: { code: 'FORBIDDEN', message: 'filtering Ticket is not allowed' } })
    expect(await app.knex('tickets').where({ title: 'x' }).first()).toBeUndefined()
  })

  it('returns nothing from an insert by a caller who may not read what was inserted', async () => {
    const projectId = (await app.knex('projects').where({ tenant_id: 1, locked: false }).first()).id
    const [ticket, tickets] = await app.run(
      USER_1,
      { model: 'Ticket', op: 'insert', rows: [{ projectId, title: 'by bob' }], returning: 'first' },
      { model: 'Ticket', op: 'insert', rows: [{ projectId, title: 'by bob 2' }, { projectId, title: 'by bob 3' }], returning: 'rows', select: ['id', 'internalNote'] },
    )
    expect(ticket).toEqual({ data: undefined })
    expect(tickets).toEqual({ data: [] })
    expect(await app.knex('tickets').where({ title: 'by bob' }).first()).toBeDefined()
    const [anonymous] = await app.run(null, { model: 'Feedback', op: 'insert', rows: [{ message: 'hello' }], returning: 'first' })
    expect(anonymous).toEqual({ data: undefined })
    const [admin] = await app.run({ tenant: 1, user: 'root', roles: ['admin'] }, { model: 'Feedback', op: 'insert', rows: [{ message: 'hi' }], returning: 'first' })
    expect(admin).toMatchObject({ data: { message: 'hi', triage: 'new' } })
  })

  it('returns only rows still within the read policy after the write', async () => {
    const [moved] = await app.run(STAFF_1, { model: 'Ticket', op: 'patch', values: { title: 'moved' }, where: { ...byId, ids: [ticketId] }, returning: 'rows' })
    expect(moved).toMatchObject({ data: [{ id: ticketId, title: 'moved', internalNote: expect.any(String) }] })
    // A staff member of tenant 1 reads its tickets; one updated by raw SQL into tenant 2
    // would not be returned, and a row never leaves through `returning` once outside.
    await app.knex('tickets').where({ id: ticketId }).update({ tenant_id: 2 })
    const [gone] = await app.run(STAFF_1, { model: 'Ticket', op: 'delete', where: { ...byId, ids: [ticketId] }, returning: 'rows' })
    expect(gone).toEqual({ data: [] })
    expect(await app.knex('tickets').where({ id: ticketId }).first()).toBeDefined()
    await app.knex('tickets').where({ id: ticketId }).update({ tenant_id: 1 })
  })

  it('refuses returning a hidden column exactly like a missing one', async () => {
    const [hidden, missing] = await app.run(
      STAFF_1,
      { model: 'Project', op: 'patch', values: { name: 'p' }, where: { kind: 'id', ids: [99999] }, returning: 'rows', select: ['budget'] },
      { model: 'Project', op: 'patch', values: { name: 'p' }, where: { kind: 'id', ids: [99999] }, returning: 'rows', select: ['nope'] },
    )
    expect(hidden).toMatchObject({ error: { code: 'BAD_REQUEST', message: 'unknown column "budget" on Project' } })
    expect(missing).toMatchObject({ error: { code: 'BAD_REQUEST', message: 'unknown column "nope" on Project' } })
  })
})
