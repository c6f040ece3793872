/**
 * `npm run bench`: the executor against a hand-written knex handler running the same SQL
 * (the floor), in one process and one run, on PGlite or on PostgreSQL with DATABASE_URL.
 * Requests are replayed in-process, so the figures measure the server side; ratios,
 * not absolute numbers, are what carry between machines. `--quick` runs fewer rounds.
 */
import { execFileSync } from 'node:child_process'
import { performance } from 'node:perf_hooks'
import knexFactory, { type Knex } from 'knex'
import { createClient } from '../client/index.js'
import { createExecutor } from '../executor/index.js'
import { serve } from '../executor/adapters/node.js'
import { createEmbeddedDatabase } from '../executor/adapters/pglite.js'
import { api, type DemoApi } from '../examples/demo/api.js'
import { migrate, seed } from '../examples/demo/schema.js'
import { decode, encode, encodeRequest } from '../shared/wire.js'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildExecutor } from '../scripts/build-executor.js'
import { measureClientBundles } from './bundle-size.js'
import { runThroughput, writeReport } from './throughput.js'
import { replicaTable, runReplicaBench } from './replicas.js'

const quick = process.argv.includes('--quick')
const rounds = quick ? 300 : 2000

// On PostgreSQL the bench works in a schema of its own, created fresh and dropped after.
const BENCH_SCHEMA = 'bench_inprocess'
const database = process.env.DATABASE_URL
  ? await (async () => {
      const url = process.env.DATABASE_URL!
      const setup = knexFactory({ client: 'pg', connection: url, pool: { min: 0, max: 1 } })
      await setup.raw('drop schema if exists ?? cascade', [BENCH_SCHEMA])
      await setup.raw('create schema ??', [BENCH_SCHEMA])
      await setup.destroy()
      const knex = knexFactory({ client: 'pg', connection: url, searchPath: [BENCH_SCHEMA], pool: { min: 1, max: 4 } })
      return {
        knex,
        label: 'PostgreSQL',
        close: async () => {
          await knex.raw('drop schema ?? cascade', [BENCH_SCHEMA])
          await knex.destroy()
        },
      }
    })()
  : { ...(await createEmbeddedDatabase()), label: 'PGlite (in memory)' }
await migrate(database.knex)
await seed(database.knex)
const executor = createExecutor({ knex: database.knex, api })
await executor.ready()

interface Workload {
  readonly name: string
  readonly query: unknown
  readonly floor: (knex: Knex) => Promise<unknown>
}

const WORKLOADS: Workload[] = [
  {
    name: 'point read by primary key',
    query: { model: 'Author', op: 'first', where: { kind: 'id', ids: [42n] } },
    floor: (knex) => knex('authors').select('id', 'name', 'bio', 'rating', 'meta', 'created_at').where('id', 42).first(),
  },
  {
    name: '20 rows by an indexed filter, ordered',
    query: { model: 'Post', op: 'select', where: { kind: 'compare', column: 'authorId', op: '=', value: 7n }, orderBy: [{ column: 'createdAt', direction: 'desc' }], limit: 20 },
    floor: (knex) => knex('posts').select('id', 'author_id', 'title', 'body', 'published', 'views', 'created_at').where({ author_id: 7, published: true }).orderBy('created_at', 'desc').limit(20),
  },
  {
    name: '100 rows with one eager relation',
    query: { model: 'Post', op: 'select', orderBy: [{ column: 'id', direction: 'asc' }], limit: 100, graph: [{ relation: 'author' }] },
    floor: async (knex) => {
      const posts = await knex('posts').select('id', 'author_id', 'title', 'body', 'published', 'views', 'created_at').where({ published: true }).orderBy('id').limit(100)
      const authors = await knex('authors').select('id', 'name', 'bio', 'rating', 'meta', 'created_at').whereIn('id', [...new Set(posts.map((p) => p.author_id))])
      const byId = new Map(authors.map((a) => [a.id, a]))
      return posts.map((p) => ({ ...p, author: byId.get(p.author_id) ?? null }))
    },
  },
]

