/**
 * The demo of `npm run start:edge`, in a real browser: the page's `/orm` goes through the
 * edge proxy (edge/worker.ts in workerd, as `wrangler dev` runs it) to an executor that
 * accepts only requests the proxy signed. The page reads, signs in, writes, and is
 * refused where the policies say so; a screenshot is kept in test-results/.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Miniflare } from 'miniflare'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startDemo, type RunningDemo } from '../../examples/demo/demo-server.js'
import { launchBrowser } from '../support/browser.js'
import { TEST_SIZE } from '../support/demo.js'
import { bundleWorker } from '../support/workers.js'

const HOP_SECRET = 'the edge demo test hop secret, 32+ characters'
const JWT_SECRET = 'the edge demo test jwt secret, 32+ characters'

/** A port nothing listens on (the executor's, which the worker must know before it starts). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

describe('the edge demo in Chromium', () => {
  let mf: Miniflare
  let demo: RunningDemo
  let browser: Browser
  let page: Page
  let dataDir: string
  const refusedConsole: string[] = []

  beforeAll(async () => {
    const executorPort = await freePort()
    mf = new Miniflare({
      modules: true,
      script: await bundleWorker('edge/worker.ts'),
      compatibilityDate: '2025-01-01',
      host: '127.0.0.1',
      port: 0,
      durableObjects: { RATE_LIMITER: 'RateLimiter', CACHE_VERSION: 'CacheVersion' },
      bindings: {
        EXECUTOR_URL: `http://127.0.0.1:${executorPort}/orm`,
        HOP_SECRET,
        JWT_SECRET,
        JWT_AUDIENCE: 'async-orm-demo',
        JWT_ALGORITHMS: 'HS256',
        RATE_LIMIT: '10000',
      },
    })
    const proxy = await mf.ready
    dataDir = mkdtempSync(join(tmpdir(), 'async-orm-edge-demo-'))
    ;[demo, browser] = await Promise.all([
      startDemo({ port: 0, size: TEST_SIZE, dataDir, jwtSecret: JWT_SECRET, edge: { proxyUrl: new URL('/orm', proxy).toString(), executorPort, hopSecret: HOP_SECRET } }),
      launchBrowser(),
    ])
    page = await browser.newPage()
    page.on('console', (message) => message.type() === 'error' && refusedConsole.push(message.text()))
    await page.goto(`${demo.url}/`)
  })
  afterAll(async () => {
    await browser?.close()
    await demo?.close()
    await mf?.dispose()
    if (dataDir) rmSync(dataDir, { recursive: true, force: true })
  })

  it('reads through the proxy: counts and the first page of posts', async () => {
    await page.waitForSelector('[data-stat=authors] b')
    expect(await page.textContent('[data-stat=authors] b')).toBe(String(TEST_SIZE.authors))
    await page.waitForSelector('article.post')
    expect(await page.locator('article.post').count()).toBe(10)
  })

  it('is refused a write while anonymous, and writes once signed in', async () => {
    await page.fill('#new-post input[name=title]', 'Anonymous at the edge')
    await page.click('#new-post button[type=submit]')
    await page.waitForFunction(() => document.querySelector('#publish-error')?.textContent?.includes('FORBIDDEN'))
    await page.fill('#author-id', '3')
    await page.click('#sign-in')
    await page.waitForFunction(() => /\(author 3\)\.$/.test(document.querySelector('#who')?.textContent ?? ''))
    await page.fill('#new-post input[name=title]', 'Written through the edge')
    await page.click('#new-post button[type=submit]')
    await page.waitForFunction(() => document.querySelector('#created')?.textContent?.startsWith('Created post #'))
    expect(await page.textContent('#created')).toMatch(/by author 3 with comment #\d+\.$/)
    expect(await demo.knex('posts').where('title', 'Written through the edge').first()).toMatchObject({ author_id: '3' })
    expect(await demo.knex('posts').where('title', 'Anonymous at the edge').first()).toBeUndefined()
  })

  it('shows the executor refusing a hidden column, with nothing failing in the page', async () => {
    await page.click('#forbidden')
    await page.waitForFunction(() => document.querySelector('#error')?.textContent !== '')
    expect(await page.textContent('#error')).toBe('BAD_REQUEST (400): unknown column "email" on Author')
    // Only the refusals the page asked for (403 and 400 answers) appear in its console.
    expect(refusedConsole.filter((text) => !/status of (400|403)/.test(text))).toEqual([])
    mkdirSync('test-results', { recursive: true })
    await page.screenshot({ path: 'test-results/edge-demo.png', fullPage: true })
  })
})
