/**
 * `relatedQuery(…).for(ids)` under the same rules as the rest: reads of rows the caller
 * cannot see behave as absent, aggregates of related rows apply the related model's
 * policy and aggregate grant, unknown or hidden names are refused exactly as missing
 * ones, before any SQL runs, and writes through a relation never reach another tenant's
 * rows (`NOT_FOUND` where they name one, nothing changed where they filter).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DATABASE_KINDS } from '../support/databases.js'
import { openTenantApp, STAFF_1, STAFF_2, USER_1, type TenantApp } from '../support/tenant-app.js'

describe.each(DATABASE_KINDS)('relatedQuery under the policies on %s', (kind) => {
  let app: TenantApp
  let own: number
  let foreign: number
  beforeAll(async () => {
    app = await openTenantApp(kind)
    own = (await app.knex('projects').where({ tenant_id: 1 }).orderBy('id').first()).id
    foreign = (await app.knex('projects').where({ tenant_id: 2 }).orderBy('id').first()).id
  })
  afterAll(() => app?.close())

  const tickets = (ids: number[]) => ({ model: 'Project', op: 'select', for: { relation: 'tickets', ids } })
  const countTickets = { relation: 'tickets', fn: 'count', alias: 'n' }

  it('reads the related rows of visible rows only, and nothing of the others', async () => {
    const [mine, theirs, both] = await app.run(STAFF_1, tickets([own]), tickets([foreign]), tickets([own, foreign]))
    expect((mine as { data: unknown[] }).data).toHaveLength(4)
    expect(theirs).toEqual({ data: [] })
    expect((both as { data: { projectId: number }[] }).data.every((t) => t.projectId === own)).toBe(true)
    const [other] = await app.run(STAFF_2, tickets([foreign]))
    expect((other as { data: unknown[] }).data).toHaveLength(4)
  })

  it('counts related rows under the related model’s policy, and refuses callers who may not read it', async () => {
    const [counted] = await app.run(STAFF_1, { model: 'Label', op: 'select', select: ['id', { relation: 'tickets', fn: 'count', alias: 'n' }], limit: 1 })
    // Each label is on every ticket of both tenants; tenant 1 sees its own 12.
    expect(counted).toMatchObject({ data: [{ n: 12 }] })
    app.sql.length = 0
    const [denied, forbiddenOwner] = await app.run(
      USER_1,
      { model: 'Project', op: 'select', select: ['id', countTickets] },
      tickets([own]),
    )
    expect(denied).toMatchObject({ error: { code: 'FORBIDDEN', message: 'aggregating Ticket is not allowed' } })
    expect(forbiddenOwner).toMatchObject({ error: { code: 'FORBIDDEN', message: 'reading Ticket is not allowed' } })
    expect(app.sql.filter((s) => /tickets|projects/.test(s))).toEqual([])
  })

  it('refuses unknown relations, hidden columns and misplaced aggregates like missing names, before any SQL', async () => {
    app.sql.length = 0
    const results = await app.run(
      STAFF_1,
      { model: 'Project', op: 'select', for: { relation: 'nope', ids: [own] } },
      { model: 'Ticket', op: 'select', select: ['id', { relation: 'project', fn: 'max', column: 'budget', alias: 'b' }] },
      { model: 'Ticket', op: 'select', select: ['id', { relation: 'project', fn: 'max', column: 'missing', alias: 'b' }] },
      { model: 'Project', op: 'select', select: ['id', { ...countTickets, alias: '__proto__' }] },
      { model: 'Project', op: 'select', select: ['id', { ...countTickets, sql: 'x' }] },
      { model: 'Project', op: 'aggregate', select: [countTickets], aggregates: [{ fn: 'count', alias: 'm' }] },
      { model: 'Project', op: 'select', for: { relation: 'tickets', ids: [own], extra: 1 } },
      { model: 'Project', op: 'relate', for: { relation: 'tickets', ids: [own] } },
      { model: 'Project', op: 'unrelate', for: { relation: 'tickets', ids: [own] }, ids: [1] },
      { model: 'Project', op: 'relate' },
    )
    expect(results[0]).toMatchObject({ error: { code: 'BAD_REQUEST', message: 'unknown relation "nope" on Project' } })
    expect(results[1]).toMatchObject({ error: { code: 'BAD_REQUEST', message: 'unknown column "budget" on Project' } })
    expect(results[2]).toMatchObject({ error: { code: 'BAD_REQUEST', message: 'unknown column "missing" on Project' } })
    for (const result of results.slice(3)) expect(result).toMatchObject({ error: { code: 'BAD_REQUEST' } })
    expect(app.sql.filter((s) => /tickets|projects/.test(s))).toEqual([])
  })

  it('writes through a relation only to rows the caller may see, and never across tenants', async () => {
    const count = async () => Number(((await app.knex('tickets').count({ n: '*' })) as [{ n: string }])[0].n)
    const before = await count()
    const theirTicket = (await app.knex('tickets').where({ project_id: foreign }).orderBy('id').first()).id
    const ownTicket = (await app.knex('tickets').where({ project_id: own }).orderBy('id').first()).id
    const [insertForeign, relateForeign, relateTheirs, moveTheirs, patchTheirs, insertOwn] = await app.run(
      STAFF_1,
      { model: 'Project', op: 'insert', for: { relation: 'tickets', ids: [foreign] }, rows: [{ title: 'planted' }], returning: 'first' },
      { model: 'Project', op: 'relate', for: { relation: 'tickets', ids: [foreign] }, ids: [ownTicket] },
      { model: 'Project', op: 'relate', for: { relation: 'tickets', ids: [own] }, ids: [theirTicket] },
      { model: 'Ticket', op: 'relate', for: { relation: 'project', ids: [ownTicket] }, ids: [foreign] },
      { model: 'Project', op: 'patch', for: { relation: 'tickets', ids: [foreign] }, values: { title: 'mine now' }, returning: 'count' },
      { model: 'Project', op: 'insert', for: { relation: 'tickets', ids: [own] }, rows: [{ title: 'filed here' }], returning: 'first' },
    )
    expect(insertForeign).toMatchObject({ error: { code: 'NOT_FOUND' } })
    expect(relateForeign).toMatchObject({ error: { code: 'NOT_FOUND' } })
    expect(relateTheirs).toMatchObject({ error: { code: 'NOT_FOUND' } })
    expect(moveTheirs).toMatchObject({ error: { code: 'NOT_FOUND' } })
    expect(patchTheirs).toEqual({ data: 0 })
    expect(insertOwn).toMatchObject({ data: { title: 'filed here', projectId: own, tenantId: 1 } })
    expect(await count()).toBe(before + 1)
    expect((await app.knex('tickets').where({ id: ownTicket }).first()).project_id).toBe(own)
    expect((await app.knex('tickets').where({ id: theirTicket }).first()).project_id).toBe(foreign)
  })
})
