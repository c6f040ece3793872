/**
 * Client code against msw/browser in a real page (Chromium): the stubs answer through a
 * service worker, with bigints and Dates intact, errors with their codes.
 */
import { readFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchBrowser } from '../support/browser.js'

describe('msw/browser stubs in Chromium', () => {
  let server: Server
  let browser: Browser
  let url: string

  beforeAll(async () => {
    const bundle = await build({
      entryPoints: [fileURLToPath(new URL('./msw-page/app.ts', import.meta.url))],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      write: false,
      logLevel: 'silent',
    })
    const app = bundle.outputFiles[0]!.text
    const worker = await readFile(fileURLToPath(new URL('../../node_modules/msw/lib/mockServiceWorker.js', import.meta.url)), 'utf8')
    server = createServer((request, response) => {
      const type = (t: string) => response.setHeader('content-type', t)
      if (request.url === '/app.js') return type('text/javascript'), response.end(app)
      if (request.url === '/mockServiceWorker.js') return type('text/javascript'), response.end(worker)
      type('text/html')
      response.end('<!doctype html><meta charset="utf-8"><ul id="out"></ul><script type="module" src="/app.js"></script>')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
    browser = await launchBrowser()
  })
  afterAll(async () => {
    await browser?.close()
    await new Promise((resolve) => server?.close(resolve))
  })

  it('answers the page’s queries from the service worker', async () => {
    const page = await browser.newPage()
    await page.goto(url)
    await page.waitForSelector('body[data-done=true]', { timeout: 15_000 })
    const text = (key: string) => page.textContent(`li[data-key=${key}]`)
    expect(await text('tags')).toBe('from the service worker')
    expect(await text('author')).toBe('bigint:12345678901234567890:2024-01-02T03:04:05.000Z')
    expect(await text('error')).toBe('FORBIDDEN')
    expect(await text('requests')).toBe('2')
  })
})
