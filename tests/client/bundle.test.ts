/**
 * The client bundle: it builds for browsers and workers (so it imports no Node
 * built-ins), pulls in no server code, and stays within its size budget.
 */
import { describe, expect, it } from 'vitest'
import { measureClientBundle } from '../../bench/bundle-size.js'

/** Minified + gzipped bytes; the README states the measured figure (`npm run size`). */
const BUDGET = 10 * 1024

describe('the client bundle', () => {
  it.each(['browser', 'neutral'] as const)('builds for the %s platform without server code', async (platform) => {
    const report = await measureClientBundle(platform)
    const forbidden = report.inputs.filter((input) => /node_modules\/(pg|knex|objection|msw|@electric-sql|@hono)\/|executor\//.test(input))
    expect(forbidden).toEqual([])
    // The transport is the platform's fetch, and the wire format superjson's, written and
    // read by shared/wire.ts: the client carries no third-party code at all.
    expect(report.inputs.filter((input) => input.includes('node_modules/'))).toEqual([])
  })

  it(`stays under ${BUDGET / 1024} KB minified and gzipped`, async () => {
    const report = await measureClientBundle('browser')
    expect(report.gzipped).toBeLessThan(BUDGET)
  })
})