async function time(run: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < Math.min(100, rounds); i++) await run()
  const start = performance.now()
  for (let i = 0; i < rounds; i++) await run()
  return rounds / ((performance.now() - start) / 1000)
}

console.log(`async-orm bench — ${database.label}, ${rounds} rounds each, node ${process.version}, ${new Date().toISOString()}`)
// On PostgreSQL, also the executor taking statement_timeout from the connection
// (`statementTimeout: 'connection'`): reads then run without BEGIN/COMMIT.
const connectionMode = process.env.DATABASE_URL
  ? (() => {
      const knex = knexFactory({ client: 'pg', connection: { connectionString: process.env.DATABASE_URL, statement_timeout: 5000 }, searchPath: [BENCH_SCHEMA], pool: { min: 1, max: 4 } })
      return { knex, executor: createExecutor({ knex, api, statementTimeout: 'connection' }) }
    })()
  : undefined
await connectionMode?.executor.ready()

console.log(`workload | floor req/s | async-orm req/s | ratio${connectionMode ? " | with statementTimeout: 'connection' | ratio" : ''}`)
console.log(`--- | --- | --- | ---${connectionMode ? ' | --- | ---' : ''}`)
for (const workload of WORKLOADS) {
  const body = encode({ v: 1, queries: [workload.query] })
  const request = () => new Request('http://bench.local/orm', { method: 'POST', headers: { 'content-type': 'application/json' }, body })
  const ours = () => executor(request()).then((r) => r.text())
  const floor = () => workload.floor(database.knex).then((rows) => JSON.stringify(rows))
  const floorRate = await time(floor)
  const ourRate = await time(ours)
  let extra = ''
  if (connectionMode) {
    const plainRate = await time(() => connectionMode.executor(request()).then((r) => r.text()))
    extra = ` | ${plainRate.toFixed(0)} | ${(plainRate / floorRate).toFixed(2)}×`
  }
  console.log(`${workload.name} | ${floorRate.toFixed(0)} | ${ourRate.toFixed(0)} | ${(ourRate / floorRate).toFixed(2)}×${extra}`)
}
await connectionMode?.knex.destroy()
// End to end through the client over loopback HTTP: what batching and transactions save.
const server = await serve(createExecutor({ knex: database.knex, api, auth: async () => ({ authorId: 1n }) }), { port: 0 })
const db = createClient<DemoApi>({ url: server.url })
const e2eRounds = quick ? 30 : 150
async function perSecond(run: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 5; i++) await run()
  const start = performance.now()
  for (let i = 0; i < e2eRounds; i++) await run()
  return e2eRounds / ((performance.now() - start) / 1000)
}
const ids = Array.from({ length: 20 }, (_, i) => BigInt(i + 1))
const batched = await perSecond(() => Promise.all(ids.map((id) => db.Author.query().findById(id))))
const sequential = await perSecond(async () => {
  for (const id of ids) await db.Author.query().findById(id)
})
let n = 0
const transaction = await perSecond(() => db.transaction(Array.from({ length: 10 }, () => db.Tag.query().insert({ name: `bench-${n++}` }))))
const separate = await perSecond(async () => {
  for (let i = 0; i < 10; i++) await db.Tag.query().insert({ name: `bench-${n++}` })
})
const batching = [
  `| 20 point reads, batched in one request | ${batched.toFixed(0)} | ${(batched / sequential).toFixed(1)}× the sequential requests |`,
  `| 20 point reads, 20 sequential requests | ${sequential.toFixed(0)} | 1.0× |`,
  `| 10 inserts in one transaction | ${transaction.toFixed(0)} | ${(transaction / separate).toFixed(1)}× the separate requests |`,
  `| 10 inserts, 10 separate requests | ${separate.toFixed(0)} | 1.0× |`,
]
console.log(['\nend to end, client over HTTP | per second | ratio', ...batching].join('\n'))
await server.close()

