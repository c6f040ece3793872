/**
 * Each contender's server runs in its own process, on the same PostgreSQL schema and data,
 * all of them started before the first measurement. Three figures per contender:
 * - server throughput: autocannon replays requests captured from the contender's real
 *   client (16 connections); the rows each client gets back per query show that every
 *   contender answers the same query with the same rows;
 * - a 10,000-row result, the first workload measured: throughput with 4 connections and
 *   the process's peak resident memory (VmHWM) against its size once started;
 * - end to end: the contender's real client in this process, 16 callers in a loop (the
 *   client's CPU counts here, as it does in an app).
 * Every figure is measured in rounds that take the contenders in turn; a ratio is the
 * median of the ratios to the floor's figure of the same round.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { readFile, writeFile } from 'node:fs/promises'
import autocannon from 'autocannon'
import { and, desc, eq, gt, relations } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/pg-proxy'
import { bigint, boolean, integer, jsonb, numeric, pgTable, serial, text, timestamp } from 'drizzle-orm/pg-core'
import knexFactory from 'knex'
import { Remult } from 'remult'
import { createClient } from '../client/index.js'
import type { DemoApi } from '../examples/demo/api.js'
import { migrate, seed } from '../examples/demo/schema.js'
import { decode, encode } from '../shared/wire.js'
import { RemultAuthor, RemultPost } from './remult-entities.js'
import { AUTHOR_HEADER, AUTHORS, batchIds, insertedPost, LARGE_RESULT, POSTS_PER_AUTHOR, updatedPost, WORKLOADS, type WorkloadKey } from './workloads.js'

interface CapturedRequest {
  readonly method: 'GET' | 'POST'
  /** Path and query string. */
  readonly path: string
  readonly body?: string
  /** Headers beyond `content-type` (who is calling). */
  readonly headers?: Record<string, string>
}

/**
 * Each workload's requests as the contender's client sent them, and how many requests
 * one query takes (Remult's client loads a relation with a second request).
 */
export type Captured = Partial<Record<WorkloadKey | 'large', { readonly requests: CapturedRequest[]; readonly perQuery: number }>>

const KEYS = Object.keys(WORKLOADS) as WorkloadKey[]

/** Each workload's query for a parameter; absent where the contender cannot run it. */
type Queries = Partial<Record<WorkloadKey | 'large', (param: number) => PromiseLike<unknown>>>

/** The workloads through the async-orm client. */
function asyncOrmQueries(fetch: typeof globalThis.fetch, url = 'http://capture/orm'): Queries {
  const db = createClient<DemoApi>({ url, batch: false, fetch })
  // Writes are signed in: the server's `auth` reads the author from a header.
  const author = createClient<DemoApi>({ url, batch: false, fetch, headers: { [AUTHOR_HEADER]: '1' } })
  // The update workload signs in as the author of the post it changes.
  const authors = new Map<number, ReturnType<typeof createClient<DemoApi>>>()
  const as = (id: number) => authors.get(id) ?? authors.set(id, createClient<DemoApi>({ url, batch: false, fetch, headers: { [AUTHOR_HEADER]: String(id) } })).get(id)!
  // The batch workload uses the client's default: querysets started together share a request.
  const batching = createClient<DemoApi>({ url, fetch })
  return {
    batch: (id) => Promise.all(batchIds(id).map((one) => batching.Author.query().findById(BigInt(one)))),
    point: (id) => db.Author.query().findById(BigInt(id)),
    twenty: (id) => db.Post.query().where('authorId', BigInt(id)).orderBy('createdAt', 'desc').limit(20),
    eager: (id) => db.Post.query().where('authorId', BigInt(id)).orderBy('createdAt', 'desc').limit(20).withGraphFetched({ author: true }),
    thousand: (id) => db.Post.query().where('id', '>', id).orderBy('id').limit(1000),
    large: (id) => db.Post.query().where('id', '>', id).orderBy('id').limit(LARGE_RESULT.rows),
    insert: (id) => author.Post.query().insert(insertedPost(id)),
    update: (id) => {
      const post = updatedPost(id)
      return as(id).Post.query().patchAndFetchById(post.id, { title: post.title })
    },
  }
}

