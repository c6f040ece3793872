/**
 * Server throughput: each contender's server runs in its own process; autocannon replays
 * requests captured from that contender's real client (16 connections). Every contender
 * reads the same PostgreSQL schema and data; transactions committed per request are read
 * from pg_stat_database to show each one really ran its queries.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { writeFile } from 'node:fs/promises'
import autocannon from 'autocannon'
import { and, desc, eq, gt, relations } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/pg-proxy'
import { bigint, boolean, integer, jsonb, numeric, pgTable, text, timestamp } from 'drizzle-orm/pg-core'
import knexFactory from 'knex'
import { createClient } from '../client/index.js'
import type { DemoApi } from '../examples/demo/api.js'
import { migrate, seed } from '../examples/demo/schema.js'
import { encode } from '../shared/wire.js'
import { AUTHORS, WORKLOADS, type WorkloadKey } from './workloads.js'

interface Captured {
  readonly path: string
  readonly body: string
}

const KEYS = Object.keys(WORKLOADS) as WorkloadKey[]

/** The async-orm client's requests, captured from a fetch that answers nothing. */
async function captureAsyncOrm(): Promise<Record<WorkloadKey, Captured[]>> {
  let last = ''
  const db = createClient<DemoApi>({
    url: 'http://capture/orm',
    batch: false,
    fetch: async (_input, init) => {
      last = String(init?.body)
      return new Response(encode({ results: [{ data: null }] }))
    },
  })
  const queries: Record<WorkloadKey, (p: number) => PromiseLike<unknown>> = {
    point: (id) => db.Author.query().findById(BigInt(id)),
    twenty: (id) => db.Post.query().where('authorId', BigInt(id)).orderBy('createdAt', 'desc').limit(20),
    eager: (id) => db.Post.query().where('authorId', BigInt(id)).orderBy('createdAt', 'desc').limit(20).withGraphFetched({ author: true }),
    thousand: (id) => db.Post.query().where('id', '>', id).orderBy('id').limit(1000),
  }
  return capture(queries, '/orm', () => last)
}

/** Runs each workload's query for each of its parameters, keeping the body each one sent. */
async function capture(
  queries: Record<WorkloadKey, (param: number) => PromiseLike<unknown>>,
  path: string,
  lastBody: () => string,
): Promise<Record<WorkloadKey, Captured[]>> {
  const out = {} as Record<WorkloadKey, Captured[]>
  for (const key of KEYS) {
    out[key] = []
    for (const param of WORKLOADS[key].params) {
      await queries[key](param)
      out[key].push({ path, body: lastBody() })
    }
  }
  return out
}

const authors = pgTable('authors', {
  id: bigint('id', { mode: 'number' }).primaryKey(),
  name: text('name'),
  bio: text('bio'),
  rating: numeric('rating'),
  meta: jsonb('meta'),
  createdAt: timestamp('created_at', { withTimezone: true }),
})
const posts = pgTable('posts', {
  id: integer('id').primaryKey(),
  authorId: bigint('author_id', { mode: 'number' }),
  title: text('title'),
  body: text('body'),
  published: boolean('published'),
  views: integer('views'),
  createdAt: timestamp('created_at', { withTimezone: true }),
})
const postsRelations = relations(posts, ({ one }) => ({ author: one(authors, { fields: [posts.authorId], references: [authors.id] }) }))

/** drizzle's pg-proxy client's requests, captured from its remote callback. */
async function captureDrizzle(): Promise<Record<WorkloadKey, Captured[]>> {
  let last = ''
  const db = drizzle(
    async (sql, params, method) => {
      last = JSON.stringify({ sql, params, method })
      return { rows: [] }
    },
    { schema: { authors, posts, postsRelations } },
  )
  const postColumns = { id: posts.id, authorId: posts.authorId, title: posts.title, body: posts.body, published: posts.published, views: posts.views, createdAt: posts.createdAt }
  const queries: Record<WorkloadKey, (p: number) => Promise<unknown>> = {
    point: (id) => db.select({ id: authors.id, name: authors.name, bio: authors.bio, rating: authors.rating, meta: authors.meta, createdAt: authors.createdAt }).from(authors).where(eq(authors.id, id)),
    twenty: (id) => db.select(postColumns).from(posts).where(and(eq(posts.authorId, id), eq(posts.published, true))).orderBy(desc(posts.createdAt)).limit(20),
    eager: (id) => db.query.posts.findMany({ where: and(eq(posts.authorId, id), eq(posts.published, true)), orderBy: desc(posts.createdAt), limit: 20, with: { author: true } }),
    thousand: (id) => db.select(postColumns).from(posts).where(and(eq(posts.published, true), gt(posts.id, id))).orderBy(posts.id).limit(1000),
  }
  return capture(queries, '/query', () => last)
}

function captureFloor(): Record<WorkloadKey, Captured[]> {
  const out = {} as Record<WorkloadKey, Captured[]>
  for (const key of KEYS) out[key] = WORKLOADS[key].params.map((id) => ({ path: `/${key}`, body: JSON.stringify({ id }) }))
  return out
}

async function start(script: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] })
  const [line] = (await once(child.stdout!, 'data')) as [Buffer]
  return { url: line.toString().trim().split('\n')[0]!, child }
}

async function load(url: string, captured: Captured[], seconds: number) {
  const result = await autocannon({
    url,
    connections: 16,
    duration: seconds,
    requests: captured.map((c) => ({ method: 'POST' as const, path: c.path, headers: { 'content-type': 'application/json' }, body: c.body })),
  })
  return { rps: result.requests.average, non2xx: result.non2xx + result.errors, total: result.requests.total }
}

