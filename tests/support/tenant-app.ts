/**
 * A two-tenant app written the way an attacker would want to probe it: hidden columns,
 * row policies per tenant, a staff-only model that everyone may update and anyone may
 * insert into, `set` presets and `check` rules, and labels shared by many tickets (a
 * fan-out-heavy many-to-many). Regression tests for the executor's guarantees run on it,
 * on PostgreSQL and PGlite.
 */
import type { Knex } from 'knex'
import { Model, snakeCaseMappers } from 'objection'
import { createExecutor, expose, type Executor, type ExecutorOptions } from '../../executor/index.js'
import { decode, encodeRequest, type RequestBody, type ResponseBody } from '../../shared/wire.js'
import { openDatabase, type DatabaseKind, type TestDatabase } from './databases.js'

export interface TenantCtx {
  readonly tenant: number
  readonly user: string
  readonly roles?: readonly string[]
}

class Base extends Model {
  static override get columnNameMappers() {
    return snakeCaseMappers()
  }
}

export class Project extends Base {
  static override tableName = 'projects'
  declare id: number
  declare tenantId: number
  declare name: string
  declare budget: number
  declare locked: boolean
  declare createdBy: string | null
  declare updatedBy: string | null
  declare tickets?: Ticket[]
  static override get relationMappings() {
    return { tickets: { relation: Model.HasManyRelation, modelClass: Ticket, join: { from: 'projects.id', to: 'tickets.project_id' } } }
  }
}

export class Ticket extends Base {
  static override tableName = 'tickets'
  declare id: number
  declare tenantId: number
  declare projectId: number
  declare title: string
  declare internalNote: string | null
  declare project?: Project
  declare labels?: Label[]
  static override get relationMappings() {
    return {
      project: { relation: Model.BelongsToOneRelation, modelClass: Project, join: { from: 'tickets.project_id', to: 'projects.id' } },
      labels: {
        relation: Model.ManyToManyRelation,
        modelClass: Label,
        join: { from: 'tickets.id', through: { from: 'ticket_labels.ticket_id', to: 'ticket_labels.label_id' }, to: 'labels.id' },
      },
    }
  }
}

export class Label extends Base {
  static override tableName = 'labels'
  declare id: number
  declare name: string
  declare tickets?: Ticket[]
  static override get relationMappings() {
    return {
      tickets: {
        relation: Model.ManyToManyRelation,
        modelClass: Ticket,
        join: { from: 'labels.id', through: { from: 'ticket_labels.label_id', to: 'ticket_labels.ticket_id' }, to: 'tickets.id' },
      },
    }
  }
}

/** Anyone may leave feedback; only admins read it, and `triage` is theirs alone. */
export class Feedback extends Base {
  static override tableName = 'feedback'
  declare id: number
  declare message: string
  declare triage: string
}

const tenantOf = (ctx: TenantCtx | null) => {
  if (!ctx) throw new Error('signed-in callers only')
  return ctx.tenant
}

export const tenantApi = {
  Project: expose(Project, {
    read: { columns: '*', hidden: ['budget'], where: (ctx: TenantCtx | null) => ({ tenantId: tenantOf(ctx) }) },
    insert: { columns: ['name'], set: (ctx: TenantCtx | null) => ({ tenantId: tenantOf(ctx), createdBy: ctx!.user }) },
    update: {
      columns: ['name'],
      set: (ctx: TenantCtx | null) => ({ updatedBy: ctx!.user }),
      check: (row) => row.locked !== true,
    },
    relations: ['tickets'],
  }),
  Ticket: expose(Ticket, {
    read: { allow: ['staff'], columns: '*', where: (ctx: TenantCtx | null) => ({ tenantId: tenantOf(ctx) }) },
    insert: { columns: ['projectId', 'title'], set: (ctx: TenantCtx | null) => ({ tenantId: tenantOf(ctx) }) },
    update: { columns: ['title', 'projectId'], where: (ctx: TenantCtx | null) => ({ tenantId: tenantOf(ctx) }) },
    delete: { where: (ctx: TenantCtx | null) => ({ tenantId: tenantOf(ctx) }) },
    relations: ['project', 'labels'],
  }),
  Label: expose(Label, { read: { allow: true, columns: '*' }, relations: ['tickets'] }),
  Feedback: expose(Feedback, {
    read: { allow: ['admin'], columns: '*' },
    insert: { allow: true, columns: ['message'], set: () => ({ triage: 'new' }) },
  }),
}

export interface TenantSeed {
  /** Projects per tenant. */
  readonly projects: number
  /** Tickets per project. */
  readonly tickets: number
  /** Labels, each on every ticket of every tenant. */
  readonly labels: number
}