/** The async-orm client's requests, captured from a fetch that answers nothing. */
export async function captureAsyncOrm(): Promise<Captured> {
  const sent: CapturedRequest[] = []
  const queries = asyncOrmQueries(async (_input, init) => {
    const body = String(init?.body)
    const author = new Headers(init?.headers).get(AUTHOR_HEADER)
    sent.push({ method: 'POST', path: '/orm', body, ...(author && { headers: { [AUTHOR_HEADER]: author } }) })
    const { queries: asked } = decode<{ queries: unknown[] }>(body)
    return new Response(encode({ results: asked.map(() => ({ data: null })) }))
  })
  return capture(queries, sent)
}

/** The 10,000-row workload read with `qs.stream()`, as the async-orm client sends it. */
async function captureAsyncOrmStream(): Promise<Captured> {
  const sent: CapturedRequest[] = []
  const db = createClient<DemoApi>({
    url: 'http://capture/orm',
    fetch: async (_input, init) => {
      sent.push({ method: 'POST', path: '/orm', body: String(init?.body) })
      return new Response(`${encode({ done: true, rows: 0 })}\n`, { headers: { 'content-type': 'application/x-ndjson' } })
    },
  })
  for (const id of LARGE_RESULT.params) {
    for await (const row of db.Post.query().where('id', '>', id).orderBy('id').limit(LARGE_RESULT.rows).stream()) throw new Error(`nothing was answered, yet ${String(row)}`)
  }
  return { large: { requests: sent, perQuery: 1 } }
}

/** Runs each workload's query for each of its parameters, keeping the requests each one sent to `sent`. */
async function capture(queries: Queries, sent: CapturedRequest[]): Promise<Captured> {
  const out: Captured = {}
  for (const key of [...KEYS, 'large' as const]) {
    const query = queries[key]
    if (!query) continue
    sent.length = 0
    const params = paramsOf(key)
    for (const param of params) await query(param)
    out[key] = { requests: [...sent], perQuery: sent.length / params.length }
  }
  return out
}

function paramsOf(key: WorkloadKey | 'large'): readonly number[] {
  return key === 'large' ? LARGE_RESULT.params : WORKLOADS[key].params
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
  // serial: inserts leave the id to the database's sequence.
  id: serial('id').primaryKey(),
  authorId: bigint('author_id', { mode: 'number' }),
  title: text('title'),
  body: text('body'),
  published: boolean('published'),
  views: integer('views'),
  createdAt: timestamp('created_at', { withTimezone: true }),
})
const postsRelations = relations(posts, ({ one }) => ({ author: one(authors, { fields: [posts.authorId], references: [authors.id] }) }))

/** The workloads through drizzle's pg-proxy client, whose callback sends each statement. */
function drizzleQueries(remote: (sql: string, params: unknown[], method: string) => Promise<{ rows: unknown[] }>): Queries {
  const db = drizzle(remote as Parameters<typeof drizzle>[0], { schema: { authors, posts, postsRelations } })
  const postColumns = { id: posts.id, authorId: posts.authorId, title: posts.title, body: posts.body, published: posts.published, views: posts.views, createdAt: posts.createdAt }
  const from = (id: number, limit: number) => db.select(postColumns).from(posts).where(and(eq(posts.published, true), gt(posts.id, id))).orderBy(posts.id).limit(limit)
  return {
    point: (id) => db.select({ id: authors.id, name: authors.name, bio: authors.bio, rating: authors.rating, meta: authors.meta, createdAt: authors.createdAt }).from(authors).where(eq(authors.id, id)),
    twenty: (id) => db.select(postColumns).from(posts).where(and(eq(posts.authorId, id), eq(posts.published, true))).orderBy(desc(posts.createdAt)).limit(20),
    eager: (id) => db.query.posts.findMany({ where: and(eq(posts.authorId, id), eq(posts.published, true)), orderBy: desc(posts.createdAt), limit: 20, with: { author: true } }),
    thousand: (id) => from(id, 1000),
    large: (id) => from(id, LARGE_RESULT.rows),
    insert: (id) =>
      db
        .insert(posts)
        .values({ ...insertedPost(id), authorId: 1, views: 0, createdAt: new Date() })
        .returning(postColumns),
    update: (id) => {
      const post = updatedPost(id)
      // What the executor's policies add: the author's own, published (readable) post.
      return db
        .update(posts)
        .set({ title: post.title })
        .where(and(eq(posts.id, post.id), eq(posts.authorId, id), eq(posts.published, true)))
        .returning(postColumns)
    },
  }
}

