/**
 * Issue 12, finding 14: a `findById` with a string id returned `null` when coalesced with
 * other point reads, though the same query alone returned the row. Coalesced reads match
 * ids as PostgreSQL compares them with the column; ids it cannot match that way run alone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DATABASE_KINDS } from '../support/databases.js'
import { openDemo, type Demo } from '../support/demo.js'

describe.each(DATABASE_KINDS)('coalesced point reads on %s', (kind) => {
  let demo: Demo
  beforeAll(async () => {
    demo = await openDemo(kind)
  })
  afterAll(() => demo?.close())

  const point = (model: string, id: unknown) => ({ model, op: 'first', where: { kind: 'id', ids: [id] } })

  it('answers each form of an integer id as it would be answered alone', async () => {
    const ids: unknown[] = [1, '2', 3n, ' 4 ', '+5', '05', 999999]
    const together = await demo.run(...ids.map((id) => point('Tag', id)))
    const alone = await Promise.all(ids.map(async (id) => (await demo.run(point('Tag', id)))[0]))
    expect(together).toEqual(alone)
    expect(together.slice(0, 6).map((r) => (r as { data: { id: number } }).data.id)).toEqual([1, 2, 3, 4, 5, 5])
    expect(together[6]).toEqual({ data: undefined })
  })

  it('answers bigint keys in any form, and refuses a malformed id for its own query only', async () => {
    const together = await demo.run(point('Author', 1n), point('Author', '2'), point('Author', 3), point('Author', 'two'))
    expect(together.slice(0, 3).map((r) => (r as { data: { id: bigint } }).data.id)).toEqual([1n, 2n, 3n])
    expect(together[3]).toMatchObject({ error: { code: 'BAD_REQUEST' } })
  })
})
