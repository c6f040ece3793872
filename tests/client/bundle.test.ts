/**
 * The client bundle: it builds for browsers and workers (so it imports no Node
 * built-ins), pulls in no server code and no third-party code but superjson and ofetch,
 * and stays within its size budget.
 */
import { describe, expect, it } from 'vitest'
import { measureClientBundle, measureIntegration } from '../../bench/bundle-size.js'

/**
 * Minified + gzipped bytes. The client carries superjson (its codec, ~5.3 KB) and ofetch
 * (its transport, ~4 KB with ufo and destr); the README states the measured figure
 * (`npm run size`) and what it holds.
 */
const BUDGET = 18 * 1024

describe('the client bundle', () => {
  it.each(['browser', 'neutral'] as const)('builds for the %s platform without server code or Node built-ins', async (platform) => {
    const report = await measureClientBundle(platform)
    const forbidden = report.inputs.filter((input) => /node_modules\/(pg|knex|objection|msw|@electric-sql|@hono|node-fetch-native)\/|executor\/|^node:/.test(input))
    expect(forbidden).toEqual([])
    // Third-party code: the two libraries the design names, and what ofetch needs.
    const packages = new Set(report.inputs.filter((input) => input.includes('node_modules/')).map((input) => input.split('node_modules/')[1]!.split('/')[0]))
    expect([...packages].sort()).toEqual(['destr', 'ofetch', 'superjson', 'ufo'])
  })

  it(`stays under ${BUDGET / 1024} KB minified and gzipped`, async () => {
    const report = await measureClientBundle('browser')
    expect(report.gzipped).toBeLessThan(BUDGET)
  })

  it('leaves the TanStack Query integration out, which brings no TanStack code of its own', async () => {
    const client = await measureClientBundle('browser')
    expect(client.inputs.filter((input) => /tanstack-query\/|model-sets/.test(input))).toEqual([])
    const integration = await measureIntegration()
    expect(integration.with.inputs.filter((input) => input.includes('node_modules/@tanstack/'))).toEqual([])
    expect(integration.with.inputs).toContain('tanstack-query/index.ts')
    expect(integration.gzippedKb).toBeLessThan(3)
  })
})