// The client's own CPU per query: the real client against a fetch that answers at once
// with the executor's real answer (no server, no network), against the codec the client
// used before (the wire module's writer and reader over the platform's fetch) and the
// floor (`JSON.stringify` + `response.json()` of the same rows as plain JSON).
const clientCpu: string[] = []
{
  const cases = [
    { name: 'point read', query: (c: typeof db) => c.Author.query().findById(42n) },
    { name: '1,000 rows', query: (c: typeof db) => c.Post.query().where('id', '>', 0).orderBy('id').limit(1000) },
  ]
  const iterations = quick ? 200 : 1000
  const perCall = async (run: () => Promise<unknown>) => {
    for (let i = 0; i < 20; i++) await run()
    const start = performance.now()
    for (let i = 0; i < iterations; i++) await run()
    return ((performance.now() - start) * 1000) / iterations
  }
  for (const { name, query } of cases) {
    const ast = query(createClient<DemoApi>({ url: 'http://x/orm' })).toJSON()
    const answer = await (await executor(new Request('http://bench.local/orm', { method: 'POST', headers: { 'content-type': 'application/json' }, body: encodeRequest({ v: 1, queries: [ast] }) }))).text()
    const plain = JSON.stringify(decode(answer), (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v))
    const client = createClient<DemoApi>({ url: 'http://x/orm', batch: false, fetch: async () => new Response(answer) })
    const ours = await perCall(() => query(client).fetch())
    const previous = await perCall(async () => {
      encodeRequest({ v: 1, queries: [ast] })
      return decode(await new Response(answer).text())
    })
    const floorCpu = await perCall(async () => {
      JSON.stringify({ queries: [ast] }, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v))
      return (await new Response(plain).json()) as unknown
    })
    clientCpu.push(`| ${name} | ${ours.toFixed(0)} µs | ${previous.toFixed(0)} µs | ${floorCpu.toFixed(0)} µs |`)
  }
  console.log(['\nclient CPU per query | async-orm client (ofetch + superjson) | the previous codec (own writer and reader, platform fetch) | floor (JSON + fetch)', ...clientCpu].join('\n'))
}

// Cold start: process start to first answered point read, on PostgreSQL only (PGlite's
// own boot would dominate).
interface ColdStart {
  readonly runs: number
  /** Milliseconds by how the code ran (`tsx` sources, or one bundled file) and mode. */
  readonly figures: Record<'sources' | 'bundled', Record<'floor' | 'executor' | 'lambda', number>>
}
let coldStart: ColdStart | undefined
if (process.env.DATABASE_URL) {
  const schema = `bench_cold_${process.pid}`
  await database.knex.raw('create schema ??', [schema])
  const scoped = knexFactory({ client: 'pg', connection: process.env.DATABASE_URL, searchPath: [schema], pool: { min: 0, max: 1 } })
  await migrate(scoped)
  await seed(scoped)
  await scoped.destroy()
  const outdir = mkdtempSync(join(tmpdir(), 'ao-cold-'))
  const [bundle] = await buildExecutor(['bench/cold-start-child.ts'], outdir)
  const cold = (how: 'sources' | 'bundled', mode: string) => {
    const args = how === 'sources' ? ['--import', 'tsx', 'bench/cold-start-child.ts', mode, schema] : [bundle!.file, mode, schema]
    const out = execFileSync(process.execPath, args, { env: process.env }).toString()
    return Number(out.trim().split('\n').at(-1))
  }
  const runs = quick ? 3 : 7
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  const figures = { sources: { floor: 0, executor: 0, lambda: 0 }, bundled: { floor: 0, executor: 0, lambda: 0 } }
  for (const how of ['sources', 'bundled'] as const) {
    for (const mode of ['floor', 'executor', 'lambda'] as const) figures[how][mode] = median(Array.from({ length: runs }, () => cold(how, mode)))
  }
  coldStart = { runs, figures }
  rmSync(outdir, { recursive: true, force: true })
  for (const how of ['sources', 'bundled'] as const) {
    const f = figures[how]
    console.log(`\ncold start, ${how} (process start → first answered point read, median of ${runs}): floor ${f.floor.toFixed(0)} ms, async-orm ${f.executor.toFixed(0)} ms (${(f.executor / f.floor).toFixed(2)}×), through the Lambda adapter ${f.lambda.toFixed(0)} ms (${(f.lambda / f.floor).toFixed(2)}×)`)
  }
  await database.knex.raw('drop schema ?? cascade', [schema])
}