/** drizzle's pg-proxy client's requests, captured from its remote callback. */
async function captureDrizzle(): Promise<Captured> {
  const sent: CapturedRequest[] = []
  const queries = drizzleQueries(async (sql, params, method) => {
    sent.push({ method: 'POST', path: '/query', body: JSON.stringify({ sql, params, method }) })
    return { rows: [] }
  })
  return capture(queries, sent)
}

/** The workloads through Remult's client (its REST data provider over `fetch`). */
function remultQueries(url: string, fetch: typeof globalThis.fetch): Queries {
  const remult = new Remult()
  remult.apiClient.url = `${url}/api`
  remult.apiClient.httpClient = fetch
  const posts = remult.repo(RemultPost)
  return {
    point: (id) => remult.repo(RemultAuthor).findId(id),
    twenty: (id) => posts.find({ where: { authorId: id, published: true }, orderBy: { createdAt: 'desc' }, limit: 20 }),
    eager: (id) => posts.find({ where: { authorId: id, published: true }, orderBy: { createdAt: 'desc' }, limit: 20, include: { author: true } }),
    thousand: (id) => posts.find({ where: { published: true, id: { $gt: id } }, orderBy: { id: 'asc' }, limit: 1000 }),
    large: (id) => posts.find({ where: { published: true, id: { $gt: id } }, orderBy: { id: 'asc' }, limit: LARGE_RESULT.rows }),
  }
}

/**
 * Remult's client's requests, captured against its running server: what it asks next
 * depends on what it got (a relation is fetched only for the rows that came back).
 */
async function captureRemult(url: string): Promise<Captured> {
  const sent: CapturedRequest[] = []
  const queries = remultQueries(url, async (input, init) => {
    const target = new URL(String(input))
    sent.push({ method: init?.method === 'POST' ? 'POST' : 'GET', path: `${target.pathname}${target.search}`, ...(init?.body != null && { body: String(init.body) }) })
    return fetch(input, init)
  })
  return capture(queries, sent)
}

