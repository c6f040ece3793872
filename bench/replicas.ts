/**
 * Scaling out: the executor over a primary alone, and over the primary with a streaming
 * replica taking its reads, on a primary and standby of their own (both on this machine).
 * A third setup has the replica configured but sends every request with a WAL position
 * no replica has reached, so reads run on the primary after the routing has looked: its
 * ratio to the first is what the routing itself costs. Writes with a replica also read
 * the primary's WAL position after their commit, for the client to send back.
 */
import { startReplication } from '../tests/support/replication.js'
import { captureAsyncOrm, load, median, start, type Captured } from './throughput.js'
import { AUTHORS, POSTS_PER_AUTHOR, WORKLOADS, type WorkloadKey } from './workloads.js'

const SETUPS = ['primary only', 'primary + replica', 'primary + replica, reads kept on the primary by their position'] as const
type Setup = (typeof SETUPS)[number]

const MEASURED: readonly WorkloadKey[] = ['point', 'twenty', 'insert']

/** A position past anything the primary will write in the run. */
const UNREACHED = 'FFFFFFFF/FFFFFFFF'

export interface ReplicaBenchRow {
  readonly workload: string
  /** Median per second, and median ratio to 'primary only' in the same round. */
  readonly figures: Record<Setup, { rps: number; ratio: number }>
  readonly failures: number
}

export async function runReplicaBench(options: { quick: boolean }): Promise<ReplicaBenchRow[]> {
  const cluster = await startReplication({ authors: AUTHORS, postsPerAuthor: POSTS_PER_AUTHOR, commentsPerPost: 0 })
  const servers: { setup: Setup; url: string; kill: () => void }[] = []
  try {
    await cluster.caughtUp()
    const base = { ...process.env, DATABASE_URL: cluster.primary.url, BENCH_SCHEMA: 'public' }
    for (const setup of SETUPS) {
      const env = setup === 'primary only' ? base : { ...base, REPLICA_URL: cluster.standby.url }
      const { url, child } = await start('bench/servers/async-orm.ts', ['connection'], env)
      servers.push({ setup, url, kill: () => child.kill('SIGTERM') })
    }
    const captured = await captureAsyncOrm()
    const seconds = options.quick ? 3 : 5
    const rounds = options.quick ? 3 : 5
    // Each server warmed up first (its pools filled, its code compiled), so that no setup
    // pays for starting in its first round.
    for (const server of servers) await load(server.url, captured.point!, 2)
    const rows: ReplicaBenchRow[] = []
    for (const key of MEASURED) {
      const requests = captured[key]!
      const positioned: NonNullable<Captured[WorkloadKey]> = { ...requests, requests: requests.requests.map((r) => ({ ...r, headers: { ...r.headers, 'async-orm-lsn': UNREACHED } })) }
      const rates: Record<Setup, number[]> = { 'primary only': [], 'primary + replica': [], 'primary + replica, reads kept on the primary by their position': [] }
      let failures = 0
      for (let round = 0; round < rounds; round++) {
        // Each round starts with another setup, so none is always measured first.
        for (let i = 0; i < servers.length; i++) {
          const server = servers[(i + round) % servers.length]!
          const result = await load(server.url, server.setup === SETUPS[2] ? positioned : requests, seconds)
          rates[server.setup].push(result.rps)
          failures += result.non2xx
        }
      }
      const ratio = (setup: Setup) => median(rates[setup].map((rps, round) => rps / rates['primary only'][round]!))
      const figures = Object.fromEntries(SETUPS.map((setup) => [setup, { rps: median(rates[setup]), ratio: ratio(setup) }])) as ReplicaBenchRow['figures']
      rows.push({ workload: WORKLOADS[key].name, figures, failures })
    }
    return rows
  } finally {
    for (const server of servers) server.kill()
    await cluster.destroy()
  }
}

export function replicaTable(rows: readonly ReplicaBenchRow[]): string {
  return [
    '### Scaling out: one primary, or a primary and a replica',
    '',
    'The executor (`statementTimeout: \'connection\'`) over a primary and a streaming standby of their own, both on this machine; autocannon as above, rounds that take the setups in turn; ratios against "primary only" in the same round. The third setup sends each request with a WAL position no replica has reached: reads run on the primary after the routing has looked.',
    '',
    `| workload | ${SETUPS.join(' | ')} | failed requests |`,
    `| --- | ${SETUPS.map(() => '---').join(' | ')} | --- |`,
    ...rows.map((row) => `| ${row.workload} | ${SETUPS.map((setup) => `${row.figures[setup].rps.toFixed(0)}/s (${row.figures[setup].ratio.toFixed(2)}×)`).join(' | ')} | ${row.failures} |`),
  ].join('\n')
}