export interface ThroughputResult {
  readonly workload: string
  readonly rows: { contender: string; rps: number; ratio: number; xactPerRequest: number; failures: number }[]
}

export async function runThroughput(options: { databaseUrl: string; quick: boolean }): Promise<ThroughputResult[]> {
  const schema = 'bench_throughput'
  const admin = knexFactory({ client: 'pg', connection: options.databaseUrl, searchPath: [schema], pool: { min: 0, max: 2 } })
  await admin.raw('drop schema if exists ?? cascade', [schema])
  await admin.raw('create schema ??', [schema])
  await migrate(admin)
  await seed(admin, { authors: AUTHORS, postsPerAuthor: 10, commentsPerPost: 0 })
  await admin.raw('analyze')
  const xacts = async () => Number((await admin.raw('select xact_commit from pg_stat_database where datname = current_database()')).rows[0].xact_commit)

  const env = { ...process.env, DATABASE_URL: options.databaseUrl, BENCH_SCHEMA: schema }
  const contenders = [
    { name: 'floor (hono + pg)', script: 'bench/servers/floor.ts', args: [], requests: captureFloor() },
    { name: 'async-orm', script: 'bench/servers/async-orm.ts', args: [], requests: await captureAsyncOrm() },
    { name: "async-orm, statementTimeout: 'connection'", script: 'bench/servers/async-orm.ts', args: ['connection'], requests: await captureAsyncOrm() },
    { name: 'drizzle pg-proxy', script: 'bench/servers/drizzle.ts', args: [], requests: await captureDrizzle() },
  ]
  const seconds = options.quick ? 3 : 10
  const warmup = options.quick ? 2 : 3
  const results: ThroughputResult[] = KEYS.map((key) => ({ workload: WORKLOADS[key].name, rows: [] }))
  for (const contender of contenders) {
    const { url, child } = await start(contender.script, contender.args, env)
    try {
      for (const [i, key] of KEYS.entries()) {
        // Warm up until the JIT has compiled the hot path: short warm-ups favour the smallest server.
        await load(url, contender.requests[key], warmup)
        const before = await xacts()
        const { rps, non2xx, total } = await load(url, contender.requests[key], seconds)
        const after = await xacts()
        results[i]!.rows.push({ contender: contender.name, rps, ratio: 0, xactPerRequest: (after - before) / Math.max(1, total), failures: non2xx })
      }
    } finally {
      child.kill('SIGTERM')
      await once(child, 'exit')
    }
  }
  for (const result of results) {
    const floor = result.rows[0]!.rps
    for (const row of result.rows) row.ratio = row.rps / floor
  }
  await admin.raw('drop schema ?? cascade', [schema])
  await admin.destroy()
  return results
}

export async function writeReport(results: ThroughputResult[], header: string): Promise<string> {
  const lines = [header, '', '| workload | contender | req/s | vs floor | transactions per request | failed requests |', '| --- | --- | --- | --- | --- | --- |']
  for (const result of results) {
    for (const row of result.rows) {
      lines.push(`| ${result.workload} | ${row.contender} | ${row.rps.toFixed(0)} | ${row.ratio.toFixed(2)}× | ${row.xactPerRequest.toFixed(2)} | ${row.failures} |`)
    }
  }
  const markdown = lines.join('\n')
  await writeFile(new URL('./results.md', import.meta.url), `${markdown}\n\n![server throughput](results.svg)\n`)
  await writeFile(new URL('./results.svg', import.meta.url), chart(results))
  return markdown
}

/** A bar chart of each contender's throughput relative to the floor, per workload. */
function chart(results: ThroughputResult[]): string {
  const colors = ['#98a2b3', '#155eef', '#6172f3', '#f79009']
  const barHeight = 14
  const groupGap = 18
  const left = 250
  const width = 760
  const scale = (width - left - 60) / Math.max(1.3, ...results.flatMap((r) => r.rows.map((row) => row.ratio)))
  let y = 40
  const parts: string[] = []
  for (const result of results) {
    parts.push(`<text x="10" y="${y + 12}" font-weight="600">${escapeXml(result.workload)}</text>`)
    y += 18
    result.rows.forEach((row, i) => {
      parts.push(`<text x="20" y="${y + 11}">${escapeXml(row.contender)}</text>`)
      parts.push(`<rect x="${left}" y="${y}" width="${Math.max(1, row.ratio * scale).toFixed(1)}" height="${barHeight - 2}" fill="${colors[i % colors.length]}"/>`)
      parts.push(`<text x="${left + row.ratio * scale + 6}" y="${y + 11}">${row.ratio.toFixed(2)}×</text>`)
      y += barHeight
    })
    y += groupGap
  }
  const floorX = left + scale
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" font-family="system-ui, sans-serif" font-size="12">
<text x="10" y="20" font-size="14" font-weight="600">Server throughput relative to the hand-written floor (1.0×)</text>
<line x1="${floorX}" y1="30" x2="${floorX}" y2="${y - 10}" stroke="#d0d5dd" stroke-dasharray="4 3"/>
${parts.join('\n')}
</svg>
`
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`)
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const quick = process.argv.includes('--quick')
  const results = await runThroughput({ databaseUrl: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test', quick })
  for (const result of results) for (const row of result.rows) console.log(`${result.workload} | ${row.contender} | ${row.rps.toFixed(0)} | ${row.ratio.toFixed(2)}×`)
}
