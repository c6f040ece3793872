/**
 * The TanStack Query examples (`examples/tanstack-query/`) in Chromium, on the demo server
 * over each test database: a screen's queries load in one request; publishing a post
 * refetches the list and the count, once, together, and never the tags; a refused write
 * shows its error code and refetches nothing.
 */
import type { Browser, Page } from 'playwright-core'
import SuperJSON from 'superjson'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startDemo, type RunningDemo } from '../../examples/demo/demo-server.js'
import type { RequestBody } from '../../shared/wire.js'
import { launchBrowser } from '../support/browser.js'
import { DATABASE_KINDS, openDatabase, type TestDatabase } from '../support/databases.js'
import { TEST_SIZE } from '../support/demo.js'

/** Each request a page sent to the executor: its queries' models and operations, and whether it asked for the API's description. */
function recordRequests(page: Page): { queries: { model: string; op: string }[][]; described: boolean[] } {
  const sent = { queries: [] as { model: string; op: string }[][], described: [] as boolean[] }
  page.on('request', (request) => {
    if (request.method() !== 'POST' || !request.url().endsWith('/orm')) return
    const body = SuperJSON.parse<RequestBody>(request.postData() ?? '')
    sent.queries.push(body.queries.map((q) => ({ model: 'model' in q ? q.model : q.procedure, op: q.op })))
    sent.described.push(body.describe === true)
  })
  return sent
}

const count = async (page: Page) => Number((await page.textContent('#count'))!.split(' ')[0])

describe.each(DATABASE_KINDS)('TanStack Query screens in Chromium on %s', (kind) => {
  let database: TestDatabase
  let demo: RunningDemo
  let browser: Browser
  beforeAll(async () => {
    database = await openDatabase(kind)
    ;[demo, browser] = await Promise.all([startDemo({ port: 0, size: TEST_SIZE, knex: database.knex }), launchBrowser()])
  })
  afterAll(async () => {
    await browser?.close()
    await demo?.close()
    await database?.close()
  })

  describe.each(['react', 'vue'])('%s', (framework) => {
    let page: Page
    let sent: ReturnType<typeof recordRequests>
    beforeAll(async () => {
      page = await browser.newPage()
      sent = recordRequests(page)
      await page.goto(`${demo.url}/${framework}`)
    })
    afterAll(() => page?.close())

    it('loads the list, the count and the tags in one request, which asks for the API’s description', async () => {
      await page.waitForFunction(() => document.querySelectorAll('#posts li').length === 5 && document.querySelectorAll('#tags li').length > 0 && /^\d+ posts$/.test(document.querySelector('#count')?.textContent ?? ''))
      expect(sent.queries).toEqual([[{ model: 'Post', op: 'select' }, { model: 'Post', op: 'count' }, { model: 'Tag', op: 'select' }]])
      expect(sent.described).toEqual([true])
    })

    it('shows a refused write’s error code, and refetches nothing', async () => {
      const before = await page.locator('#posts li').allTextContents()
      await page.fill('#new-post input[name=title]', `anonymous on ${framework}`)
      await page.click('#new-post button[type=submit]')
      await page.waitForFunction(() => document.querySelector('#error')?.textContent?.startsWith('FORBIDDEN'))
      await page.waitForFunction(() => !(document.querySelector('#new-post button') as HTMLButtonElement).disabled)
      expect(sent.queries.slice(1)).toEqual([[{ model: 'Post', op: 'insert' }]])
      expect(await page.locator('#posts li').allTextContents()).toEqual(before)
      expect(await demo.knex('posts').where('title', `anonymous on ${framework}`).first()).toBeUndefined()
    })

    it('after a post is published, refetches the list and the count once, together, and not the tags', async () => {
      await page.click('#sign-in')
      await page.waitForFunction(() => document.querySelector('#who')?.textContent === 'author 1')
      const postsBefore = await count(page)
      sent.queries.length = 0
      const title = `published from ${framework}`
      await page.fill('#new-post input[name=title]', title)
      await page.click('#new-post button[type=submit]')
      await page.waitForFunction(() => document.querySelector('#status')?.textContent?.startsWith('published '))
      const id = Number((await page.textContent('#status'))!.split(' ')[1])
      expect(await page.getAttribute('#posts li:first-child', 'data-id')).toBe(String(id))
      expect(await page.textContent('#posts li:first-child')).toContain(title)
      expect(await count(page)).toBe(postsBefore + 1)
      // The write, then one request with both stale queries; the tags were not asked again.
      expect(sent.queries).toEqual([[{ model: 'Post', op: 'insert' }], [{ model: 'Post', op: 'select' }, { model: 'Post', op: 'count' }]])
      await new Promise((resolve) => setTimeout(resolve, 300))
      expect(sent.queries).toHaveLength(2)
    })
  })
})
