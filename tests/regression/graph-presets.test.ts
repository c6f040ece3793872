/**
 * Issue 12, finding 10: `insertGraph` overrode `set` presets through to-one relations: a
 * graph that inserts the related row writes its key into the preset column. A graph may
 * not link a row through a column the server presets, in either direction.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expose } from '../../executor/index.js'
import { DATABASE_KINDS } from '../support/databases.js'
import { openTenantApp, Project, STAFF_1, tenantApi, Ticket, type TenantApp, type TenantCtx } from '../support/tenant-app.js'

describe.each(DATABASE_KINDS)('graph inserts and presets on %s', (kind) => {
  let app: TenantApp
  let inbox: number
  beforeAll(async () => {
    app = await openTenantApp(kind, {
      api: {
        ...tenantApi,
        Project: expose(Project, {
          read: { columns: '*', where: (ctx: TenantCtx | null) => ({ tenantId: ctx!.tenant }) },
          insert: { columns: ['name'], set: (ctx: TenantCtx | null) => ({ tenantId: ctx!.tenant }) },
          relations: ['tickets'],
        }),
        // Every ticket a client files goes to the tenant's inbox project.
        Ticket: expose(Ticket, {
          read: { columns: '*', where: (ctx: TenantCtx | null) => ({ tenantId: ctx!.tenant }) },
          insert: { columns: ['title'], set: (ctx: TenantCtx | null) => ({ tenantId: ctx!.tenant, projectId: inbox }) },
          relations: ['project'],
        }),
      },
    })
    inbox = (await app.knex('projects').where({ tenant_id: 1 }).orderBy('id').first()).id
  })
  afterAll(() => app?.close())

  const count = async (table: string) => Number(((await app.knex(table).count({ n: '*' })) as [{ n: string }])[0].n)

  it('refuses a to-one graph that would replace a preset foreign key', async () => {
    const before = [await count('tickets'), await count('projects')]
    const [result] = await app.run(STAFF_1, { model: 'Ticket', op: 'insert', graph: true, rows: [{ title: 'elsewhere', project: { name: 'my own project' } }], returning: 'first' })
    expect(result).toMatchObject({ error: { code: 'FORBIDDEN', message: 'Ticket.projectId is set by the server; a relation cannot link it to another row' } })
    expect([await count('tickets'), await count('projects')]).toEqual(before)
  })

  it('refuses a to-many graph whose children preset the key it would link', async () => {
    const before = [await count('tickets'), await count('projects')]
    const [result] = await app.run(STAFF_1, { model: 'Project', op: 'insert', graph: true, rows: [{ name: 'with children', tickets: [{ title: 'child' }] }], returning: 'first' })
    expect(result).toMatchObject({ error: { code: 'FORBIDDEN', message: 'Ticket.projectId is set by the server; a relation cannot link it to another row' } })
    expect([await count('tickets'), await count('projects')]).toEqual(before)
  })

  it('still inserts the preset row without a graph', async () => {
    const [result] = await app.run(STAFF_1, { model: 'Ticket', op: 'insert', rows: [{ title: 'to the inbox' }], returning: 'first' })
    expect(result).toMatchObject({ data: { title: 'to the inbox', projectId: inbox, tenantId: 1 } })
  })
})