const bundles = await measureClientBundles()

// Server throughput under load, on PostgreSQL (DATABASE_URL or the local test database).
const throughputUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const results = await runThroughput({ databaseUrl: throughputUrl, quick })
// A primary and a replica of their own (PostgreSQL's server programs, as the tests use).
const replicas = replicaTable(await runReplicaBench({ quick }))
console.log(`\n${replicas}`)
const cpus = (await import('node:os')).cpus()
const header = `## Benchmarks${quick ? ' (quick)' : ''}\n\nRun ${new Date().toISOString()} on ${cpus.length} × ${cpus[0]?.model ?? 'CPU'}, node ${process.version}, ${await serverVersion(throughputUrl)} at ${new URL(throughputUrl).host}; ${await versions(['pg', 'knex', 'objection', 'drizzle-orm', 'remult', 'autocannon'])}.`
const extra = [
  [
    '### Batching and transactions, end to end through the client',
    '',
    '| workload | per second | ratio |',
    '| --- | --- | --- |',
    ...batching,
  ].join('\n'),
  [
    '### Client CPU per query',
    '',
    'The client against a fetch that answers at once with the executor\'s real answer: no server, no network.',
    '',
    '| answer | async-orm client (ofetch + superjson) | the previous codec (own writer and reader, platform fetch) | floor (JSON + fetch) |',
    '| --- | --- | --- | --- |',
    ...clientCpu,
  ].join('\n'),
  ...(coldStart
    ? [
        [
          `### Cold start\n\nProcess start to first answered point read, median of ${coldStart.runs}; the floor is knex running the same SQL. "Bundled" is one file built by \`npm run build:executor\` (esbuild) for each, run with plain Node.`,
          '',
          '| run from | floor | async-orm | vs floor | async-orm through the Lambda adapter | vs floor |',
          '| --- | --- | --- | --- | --- | --- |',
          ...(['sources', 'bundled'] as const).map((how) => {
            const f = coldStart!.figures[how]
            return `| ${how === 'sources' ? 'TypeScript sources (tsx)' : 'one bundled file'} | ${f.floor.toFixed(0)} ms | ${f.executor.toFixed(0)} ms | ${(f.executor / f.floor).toFixed(2)}× | ${f.lambda.toFixed(0)} ms | ${(f.lambda / f.floor).toFixed(2)}× |`
          }),
        ].join('\n'),
      ]
    : []),
  replicas,
  ['### Client bundles (minified + gzipped, esbuild)', '', '| client | KB |', '| --- | --- |', ...bundles.map((row) => `| ${row.client} | ${row.gzippedKb.toFixed(1)} |`)].join('\n'),
]
console.log(`\n${await writeReport(results, header, extra)}`)
await database.close()

/** `name version` of each installed package. */
async function versions(names: readonly string[]): Promise<string> {
  const { readFile } = await import('node:fs/promises')
  const found = await Promise.all(
    names.map(async (name) => `${name} ${(JSON.parse(await readFile(new URL(`../node_modules/${name}/package.json`, import.meta.url), 'utf8')) as { version: string }).version}`),
  )
  return found.join(', ')
}

/** The server's own version string, e.g. `PostgreSQL 15.20`. */
async function serverVersion(url: string): Promise<string> {
  const knex = knexFactory({ client: 'pg', connection: url, pool: { min: 0, max: 1 } })
  try {
    const { rows } = (await knex.raw('show server_version')) as { rows: { server_version: string }[] }
    return `PostgreSQL ${rows[0]!.server_version.split(' ')[0]}`
  } finally {
    await knex.destroy()
  }
}
