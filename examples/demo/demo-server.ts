/**
 * The demo: the executor at `/orm` and the browser app at `/`, on one port, over the
 * embedded PGlite (in memory, or kept in `dataDir`) or a PostgreSQL URL.
 */
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import knexFactory, { type Knex } from 'knex'
import { SignJWT } from 'jose'
import { createExecutor, jwtAuth, proxyAuth } from '../../executor/index.js'
import { serve } from '../../executor/adapters/node.js'
import { createEmbeddedDatabase } from '../../executor/adapters/pglite.js'
import { api, procedures, type DemoCtx } from './api.js'
import { migrate, seed, type SeedSize } from './schema.js'

export interface DemoOptions {
  readonly port?: number
  readonly host?: string
  /** PostgreSQL instead of PGlite. */
  readonly databaseUrl?: string
  /** Or a database the caller opened (and closes): migrated and seeded here. */
  readonly knex?: Knex
  /** Where PGlite keeps its files; in memory when absent. */
  readonly dataDir?: string
  readonly size?: SeedSize
  /**
   * Run behind the edge proxy: the executor listens on `executorPort` and accepts only
   * requests the proxy signed with `hopSecret`; the page's `/orm` goes through `proxyUrl`.
   */
  readonly edge?: { readonly proxyUrl: string; readonly executorPort: number; readonly hopSecret: string }
  /** Signs the demo's sign-in tokens (and verifies them, without the edge proxy). Default: random per run. */
  readonly jwtSecret?: string
}

/** The demo's tokens: `sub` is the author id. Never use a sign-in like this outside a demo. */
const AUDIENCE = 'async-orm-demo'

export interface RunningDemo {
  readonly url: string
  readonly database: string
  readonly knex: Knex
  close(): Promise<void>
}

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url))

export async function startDemo(options: DemoOptions = {}): Promise<RunningDemo> {
  const database = options.knex
    ? { knex: options.knex, close: async () => undefined, label: 'the given database' }
    : options.databaseUrl
    ? (() => {
        const knex = knexFactory({ client: 'pg', connection: options.databaseUrl, pool: { min: 0, max: 10 } })
        return { knex, close: () => knex.destroy(), label: 'PostgreSQL' }
      })()
    : {
        ...(await createEmbeddedDatabase(options.dataDir === undefined ? {} : { dataDir: options.dataDir })),
        label: options.dataDir === undefined ? 'embedded PGlite (in memory)' : `embedded PGlite in ${options.dataDir}`,
      }
  await migrate(database.knex)
  await seed(database.knex, options.size)

  const edge = options.edge
  const jwtSecret = options.jwtSecret ?? crypto.randomUUID() + crypto.randomUUID()
  const toCtx = (identity: Record<string, unknown>): DemoCtx => ({ authorId: BigInt(String(identity.sub)) })
  const executor = createExecutor({
    knex: database.knex,
    api,
    procedures,
    // Retried writes (and, behind the proxy, replayed signed ones) are applied once.
    idempotency: true,
    auth: edge
      ? proxyAuth<DemoCtx>({ secret: edge.hopSecret, context: toCtx })
      : jwtAuth<DemoCtx>({ secret: jwtSecret, algorithms: ['HS256'], audience: AUDIENCE, context: toCtx }),
  })
  const executorServer = edge ? await serve(executor, { port: edge.executorPort, host: options.host ?? '127.0.0.1' }) : undefined
  // The page calls its own origin's /orm; behind it, the proxy and the executor are that
  // origin's backend: the browser's Origin is not forwarded (the executor would see a
  // cross-origin call), and the answer goes back without the encoding fetch has undone.
  const toProxy = async (request: Request) => {
    const headers = new Headers(request.headers)
    for (const name of ['origin', 'host', 'referer']) headers.delete(name)
    const response = await fetch(edge!.proxyUrl, { method: request.method, headers, body: request.body, duplex: 'half' } as RequestInit)
    const answer = new Headers(response.headers)
    for (const name of ['content-encoding', 'content-length', 'transfer-encoding']) answer.delete(name)
    return new Response(response.body, { status: response.status, statusText: response.statusText, headers: answer })
  }
  // The plain page, and the same screen on TanStack Query in React and in Vue (`/react`, `/vue`).
  const bundle = await build({
    entryPoints: { app: here('./app.ts'), react: here('../tanstack-query/react/app.tsx'), vue: here('../tanstack-query/vue/app.ts') },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    jsx: 'automatic',
    alias: { 'async-orm/client': here('../../client/index.ts'), 'async-orm/tanstack-query': here('../../tanstack-query/index.ts') },
    define: { 'process.env.NODE_ENV': '"production"', __VUE_OPTIONS_API__: 'false', __VUE_PROD_DEVTOOLS__: 'false', __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: 'false' },
    outdir: 'out',
    write: false,
    logLevel: 'warning',
  })
  const scripts = new Map(bundle.outputFiles.map((file) => [`/${file.path.split('/').pop()}`, file.text]))
  const indexHtml = await readFile(here('./index.html'), 'utf8')
  const screenHtml = (script: string, title: string) =>
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title><link rel="icon" href="data:,"></head><body><div id="root"></div><script type="module" src="${script}"></script></body></html>`

  async function handler(request: Request): Promise<Response> {
    const { pathname } = new URL(request.url)
    if (pathname === '/orm') return edge ? toProxy(request) : executor(request)
    if (request.method === 'GET' && pathname === '/') {
      return new Response(indexHtml, { headers: { 'content-type': 'text/html; charset=utf-8' } })
    }
    if (request.method === 'POST' && pathname === '/demo/token') {
      // Demo sign-in: anyone may be any author. It exists to show policies at work.
      const author = Number(new URL(request.url).searchParams.get('author'))
      if (!Number.isSafeInteger(author) || author < 1) return new Response('bad author', { status: 400 })
      const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(String(author)).setAudience(AUDIENCE).setExpirationTime('1h').sign(new TextEncoder().encode(jwtSecret))
      return Response.json({ token })
    }
    if (request.method === 'GET' && (pathname === '/react' || pathname === '/vue')) {
      return new Response(screenHtml(`${pathname}.js`, `async-orm on TanStack Query (${pathname.slice(1)})`), { headers: { 'content-type': 'text/html; charset=utf-8' } })
    }
    const script = request.method === 'GET' ? scripts.get(pathname) : undefined
    if (script !== undefined) return new Response(script, { headers: { 'content-type': 'text/javascript; charset=utf-8' } })
    return new Response('not found', { status: 404 })
  }

  const server = await serve(Object.assign(handler, { ready: executor.ready }), {
    port: options.port ?? 3000,
    host: options.host ?? '127.0.0.1',
  })
  return {
    url: server.url,
    database: database.label,
    knex: database.knex,
    async close() {
      await server.close()
      await executorServer?.close()
      await database.close()
    },
  }
}
