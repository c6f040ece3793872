/** Bundles a worker entry with esbuild, as wrangler would, for Miniflare (workerd). */
import { build } from 'esbuild'
import { fileURLToPath } from 'node:url'

export async function bundleWorker(entry: string): Promise<string> {
  const result = await build({
    entryPoints: [fileURLToPath(new URL(`../../${entry}`, import.meta.url))],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    conditions: ['workerd', 'worker', 'browser'],
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  })
  return result.outputFiles[0]!.text
}
