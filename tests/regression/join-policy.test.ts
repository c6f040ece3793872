/**
 * `joinRelated` reads the joined rows under their model's read policy, whatever a row's
 * foreign key points at: a tenant-1 ticket that points at a tenant-2 project (the attacker
 * controls their own rows' keys) must not reveal that project through a join — not in
 * the answer, not by filtering, not by ordering. Hidden columns, unexposed relations and
 * models the caller may not read are refused before any SQL. On PostgreSQL and PGlite.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expose } from '../../executor/index.js'
import { DATABASE_KINDS } from '../support/databases.js'
import { openTenantApp, Project, STAFF_1, tenantApi, Ticket, type TenantApp, type TenantCtx } from '../support/tenant-app.js'

describe.each(DATABASE_KINDS)('joined relations under the read policy on %s', (kind) => {
  let app: TenantApp
  let planted: number
  let foreign: { id: number; name: string }

  beforeAll(async () => {
    app = await openTenantApp(kind)
    foreign = await app.knex('projects').where({ tenant_id: 2 }).orderBy('id').first('id', 'name')
    const [row] = await app.knex('tickets').insert({ tenant_id: 1, project_id: foreign.id, title: 'points elsewhere' }).returning('id')
    planted = (row as { id: number }).id
  })
  afterAll(() => app?.close())

  const read = (query: Record<string, unknown>) => app.run(STAFF_1, { model: 'Ticket', op: 'select', ...query })

  it('drops the row from an inner join and nulls the columns in a left join', async () => {
    const [inner] = await read({ joins: [{ relation: 'project' }], select: ['id', 'project.name'], orderBy: [{ column: 'id', direction: 'asc' }] })
    const ids = (inner as { data: { id: number }[] }).data.map((row) => row.id)
    expect(ids.length).toBeGreaterThan(0)
    expect(ids).not.toContain(planted)
    const [left] = await read({ joins: [{ relation: 'project', left: true }], select: ['id', 'project.name', 'project.tenantId as projectTenant'], where: { kind: 'compare', column: 'id', op: '=', value: planted } })
    expect(left).toEqual({ data: [{ id: planted, name: null, projectTenant: null }] })
  })

  it('matches nothing by filtering on the hidden row, and orders as if it had none', async () => {
    const filters = [
      { kind: 'compare', column: 'project.name', op: '=', value: foreign.name },
      { kind: 'compare', column: 'project.name', op: 'like', value: 't2%' },
      { kind: 'compare', column: 'project.tenantId', op: '=', value: 2 },
      { kind: 'null', column: 'project.id', negated: true },
    ]
    for (const where of filters) {
      const [result] = await read({ joins: [{ relation: 'project', left: true }], where: { kind: 'and', filters: [{ kind: 'compare', column: 'id', op: '=', value: planted }, where] } })
      expect(result, JSON.stringify(where)).toEqual({ data: [] })
    }
    const [ordered] = await read({
      joins: [{ relation: 'project', left: true }],
      select: ['id'],
      orderBy: [{ column: 'project.name', direction: 'asc', nulls: 'first' }],
      limit: 1,
    })
    expect(ordered).toEqual({ data: [{ id: planted }] })
  })

  it('refuses hidden columns, unknown relations and to-many joins before any SQL', async () => {
    app.sql.length = 0
    const results = await app.run(
      STAFF_1,
      { model: 'Ticket', op: 'select', joins: [{ relation: 'project' }], where: { kind: 'compare', column: 'project.budget', op: '>', value: 0 } },
      { model: 'Ticket', op: 'select', joins: [{ relation: 'project' }], orderBy: [{ column: 'project.budget', direction: 'asc' }] },
      { model: 'Ticket', op: 'select', joins: [{ relation: 'project' }], select: ['project.budget as b'] },
      { model: 'Ticket', op: 'select', joins: [{ relation: 'tenant' }] },
      { model: 'Ticket', op: 'select', joins: [{ relation: 'labels' }] },
      { model: 'Ticket', op: 'select', where: { kind: 'compare', column: 'project.name', op: '=', value: 'x' } },
      { model: 'Ticket', op: 'select', joins: [{ relation: 'project', joins: [{ relation: 'tickets' }] }] },
      { model: 'Ticket', op: 'select', joins: [{ relation: 'project', on: 'true' }] },
    )
    for (const result of results) expect(result).toMatchObject({ error: { code: 'BAD_REQUEST' } })
    expect(JSON.stringify(results)).not.toContain('budget"') // no value, only the refusal
    expect(app.sql.filter((s) => /projects|tickets/.test(s))).toEqual([])
  })

  it('refuses a join onto a model the caller may not read, before any SQL', async () => {
    const restricted = await openTenantApp(kind, {
      api: {
        ...tenantApi,
        Ticket: expose(Ticket, { read: { allow: true, columns: '*', where: (ctx: TenantCtx | null) => ({ tenantId: ctx!.tenant }) }, relations: ['project'] }),
        Project: expose(Project, { read: { allow: ['admin'], columns: '*' } }),
      },
    })
    try {
      restricted.sql.length = 0
      const [result] = await restricted.run(STAFF_1, { model: 'Ticket', op: 'select', joins: [{ relation: 'project' }], select: ['id'] })
      expect(result).toMatchObject({ error: { code: 'FORBIDDEN', message: 'reading Project is not allowed' } })
      expect(restricted.sql.filter((s) => /projects|tickets/.test(s))).toEqual([])
    } finally {
      await restricted.close()
    }
  })
})

describe.each(DATABASE_KINDS)('joined keys that cannot be told apart, on %s', (kind) => {
  let app: TenantApp
  beforeAll(async () => {
    app = await openTenantApp(kind)
  })
  afterAll(() => app?.close())

  it('refuses a distinct query ordered by a joined column, a key a loaded relation takes, and the executor’s own keys', async () => {
    app.sql.length = 0
    const results = await app.run(
      STAFF_1,
      { model: 'Ticket', op: 'select', joins: [{ relation: 'project' }], distinct: true, select: ['id'], orderBy: [{ column: 'project.id', direction: 'desc' }] },
      { model: 'Ticket', op: 'select', joins: [{ relation: 'project' }], select: ['id', 'project.name as project'], graph: [{ relation: 'project' }] },
      { model: 'Ticket', op: 'select', joins: [{ relation: 'project' }], select: ['id', 'project.name as __ao_k0'] },
      { model: 'Project', op: 'select', select: ['id', { relation: 'tickets', fn: 'count', alias: '__ao_k0' }] },
    )
    for (const result of results) expect(result).toMatchObject({ error: { code: 'BAD_REQUEST' } })
    expect(app.sql.filter((s) => /projects|tickets/.test(s))).toEqual([])
  })
})
