/**
 * Client bundles as a browser app gets them, minified and gzipped: ours (the client
 * entry with its wire codec, nothing else) and, measured the same way, the clients a
 * user would pick instead. `npm run size` prints the figures the README quotes.
 */
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'
import { fileURLToPath } from 'node:url'

export interface BundleReport {
  readonly minified: number
  readonly gzipped: number
  readonly inputs: readonly string[]
}

/** What an app imports from each client, as an entry module. */
export const CLIENT_ENTRIES = {
  'async-orm': "export { createClient, AsyncOrmError } from './client/index.ts'",
  '@supabase/postgrest-js': "export { PostgrestClient } from '@supabase/postgrest-js'",
  "drizzle-orm's pg-proxy client": "export { drizzle } from 'drizzle-orm/pg-proxy'; export { eq, and } from 'drizzle-orm'",
} as const

/** The TanStack Query integration, as an app imports it beside the client. */
export const INTEGRATION_ENTRY = `${CLIENT_ENTRIES['async-orm']}; export { queryOptions, infiniteQueryOptions, mutationOptions } from './tanstack-query/index.ts'`

export async function measureBundle(contents: string, platform: 'browser' | 'neutral' = 'browser'): Promise<BundleReport> {
  const result = await build({
    stdin: { contents, resolveDir: fileURLToPath(new URL('..', import.meta.url)), loader: 'ts' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform,
    mainFields: ['browser', 'module', 'main'],
    write: false,
    metafile: true,
    logLevel: 'silent',
  })
  const code = result.outputFiles[0]!.contents
  return { minified: code.byteLength, gzipped: gzipSync(code, { level: 9 }).byteLength, inputs: Object.keys(result.metafile.inputs) }
}

export function measureClientBundle(platform: 'browser' | 'neutral' = 'browser'): Promise<BundleReport> {
  return measureBundle(CLIENT_ENTRIES['async-orm'], platform)
}

/** Every client in `CLIENT_ENTRIES`, in KB gzipped. */
export async function measureClientBundles(): Promise<{ client: string; minifiedKb: number; gzippedKb: number }[]> {
  const rows = []
  for (const [client, entry] of Object.entries(CLIENT_ENTRIES)) {
    const report = await measureBundle(entry)
    rows.push({ client, minifiedKb: report.minified / 1024, gzippedKb: report.gzipped / 1024 })
  }
  return rows
}

/** What `async-orm/tanstack-query` adds to a bundle that has the client already. */
export async function measureIntegration(): Promise<{ with: BundleReport; minifiedKb: number; gzippedKb: number }> {
  const [client, both] = await Promise.all([measureClientBundle(), measureBundle(INTEGRATION_ENTRY)])
  return { with: both, minifiedKb: (both.minified - client.minified) / 1024, gzippedKb: (both.gzipped - client.gzipped) / 1024 }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const row of await measureClientBundles()) {
    console.log(`${row.client}: ${row.minifiedKb.toFixed(1)} KB minified, ${row.gzippedKb.toFixed(1)} KB gzipped`)
  }
  const integration = await measureIntegration()
  console.log(`async-orm/tanstack-query, over the client: +${integration.minifiedKb.toFixed(1)} KB minified, +${integration.gzippedKb.toFixed(1)} KB gzipped`)
}