/** The floor's client: plain fetch and `response.json()`, one path per workload. */
function floorQueries(url: string): Queries {
  const call = (path: string, body: (id: number) => unknown) => async (id: number) => {
    const response = await fetch(`${url}/${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body(id)) })
    return response.json()
  }
  const byId = (id: number) => ({ id })
  return {
    point: call('point', byId),
    twenty: call('twenty', byId),
    eager: call('eager', byId),
    thousand: call('thousand', byId),
    batch: call('batch', (id) => ({ ids: batchIds(id) })),
    large: call('large', byId),
    insert: call('insert', byId),
    update: call('update', byId),
  }
}

function captureFloor(): Captured {
  const out: Captured = {}
  for (const key of [...KEYS, 'large' as const]) {
    const requests = paramsOf(key).map((id): CapturedRequest => ({ method: 'POST', path: `/${key}`, body: JSON.stringify(key === 'batch' ? { ids: batchIds(id) } : { id }) }))
    out[key] = { requests, perQuery: 1 }
  }
  return out
}

export async function start(script: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] })
  const [line] = (await once(child.stdout!, 'data')) as [Buffer]
  return { url: line.toString().trim().split('\n')[0]!, child }
}

/** Replays a workload's captured requests; `rps` counts answered queries (requests ÷ requests per query). */
export async function load(url: string, captured: NonNullable<Captured[WorkloadKey]>, seconds: number, connections = 16) {
  const result = await autocannon({
    url,
    connections,
    duration: seconds,
    requests: captured.requests.map((c) =>
      c.body === undefined
        ? { method: c.method, path: c.path, ...(c.headers && { headers: c.headers }) }
        : { method: c.method, path: c.path, headers: { 'content-type': 'application/json', ...c.headers }, body: c.body },
    ),
  })
  // Completed requests over the time taken (autocannon's per-second average needs whole seconds).
  return { rps: result.requests.total / result.duration / captured.perQuery, non2xx: result.non2xx + result.errors, total: result.requests.total / captured.perQuery }
}

export interface ThroughputRow {
  readonly contender: string
  readonly rps: number
  ratio: number
  /** Rows in each answer, on average, as the contender's client got them (the same for every contender). */
  readonly rowsPerQuery: number | undefined
  readonly failures: number
}

export interface ThroughputResult {
  readonly workload: string
  readonly rows: ThroughputRow[]
}

export interface LargeResultRow {
  readonly contender: string
  readonly rps: number
  ratio: number
  /** Resident memory before the workload and at its peak (VmHWM), in MB. */
  readonly idleMb: number
  readonly peakMb: number
  readonly failures: number
}

export interface EndToEndRow {
  readonly contender: string
  readonly rps: number
  ratio: number
}

export interface BenchResults {
  readonly server: ThroughputResult[]
  readonly large: LargeResultRow[]
  readonly endToEnd: { readonly workload: string; readonly rows: EndToEndRow[] }[]
  /** Workloads a contender cannot run, and why. */
  readonly notRun: string[]
  /** How a figure was counted where a contender differs (say, two requests per query). */
  readonly notes: string[]
}

interface Contender {
  readonly name: string
  readonly script: string
  readonly args: string[]
  /** Captured before the server starts, or (for clients whose requests depend on answers) against it. */
  readonly requests: Captured | ((url: string) => Promise<Captured>)
  /** The contender's real client against its running server, for the end-to-end figures. */
  readonly client?: (url: string) => Queries
  /** Whether it has a row of its own end to end (default: when it has a client). */
  readonly endToEnd?: boolean
  /** Why the contender has no requests for some workloads. */
  readonly cannot?: Partial<Record<WorkloadKey, string>>
  /** Measured on the 10,000-row result only (another way to read it). */
  readonly largeOnly?: boolean
}

export async function runThroughput(options: { databaseUrl: string; quick: boolean }): Promise<BenchResults> {
  const schema = 'bench_throughput'
  const admin = knexFactory({ client: 'pg', connection: options.databaseUrl, searchPath: [schema], pool: { min: 0, max: 2 } })
  await admin.raw('drop schema if exists ?? cascade', [schema])
  await admin.raw('create schema ??', [schema])
  await migrate(admin)
  await seed(admin, { authors: AUTHORS, postsPerAuthor: POSTS_PER_AUTHOR, commentsPerPost: 0 })
  await admin.raw('analyze')

  const env = { ...process.env, DATABASE_URL: options.databaseUrl, BENCH_SCHEMA: schema }
  const ours = await captureAsyncOrm()
  const ourClient = (url: string) => asyncOrmQueries((input, init) => fetch(input, init), url)
  const contenders: Contender[] = [
    { name: 'floor (hono + pg)', script: 'bench/servers/floor.ts', args: [], requests: captureFloor(), client: floorQueries },
    { name: 'async-orm', script: 'bench/servers/async-orm.ts', args: ['connection'], requests: ours, client: ourClient },
    // The same answer read with qs.stream(): a cursor, 1,000 rows a line. Its own process, for its own peak memory.
    { name: 'async-orm, qs.stream()', script: 'bench/servers/async-orm.ts', args: ['connection'], requests: await captureAsyncOrmStream(), largeOnly: true },
    // The same executor, paying BEGIN/SET LOCAL/COMMIT per request (left out of quick runs).
    ...(options.quick
      ? []
      : [{ name: 'async-orm, SET LOCAL per request', script: 'bench/servers/async-orm.ts', args: ['set-local'], requests: ours, client: ourClient, endToEnd: false }]),
    { name: 'drizzle pg-proxy', script: 'bench/servers/drizzle.ts', args: [], requests: await captureDrizzle(), client: drizzleClient, cannot: { batch: 'its documented server takes one statement per request' } },
    {
      name: 'Remult REST',
      script: 'bench/servers/remult.ts',
      args: [],
      requests: captureRemult,
      client: (url) => remultQueries(url, (input, init) => fetch(input, init)),
      cannot: { batch: 'its REST API answers one query per request', insert: 'its entities are exposed read-only here', update: 'its entities are exposed read-only here' },
    },
  ]
  // Every server runs for the whole measurement; each round measures the contenders one
  // after another (in a rotating order), and each figure is the median over the rounds of
  // its ratio to the floor in the same round, so drifting machine load cancels out.
  // autocannon measures whole seconds.
  const rounds = options.quick ? 2 : 5
  const seconds = options.quick ? 1 : 4
  // Warm up until the JIT has compiled the hot path: short warm-ups favour the smallest server.
  const warmup = options.quick ? 1 : 3
  const running: Running[] = []
  const children: ChildProcess[] = []
  try {
    const started = await Promise.allSettled(contenders.map((contender) => start(contender.script, contender.args, env)))
    for (const outcome of started) if (outcome.status === 'fulfilled') children.push(outcome.value.child)
    const idle = new Map<Contender, number>()
    for (const [i, outcome] of started.entries()) {
      if (outcome.status === 'rejected') throw outcome.reason
      idle.set(contenders[i]!, await memory(outcome.value.child.pid!, 'VmRSS'))
    }
    for (const [i, outcome] of started.entries()) {
      const contender = contenders[i]!
      const { url, child } = (outcome as PromiseFulfilledResult<{ url: string; child: ChildProcess }>).value
      const requests = typeof contender.requests === 'function' ? await contender.requests(url) : contender.requests
      const queries = contender.client?.(url) ?? {}
      running.push({ contender, url, child, requests, queries, rows: await rowsPerQuery(queries) })
    }
    const notRun: string[] = []
    const split = new Set<string>()
    for (const { contender, requests } of running) {
      if (contender.largeOnly) continue
      for (const key of KEYS) {
        const captured = requests[key]
        if (!captured) notRun.push(`${contender.name} has no ${WORKLOADS[key].name.toLowerCase()} (${contender.cannot?.[key] ?? 'not supported'})`)
        else if (captured.perQuery > 1) split.add(`${contender.name}'s client sends ${captured.perQuery} requests per query for ${WORKLOADS[key].name.toLowerCase()}; its figure counts queries (requests ÷ ${captured.perQuery})`)
      }
    }

    // The large result is the first workload measured, so each server's peak memory is its own.
    const largeRounds = await inRounds(running, options.quick ? 1 : 3, async (one) => {
      const result = await load(one.url, one.requests.large!, options.quick ? 2 : 5, LARGE_RESULT.connections)
      return { rps: result.rps, failures: result.non2xx }
    })
    const large: LargeResultRow[] = []
    for (const one of running) {
      const figure = largeRounds.get(one)!
      large.push({ contender: one.contender.name, rps: figure.rps, ratio: figure.ratio, idleMb: idle.get(one.contender)!, peakMb: await memory(one.child.pid!, 'VmHWM'), failures: figure.failures })
    }

    const server: ThroughputResult[] = []
    for (const key of KEYS) {
      const able = running.filter((one) => one.requests[key])
      for (const one of able) await load(one.url, one.requests[key]!, warmup)
      const figures = await inRounds(able, rounds, async (one) => {
        const { rps, non2xx } = await load(one.url, one.requests[key]!, seconds)
        return { rps, failures: non2xx }
      })
      server.push({
        workload: WORKLOADS[key].name,
        rows: able.map((one) => {
          const figure = figures.get(one)!
          return { contender: one.contender.name, rps: figure.rps, ratio: figure.ratio, rowsPerQuery: one.rows.get(key), failures: figure.failures }
        }),
      })
    }

    const endToEnd: BenchResults['endToEnd'] = []
    for (const key of KEYS) {
      const able = running.filter((one) => one.queries[key] && one.contender.endToEnd !== false)
      for (const one of able) await callersLoop(one.queries[key]!, WORKLOADS[key].params, options.quick ? 0.3 : 2)
      const figures = await inRounds(able, rounds, async (one) => ({
        rps: await callersLoop(one.queries[key]!, WORKLOADS[key].params, options.quick ? 0.4 : 3),
        failures: 0,
      }))
      endToEnd.push({ workload: WORKLOADS[key].name, rows: able.map((one) => ({ contender: one.contender.name, rps: figures.get(one)!.rps, ratio: figures.get(one)!.ratio })) })
    }
    await admin.raw('drop schema ?? cascade', [schema])
    return { server, large, endToEnd, notRun, notes: [...split] }
  } finally {
    for (const child of children) child.kill('SIGTERM')
    await Promise.all(children.map((child) => (child.exitCode === null ? once(child, 'exit') : undefined)))
    await admin.destroy()
  }
}

