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
    await page.waitForFunction(() => document.querySelector('#error')?.textContent?.includes('FORBIDDEN'))
    expect(await page.textContent('#error')).toMatch(/^FORBIDDEN \(403\): transaction query 0: /)
    expect(await demo.knex('posts').where('title', 'Anonymous attempt').first()).toBeUndefined()
  })

  it('signs in and writes a post with its first comment in one transaction', async () => {
    await page.fill('#author-id', '2')
    await page.click('#sign-in')
    await page.waitForFunction(() => document.querySelector('#who')?.textContent === 'Signed in as author 2.')
    await page.selectOption('select[name=tag]', '')
    await page.fill('input[name=title]', '')
    await page.fill('#new-post input[name=title]', 'Written from Chromium')
    await page.click('#new-post button[type=submit]')
    await page.waitForFunction(() => document.querySelector('#created')?.textContent?.startsWith('Created post #'))
    expect(await page.textContent('#created')).toMatch(/^Created post #\d+ by author 2 with comment #\d+\.$/)
    await page.waitForSelector('article.post h3:text("Written from Chromium")')
    const row = await demo.knex('posts').where('title', 'Written from Chromium').first()
    expect(row).toMatchObject({ author_id: '2', published: true })
    expect(await demo.knex('comments').where({ post_id: row.id, author_id: 2, body: 'First!' }).first()).toBeDefined()
  })

  it('shows the executor refusing a hidden column', async () => {
    await page.click('#forbidden')
    await page.waitForFunction(() => document.querySelector('#error')?.textContent !== '')
    expect(await page.textContent('#error')).toBe('BAD_REQUEST (400): unknown column "email" on Author')
    mkdirSync('test-results', { recursive: true })
    await page.screenshot({ path: 'test-results/demo.png', fullPage: true })
  })
})
