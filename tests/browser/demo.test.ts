/**
 * The demo app from `npm start`, in a real browser: the client runs in the page and
 * queries the executor over HTTP on PGlite. A screenshot is kept in test-results/.
 */
import { mkdirSync } from 'node:fs'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startDemo, type RunningDemo } from '../../examples/demo/demo-server.js'
import { TEST_SIZE } from '../support/demo.js'
import { launchBrowser } from '../support/browser.js'

describe('the demo app in Chromium', () => {
  let demo: RunningDemo
  let browser: Browser
  let page: Page
  const requests: string[] = []

  beforeAll(async () => {
    ;[demo, browser] = await Promise.all([startDemo({ port: 0, size: TEST_SIZE }), launchBrowser()])
    page = await browser.newPage()
    page.on('request', (request) => request.method() === 'POST' && requests.push(request.url()))
    await page.goto(`${demo.url}/`)
  })
  afterAll(async () => {
    await browser?.close()
    await demo?.close()
  })

  it('loads counts in one batched request and the first page of posts', async () => {
    await page.waitForSelector('[data-stat=authors] b')
    expect(await page.textContent('[data-stat=authors] b')).toBe(String(TEST_SIZE.authors))
    expect(await page.textContent('[data-stat=tags] b')).toBe('12')
    await page.waitForSelector('article.post')
    expect(await page.locator('article.post').count()).toBe(10)
    expect(await page.textContent('#page')).toMatch(/^page 1 of \d+ · \d+ posts$/)
    // The four stats queries went in one POST; the posts page in another.
    expect(requests.filter((url) => url.endsWith('/orm')).length).toBe(2)
  })

  it('searches, filters through a relation and pages', async () => {
    await page.selectOption('select[name=tag]', 'edge')
    await page.fill('input[name=title]', 'o')
    await page.click('button[type=submit]')
    await page.waitForFunction(() => document.querySelector('#ast')?.textContent?.includes('"relation": "tags"'))
    await page.waitForSelector('article.post .tag')
    const tagLists = await page.locator('article.post').evaluateAll((posts) => posts.map((p) => p.textContent ?? ''))
    expect(tagLists.length).toBeGreaterThan(0)
    for (const text of tagLists) expect(text).toContain('edge')
  })

  it('loads an author with a profile and posts, with bigint ids and Dates', async () => {
    await page.click('article.post .author-link')
    await page.waitForSelector('[data-author-name]')
    expect(await page.textContent('#author')).toMatch(/id bigint \d+/)
    expect(await page.textContent('#author')).toMatch(/joined \d{4}-\d{2}-\d{2}/)
  })

  it('refuses a write from an anonymous reader', async () => {
    await page.fill('#new-post input[name=title]', 'Anonymous attempt')
    await page.click('#new-post button[type=submit]')
    // Under the form that failed, not elsewhere.
    await page.waitForFunction(() => document.querySelector('#publish-error')?.textContent?.includes('FORBIDDEN'))
    expect(await page.textContent('#publish-error')).toMatch(/^FORBIDDEN \(403\): transaction query 0: /)
    expect(await page.textContent('#error')).toBe('')
    expect(await demo.knex('posts').where('title', 'Anonymous attempt').first()).toBeUndefined()
  })

  it('says so when signing in as an author that does not exist', async () => {
    await page.fill('#author-id', '999999')
    await page.click('#sign-in')
    await page.waitForFunction(() => document.querySelector('#who')?.textContent === 'There is no author 999999. Reading anonymously.')
    await page.fill('#author-id', '')
    await page.click('#sign-in')
    await page.waitForFunction(() => document.querySelector('#who')?.textContent?.startsWith('Cannot sign in as ""'))
  })

  it('shows an empty state, and never pages past the end', async () => {
    await page.selectOption('select[name=tag]', '')
    await page.fill('input[name=title]', 'no title has this in it')
    await page.click('button[type=submit]')
    await page.waitForSelector('.empty')
    expect(await page.textContent('#page')).toBe('page 1 of 1 · 0 posts')
    expect(await page.isDisabled('#next')).toBe(true)
    expect(await page.isDisabled('#prev')).toBe(true)
    await page.fill('input[name=title]', '')
    await page.click('button[type=submit]')
    await page.waitForSelector('article.post')
  })

  it('signs in and writes a post with its first comment in one transaction', async () => {
    await page.fill('#author-id', '2')
    await page.click('#sign-in')
    await page.waitForFunction(() => /^Signed in as .+ \(author 2\)\.$/.test(document.querySelector('#who')?.textContent ?? ''))
    await page.selectOption('select[name=tag]', '')
    await page.fill('input[name=title]', '')
    await page.fill('#new-post input[name=title]', 'Written from Chromium')
    await page.click('#new-post button[type=submit]')
    await page.waitForFunction(() => document.querySelector('#created')?.textContent?.startsWith('Created post #'))
    expect(await page.textContent('#created')).toMatch(/^Created post #\d+ by author 2 with comment #\d+\.$/)
    await page.waitForSelector('article.post h3:text("Written from Chromium")')
    // The writes panel lists it, the query panel shows both writes, the stats follow.
    expect(await page.textContent('#writes')).toMatch(/post #\d+ "Written from Chromium" with comment #\d+/)
    expect(await page.textContent('#ast')).toContain('"op": "insert"')
    await page.waitForFunction((n) => document.querySelector('[data-stat="published posts"] b')?.textContent === String(n), Number(await page.textContent('[data-stat="published posts"] b')))
    const row = await demo.knex('posts').where('title', 'Written from Chromium').first()
    expect(row).toMatchObject({ author_id: '2', published: true })
    expect(await demo.knex('comments').where({ post_id: row.id, author_id: 2, body: 'First!' }).first()).toBeDefined()
  })

  it('exports every published post as CSV, streamed', async () => {
    await page.click('#export')
    await page.waitForSelector('#exported a[download="posts.csv"]')
    const published = Number(await page.textContent('[data-stat="published posts"] b'))
    expect(await page.textContent('#exported')).toBe(`${published} posts streamed: posts.csv`)
    const csv = await page.evaluate(async () => (await fetch(document.querySelector<HTMLAnchorElement>('#exported a')!.href)).text())
    const rows = csv.split('\n')
    expect(rows[0]).toBe('id,title,views,created_at')
    expect(rows).toHaveLength(published + 1)
    expect(rows[1]).toMatch(/^\d+,".*",\d+,\d{4}-\d\d-\d\dT/)
  })

  it('shows the executor refusing a hidden column', async () => {
    await page.click('#forbidden')
    await page.waitForFunction(() => document.querySelector('#error')?.textContent !== '')
    expect(await page.textContent('#error')).toBe('BAD_REQUEST (400): unknown column "email" on Author')
    mkdirSync('test-results', { recursive: true })
    await page.screenshot({ path: 'test-results/demo.png', fullPage: true })
  })

  it('fits a 420 px wide screen: one column, nothing wider than the page', async () => {
    await page.setViewportSize({ width: 420, height: 900 })
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
    expect(overflow).toBeLessThanOrEqual(0)
    const columns = await page.evaluate(() => getComputedStyle(document.querySelector('main')!).gridTemplateColumns.split(' ').length)
    expect(columns).toBe(1)
    await page.screenshot({ path: 'test-results/demo-narrow.png', fullPage: true })
  })
})
