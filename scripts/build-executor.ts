/**
 * `npm run build:executor [-- entry.ts …]`: an executor entry (a server, a Lambda handler)
 * and everything it imports — the app's models and API, async-orm, objection, knex, pg —
 * bundled into one ESM file per entry with esbuild, for serverless platforms: nothing to
 * install beside it, and a cold start that parses one file instead of resolving hundreds
 * of modules. Default entries: the quick start's server and Lambda handler, into
 * `dist-executor/`. The options are exported for apps that bundle their own entry.
 */
import { build, type BuildOptions } from 'esbuild'
import { basename, extname } from 'node:path'

/**
 * esbuild options for an executor bundle. knex names drivers for every database it
 * supports; only pg is used, so the others stay out (imports knex never makes).
 */
export const EXECUTOR_BUNDLE = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  minify: true,
  legalComments: 'none',
  external: ['mariadb', 'mariadb/*', 'mysql', 'mysql2', 'oracledb', 'tedious', 'sqlite3', 'better-sqlite3', 'pg-query-stream', 'pg-native', '@electric-sql/pglite'],
  // knex, objection and pg are CommonJS and call `require` for Node's own modules.
  banner: { js: "import { createRequire as __asyncOrmRequire } from 'node:module'; const require = __asyncOrmRequire(import.meta.url);" },
  logLevel: 'warning',
} satisfies BuildOptions

export interface BuiltFile {
  readonly entry: string
  readonly file: string
  readonly bytes: number
}

/** Bundles each entry into `outdir/<name>.mjs`. */
export async function buildExecutor(entries: readonly string[], outdir: string): Promise<BuiltFile[]> {
  const points = Object.fromEntries(entries.map((entry) => [basename(entry, extname(entry)), entry]))
  const result = await build({ ...EXECUTOR_BUNDLE, entryPoints: points, outdir, outExtension: { '.js': '.mjs' }, metafile: true })
  return Object.entries(result.metafile.outputs).map(([file, output]) => ({ entry: output.entryPoint ?? '', file, bytes: output.bytes }))
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const given = process.argv.slice(2)
  const entries = given.length > 0 ? given : ['examples/quickstart/main.ts', 'examples/quickstart/lambda.ts']
  for (const built of await buildExecutor(entries, 'dist-executor')) console.log(`${built.file}  ${(built.bytes / 1024).toFixed(0)} KB  (from ${built.entry})`)
}