export async function migrateTenants(knex: Knex, seed: TenantSeed): Promise<void> {
  await knex.schema.createTable('projects', (t) => {
    t.increments('id')
    t.integer('tenant_id').notNullable()
    t.text('name').notNullable()
    t.integer('budget').notNullable().defaultTo(1000)
    t.boolean('locked').notNullable().defaultTo(false)
    t.text('created_by')
    t.text('updated_by')
    t.unique(['tenant_id', 'name'])
  })
  await knex.schema.createTable('tickets', (t) => {
    t.increments('id')
    t.integer('tenant_id').notNullable()
    t.integer('project_id').notNullable().references('projects.id')
    t.text('title').notNullable()
    t.text('internal_note')
  })
  await knex.schema.createTable('labels', (t) => {
    t.increments('id')
    t.text('name').notNullable()
  })
  await knex.schema.createTable('ticket_labels', (t) => {
    t.integer('ticket_id').notNullable().references('tickets.id')
    t.integer('label_id').notNullable().references('labels.id')
    t.primary(['ticket_id', 'label_id'])
  })
  await knex.schema.createTable('feedback', (t) => {
    t.increments('id')
    t.text('message').notNullable()
    t.text('triage').notNullable()
  })
  for (const tenant of [1, 2]) {
    const projects = await knex('projects')
      .insert(Array.from({ length: seed.projects }, (_, i) => ({ tenant_id: tenant, name: `t${tenant} project ${i}`, budget: 1000 * (i + 1), locked: i === 0 })))
      .returning('id')
    for (const { id } of projects) {
      await knex('tickets').insert(
        Array.from({ length: seed.tickets }, (_, i) => ({ tenant_id: tenant, project_id: id, title: `ticket ${i} of ${id}`, internal_note: `staff only ${id}/${i}` })),
      )
    }
  }
  const labels = await knex('labels').insert(Array.from({ length: seed.labels }, (_, i) => ({ name: `label ${i}` }))).returning('id')
  const tickets = (await knex('tickets').select('id')) as { id: number }[]
  const links = tickets.flatMap((ticket) => labels.map((label) => ({ ticket_id: ticket.id, label_id: label.id })))
  for (let i = 0; i < links.length; i += 1000) await knex('ticket_labels').insert(links.slice(i, i + 1000))
}

export interface TenantApp {
  readonly db: TestDatabase
  readonly knex: Knex
  readonly executor: Executor
  /** SQL statements run since the last `sql.length = 0`. */
  readonly sql: string[]
  /** Posts a request as `ctx` (null: anonymous), the context travelling in a test header. */
  post(ctx: TenantCtx | null, body: RequestBody | string, headers?: Record<string, string>): Promise<{ status: number; body: unknown; text: string }>
  /** Runs queries as `ctx` and returns their results. */
  run(ctx: TenantCtx | null, ...queries: unknown[]): Promise<ResponseBody['results']>
  close(): Promise<void>
}

/** The test's `auth`: the context comes from a header (the transport is not what these tests attack). */
export function headerAuth(request: Request): TenantCtx | null {
  const header = request.headers.get('x-test-ctx')
  return header ? (JSON.parse(header) as TenantCtx) : null
}

export const SMALL_SEED: TenantSeed = { projects: 3, tickets: 4, labels: 5 }

export async function openTenantApp(
  kind: DatabaseKind,
  options: Partial<ExecutorOptions<TenantCtx>> & { seed?: TenantSeed } = {},
): Promise<TenantApp> {
  const db = await openDatabase(kind)
  await migrateTenants(db.knex, options.seed ?? SMALL_SEED)
  const sql: string[] = []
  db.knex.on('query', (query: { sql: string }) => sql.push(query.sql))
  const executor = createExecutor<TenantCtx>({ knex: db.knex, api: tenantApi, auth: headerAuth, logger: { error() {} }, ...options })
  await executor.ready()
  const post = async (ctx: TenantCtx | null, body: RequestBody | string, headers: Record<string, string> = {}) => {
    const response = await executor(
      new Request('http://tenants.test/orm', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(ctx && { 'x-test-ctx': JSON.stringify(ctx) }), ...headers },
        body: typeof body === 'string' ? body : encodeRequest(body),
      }),
    )
    const text = await response.text()
    return { status: response.status, body: decode(text), text }
  }
  return {
    db,
    knex: db.knex,
    executor,
    sql,
    post,
    async run(ctx, ...queries) {
      const { status, body } = await post(ctx, { v: 1, queries } as RequestBody)
      if (status !== 200) throw new Error(`executor answered ${status}: ${JSON.stringify(body)}`)
      return (body as ResponseBody).results
    },
    close: () => db.close(),
  }
}

/** Tenant 1's staff, tenant 1's plain user, tenant 2's staff. */
export const STAFF_1: TenantCtx = { tenant: 1, user: 'ann', roles: ['staff'] }
export const USER_1: TenantCtx = { tenant: 1, user: 'bob' }
export const STAFF_2: TenantCtx = { tenant: 2, user: 'cy', roles: ['staff'] }