/** A contender's server, started, with its captured requests and its client's queries. */
interface Running {
  readonly contender: Contender
  readonly url: string
  readonly child: ChildProcess
  readonly requests: Captured
  readonly queries: Queries
  /** Rows per answer for each workload, counted from the client's answers. */
  readonly rows: Map<WorkloadKey, number>
}

interface Measured {
  readonly rps: number
  readonly failures: number
}

/**
 * Measures each of `contenders` (the floor first) once per round, starting each round
 * with a different one; per contender: the median throughput, the median of its ratios
 * to the floor's figure of the same round, and the failures of all rounds.
 */
async function inRounds(
  contenders: readonly Running[],
  rounds: number,
  measure: (one: Running) => Promise<Measured>,
): Promise<Map<Running, { rps: number; ratio: number; failures: number }>> {
  const byRound: Map<Running, Measured>[] = []
  for (let round = 0; round < rounds; round++) {
    const figures = new Map<Running, Measured>()
    for (let i = 0; i < contenders.length; i++) {
      const one = contenders[(i + round) % contenders.length]!
      figures.set(one, await measure(one))
    }
    byRound.push(figures)
  }
  const floor = contenders[0]!
  return new Map(
    contenders.map((one) => {
      const measured = byRound.map((figures) => figures.get(one)!)
      return [
        one,
        {
          rps: median(measured.map((m) => m.rps)),
          ratio: median(byRound.map((figures) => figures.get(one)!.rps / figures.get(floor)!.rps)),
          failures: measured.reduce((sum, m) => sum + m.failures, 0),
        },
      ]
    }),
  )
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/** drizzle's pg-proxy client sending to its server with fetch, as its documentation does. */
function drizzleClient(url: string): Queries {
  return drizzleQueries(async (sql, params, method) => {
    const response = await fetch(`${url}/query`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sql, params, method }) })
    return { rows: (await response.json()) as unknown[] }
  })
}

