/**
 * Writes through a relation stay bounded by what the request carries: a many-to-many
 * `relate` links every owner to every id, so the pairs are counted against the rows a
 * write may carry before any SQL (a 1000 × 1000 request once built a million-row insert
 * in Node, and a 200 × 200 one overflowed PostgreSQL's parameter limit and was reported
 * as a database outage). A graph cannot re-set the key an insert through a relation sets,
 * and a long driver message is cut before it is logged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { forLog } from '../../executor/executor-error.js'
import { isConnectionFailure } from '../../executor/outage.js'
import { DATABASE_KINDS } from '../support/databases.js'
import { openTenantApp, STAFF_1, type TenantApp } from '../support/tenant-app.js'

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1)

describe.each(DATABASE_KINDS)('relation writes are bounded on %s', (kind) => {
  let app: TenantApp
  beforeAll(async () => {
    app = await openTenantApp(kind)
  })
  afterAll(() => app?.close())

  it('refuses a many-to-many relate of more pairs than a write may carry, before any SQL', async () => {
    app.sql.length = 0
    const [wide, square] = await app.run(
      STAFF_1,
      { model: 'Ticket', op: 'relate', for: { relation: 'labels', ids: range(2) }, ids: range(501) },
      { model: 'Ticket', op: 'relate', for: { relation: 'labels', ids: range(1000) }, ids: range(1000) },
    )
    expect(wide).toMatchObject({ error: { code: 'LIMIT_EXCEEDED', message: 'relate may make at most 1000 links (owners × ids) in one query' } })
    expect(square).toMatchObject({ error: { code: 'LIMIT_EXCEEDED' } })
    expect(app.sql.filter((s) => /tickets|labels/.test(s))).toEqual([])
  })

  it('links up to the limit in one query', async () => {
    const tickets = (await app.knex('tickets').where({ tenant_id: 1 }).orderBy('id').limit(2).pluck('id')) as number[]
    const labels = (await app.knex('labels').orderBy('id').pluck('id')) as number[]
    await app.knex('ticket_labels').whereIn('ticket_id', tickets).delete()
    const [made] = await app.run(STAFF_1, { model: 'Ticket', op: 'relate', for: { relation: 'labels', ids: tickets }, ids: labels })
    expect(made).toEqual({ data: tickets.length * labels.length })
  })

  it('refuses a graph node that would set the key an insert through a relation sets', async () => {
    const own = (await app.knex('projects').where({ tenant_id: 1 }).orderBy('id').first()).id
    const [result] = await app.run(STAFF_1, {
      model: 'Project',
      op: 'insert',
      for: { relation: 'tickets', ids: [own] },
      graph: true,
      rows: [{ title: 'g', project: { name: 'graph project' } }],
      returning: 'rows',
    })
    expect(result).toMatchObject({ error: { code: 'BAD_REQUEST', message: expect.stringContaining('"project" would set the key') } })
  })
})

describe('what a database error costs the log', () => {
  it('does not count a refused protocol message (08P01) as an outage', () => {
    expect(isConnectionFailure({ code: '08P01', message: 'bind message has 14464 parameter formats but 0 parameters' })).toBe(false)
    expect(isConnectionFailure({ code: '08006', message: 'connection failure' })).toBe(true)
  })

  it('cuts a long message before it is logged, keeping name and code', () => {
    const error = Object.assign(new Error(`insert into "ticket_labels" values ${'($1, $2), '.repeat(100_000)} - too many parameters`), { code: '54000' })
    const logged = forLog(error) as Error & { code?: string }
    expect(logged.message.length).toBeLessThan(2_100)
    expect(logged.code).toBe('54000')
    expect((logged.stack ?? '').length).toBeLessThan(4_000)
    const short = new Error('short')
    expect(forLog(short)).toBe(short)
  })
})
