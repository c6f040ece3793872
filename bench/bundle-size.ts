/**
 * The client bundle as a browser app gets it (client + ofetch + superjson), minified and
 * gzipped. `npm run size` prints the figure the README quotes.
 */
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'
import { fileURLToPath } from 'node:url'

export interface BundleReport {
  readonly minified: number
  readonly gzipped: number
  readonly inputs: readonly string[]
}

export async function measureClientBundle(platform: 'browser' | 'neutral' = 'browser'): Promise<BundleReport> {
  const result = await build({
    stdin: {
      contents: "export { createClient, AsyncOrmError } from './client/index.ts'",
      resolveDir: fileURLToPath(new URL('..', import.meta.url)),
      loader: 'ts',
    },
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

if (import.meta.url === `file://${process.argv[1]}`) {
  const report = await measureClientBundle()
  console.log(`client bundle: ${(report.minified / 1024).toFixed(1)} KB minified, ${(report.gzipped / 1024).toFixed(1)} KB gzipped`)
}