/** 16 callers, each awaiting one query after another for `seconds`; answers per second. */
async function callersLoop(query: (param: number) => PromiseLike<unknown>, params: readonly number[], seconds: number): Promise<number> {
  const end = performance.now() + seconds * 1000
  let done = 0
  let next = 0
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (performance.now() < end) {
        await query(params[next++ % params.length]!)
        done++
      }
    }),
  )
  return done / seconds
}

/** Rows in each workload's answers, on average over its first parameters (a row: an object or an array element). */
async function rowsPerQuery(queries: Queries): Promise<Map<WorkloadKey, number>> {
  const rows = new Map<WorkloadKey, number>()
  for (const key of KEYS) {
    const query = queries[key]
    if (!query) continue
    const params = WORKLOADS[key].params.slice(0, 20)
    let total = 0
    for (const param of params) {
      const answer = await query(param)
      total += Array.isArray(answer) ? answer.filter((row) => row != null).length : answer == null ? 0 : 1
    }
    rows.set(key, total / params.length)
  }
  return rows
}

/** A process's resident memory (`VmRSS`) or its peak (`VmHWM`), in MB (Linux). */
async function memory(pid: number, field: 'VmRSS' | 'VmHWM'): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1])
  return kb / 1024
}

/** Writes `results.md` (tables, then `extra` sections) and `results.svg`; returns the markdown. */
export async function writeReport(results: BenchResults, header: string, extra: readonly string[] = []): Promise<string> {
  const x = (ratio: number) => `${ratio.toFixed(2)}×`
  const lines = [
    header,
    '',
    '### Server throughput',
    '',
    "autocannon replays requests captured from each contender's client, 16 connections; median of rounds that take the contenders in turn, each ratio against the floor's figure of the same round.",
    '',
    '| workload | contender | queries/s | vs floor | rows per query | failed requests |',
    '| --- | --- | --- | --- | --- | --- |',
  ]
  for (const result of results.server) {
    for (const row of result.rows) {
      lines.push(`| ${result.workload} | ${row.contender} | ${row.rps.toFixed(0)} | ${x(row.ratio)} | ${row.rowsPerQuery === undefined ? '—' : row.rowsPerQuery.toFixed(1)} | ${row.failures} |`)
    }
  }
  if (results.notRun.length > 0) lines.push('', `Not run: ${results.notRun.join('; ')}.`)
  if (results.notes.length > 0) lines.push('', `Counted: ${results.notes.join('; ')}.`)
  lines.push(
    '',
    `### ${LARGE_RESULT.name[0]!.toUpperCase()}${LARGE_RESULT.name.slice(1)}`,
    '',
    `${LARGE_RESULT.connections} connections, the first workload measured; memory is each server process's resident size once started (idle) and its peak (VmHWM). The growth is what answering costs; the idle size is mostly the code each server loads.`,
    '',
    '| contender | req/s | vs floor | idle MB | peak MB | growth MB (peak − idle) | failed requests |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  )
  for (const row of results.large) {
    lines.push(`| ${row.contender} | ${row.rps.toFixed(1)} | ${x(row.ratio)} | ${row.idleMb.toFixed(0)} | ${row.peakMb.toFixed(0)} | ${(row.peakMb - row.idleMb).toFixed(0)} | ${row.failures} |`)
  }
  lines.push(
    '',
    '### End to end through each real client',
    '',
    "16 callers in the bench process, each awaiting one query after another; the floor's client is plain `fetch` + `response.json()`. On 2 cores the client's own CPU weighs here.",
    '',
    '| workload | contender | answers/s | vs floor |',
    '| --- | --- | --- | --- |',
  )
  for (const result of results.endToEnd) {
    for (const row of result.rows) lines.push(`| ${result.workload} | ${row.contender} | ${row.rps.toFixed(0)} | ${x(row.ratio)} |`)
  }
  for (const section of extra) lines.push('', section)
  const markdown = lines.join('\n')
  await writeFile(new URL('./results.md', import.meta.url), `${markdown}\n\n![server throughput](results.svg)\n`)
  await writeFile(new URL('./results.svg', import.meta.url), chart(results.server))
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
  console.log(JSON.stringify(results, null, 1))
}
