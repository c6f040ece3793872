/**
 * Read replicas: which database serves a read-only request. Streaming standbys of the
 * primary (`replicas`) serve reads round robin while they are reachable, no further
 * behind than `maxLagMs`, and (for a read that carries a write's WAL position) replayed
 * past that position; the primary serves the rest, and every request that writes.
 *
 * A replica's state comes from a check (its replay position and lag) made at most every
 * `checkEveryMs` while requests arrive, in the background: no timer runs while the
 * executor is idle, and no request waits for a check. Replay only moves forward, so a
 * replica that had replayed past a position at its last check still has.
 */
import type { Knex } from 'knex'
import type { Logger } from '../executor-error.js'
import { ExecutorError } from '../executor-error.js'
import { isConnectionFailure } from '../outage.js'
import { parseWalPosition } from './wal-position.js'

export interface ReplicationOptions {
  /**
   * Replicas further behind the primary than this, in ms at their last check, serve no
   * reads until they catch up. Default 5000.
   */
  readonly maxLagMs?: number
  /** How often each replica's position is checked while requests arrive, in ms. Default 1000. */
  readonly checkEveryMs?: number
}

/**
 * How long past `checkEveryMs` a replica's last check stands: a replica whose state is
 * older serves no reads until the next check (started by the read that finds it so).
 */
const FRESH_GRACE_MS = 1000

interface Replica {
  readonly knex: Knex
  /** `replicas[i]`, as logs name it. */
  readonly name: string
  /** What its last check found: whether it serves reads, and why not. */
  serving: boolean
  why: string
  /** Its replay position at its last check (`pg_last_wal_replay_lsn()`). */
  replayed: bigint
  /** When its last check was sent (`Date.now()`). */
  checkedAt: number
}

/** A standby's state, read on the standby. */
const STANDBY_STATE = `select pg_is_in_recovery() as standby,
  pg_last_wal_replay_lsn()::text as replayed,
  pg_last_wal_receive_lsn()::text as received,
  extract(epoch from clock_timestamp() - pg_last_xact_replay_timestamp()) * 1000 as since_replay_ms,
  (select status from pg_stat_wal_receiver) as receiver,
  current_setting('statement_timeout') as statement_timeout`

interface StandbyState {
  readonly standby: boolean
  readonly replayed: string | null
  readonly received: string | null
  readonly since_replay_ms: number | string | null
  /** Its WAL receiver's state (`streaming` while it receives from the primary). */
  readonly receiver: string | null
  readonly statement_timeout: string
}

/** The replica has not replayed as far as the read must see: the read belongs elsewhere. */
export class NotReplayed extends Error {}

/** What a read runs with on one database (a batch's environment, say). */
export interface ReadPlace {
  readonly knex: Knex
  /**
   * A replica whose last check had not replayed as far as the request's WAL position: the
   * read's session first reads its replay position, reports it (`seen`), and throws
   * `NotReplayed` if it is still short of `position`.
   */
  readonly replayedPast?: { readonly position: bigint; readonly seen: (replayed: bigint) => void }
}

/** Where to try a read-only request. */
export interface Target {
  readonly knex: Knex
  /**
   * The replica's last check had not replayed this far: the read's session checks its
   * replay position first, and moves on if it is still short.
   */
  readonly replayedPast?: bigint
}

export class ReadRouting {
  private readonly replicas: Replica[]
  private readonly maxLagMs: number
  private readonly checkEveryMs: number
  private lastCheck = Number.NEGATIVE_INFINITY
  private checking: Promise<void> | undefined
  private turn = 0

  constructor(
    private readonly primary: Knex,
    replicas: readonly Knex[],
    options: ReplicationOptions,
    private readonly logger: Logger,
    /** `statementTimeout: 'connection'`: a replica must set `statement_timeout` too. */
    private readonly connectionTimeout: boolean,
  ) {
    this.maxLagMs = positive(options.maxLagMs ?? 5000, 'replication.maxLagMs')
    this.checkEveryMs = positive(options.checkEveryMs ?? 1000, 'replication.checkEveryMs')
    replicas.forEach((knex, i) => {
      if (typeof knex !== 'function' || typeof (knex as Partial<Knex>).raw !== 'function') throw new TypeError(`replicas[${i}] must be a knex instance`)
    })
    this.replicas = replicas.map((knex, i) => ({ knex, name: `replicas[${i}]`, serving: false, why: 'not checked yet', replayed: 0n, checkedAt: 0 }))
  }

  /**
   * The databases to try for a read-only request, in order: the replicas that may serve
   * it (each request starts at the next one); else, for a read whose position is past what
   * every replica had replayed at its last check, one replica that checks again in the
   * read's own session; then the primary.
   * @param after the WAL position the read must see (a write's, sent back by its client)
   */
  route(after: bigint | undefined): Target[] {
    this.checkIfDue()
    const order: Target[] = []
    let behind: Replica | undefined
    const count = this.replicas.length
    // A check older than this says nothing of the lag now (an executor idle for a while).
    const since = Date.now() - this.checkEveryMs - FRESH_GRACE_MS
    for (let i = 0; i < count; i++) {
      const replica = this.replicas[(this.turn + i) % count]!
      if (!replica.serving || replica.checkedAt < since) continue
      if (after === undefined || replica.replayed >= after) order.push({ knex: replica.knex })
      else behind ??= replica
    }
    this.turn = (this.turn + 1) % Math.max(count, 1)
    if (order.length === 0 && behind && after !== undefined) order.push({ knex: behind.knex, replayedPast: after })
    order.push({ knex: this.primary })
    return order
  }

  /**
   * Runs a read-only request on the databases `route` gives, each in turn while the last
   * could not be reached (or had not replayed far enough), the primary last; `before` runs
   * before each attempt (a limit to check again).
   */
  async read<E extends ReadPlace, T>(after: bigint | undefined, env: E, run: (env: E) => Promise<T>, before?: () => void): Promise<T> {
    const targets = this.route(after)
    for (const target of targets.slice(0, -1)) {
      before?.()
      const { replayedPast } = target
      const on: E = {
        ...env,
        knex: target.knex,
        ...(replayedPast !== undefined && { replayedPast: { position: replayedPast, seen: (replayed: bigint) => this.replayed(target.knex, replayed) } }),
      }
      try {
        return await run(on)
      } catch (error) {
        if (error instanceof NotReplayed) continue
        if (!unreachable(error)) throw error
        this.failed(target.knex, error)
      }
    }
    before?.()
    return run({ ...env, knex: this.primary })
  }

  /** A replay position a read found on `knex`: kept when it is past its last check's. */
  replayed(knex: Knex, position: bigint): void {
    const replica = this.replicas.find((r) => r.knex === knex)
    if (replica && position > replica.replayed) replica.replayed = position
  }

  /** A read on `knex` could not reach it: it serves nothing until a check finds it back. */
  failed(knex: Knex, error: unknown): void {
    const replica = this.replicas.find((r) => r.knex === knex)
    if (replica) this.set(replica, false, 'a read could not reach it', error)
  }

  /**
   * Checks every replica now. A replica that answers but is not a standby, or lacks the
   * `statement_timeout` the executor relies on, is a configuration error; one that does
   * not answer is not (it serves once it does).
   */
  async checkNow(): Promise<void> {
    await this.check()
    for (const replica of this.replicas) {
      if (!replica.serving && replica.why.startsWith('misconfigured: ')) throw new TypeError(`${replica.name}: ${replica.why.slice('misconfigured: '.length)}`)
    }
    // A standby of another cluster has positions that mean nothing here. Where the role may
    // read the control data (superusers, pg_monitor…), its system identifier tells.
    const primary = await systemIdentifier(this.primary)
    if (primary === undefined) return
    for (const replica of this.replicas) {
      const own = await systemIdentifier(replica.knex)
      if (own !== undefined && own !== primary) throw new TypeError(`${replica.name}: it is a standby of another cluster (its system identifier is not the primary's)`)
    }
  }

  /** The primary's WAL position now (`pg_lsn` text), or a rejection after `ms`. */
  async position(ms: number): Promise<string> {
    const { rows } = (await within(this.primary.raw('select pg_current_wal_insert_lsn()::text as lsn'), ms)) as { rows: { lsn: string }[] }
    return rows[0]!.lsn
  }

  private checkIfDue(): void {
    if (this.checking || Date.now() - this.lastCheck < this.checkEveryMs) return
    void this.check()
  }

  private check(): Promise<void> {
    this.checking ??= (async () => {
      try {
        const primary = await within(this.primaryPosition(), this.checkEveryMs).catch(() => undefined)
        await Promise.all(this.replicas.map((replica) => this.checkReplica(replica, primary)))
      } finally {
        this.lastCheck = Date.now()
        this.checking = undefined
      }
    })()
    return this.checking
  }

  private async primaryPosition(): Promise<bigint | undefined> {
    const { rows } = (await this.primary.raw('select pg_current_wal_lsn()::text as lsn')) as { rows: { lsn: string }[] }
    return parseWalPosition(rows[0]!.lsn)
  }

  private async checkReplica(replica: Replica, primary: bigint | undefined): Promise<void> {
    const sent = Date.now()
    let state: StandbyState
    try {
      const { rows } = (await within(replica.knex.raw(STANDBY_STATE), Math.max(this.checkEveryMs, 1000))) as { rows: StandbyState[] }
      state = rows[0]!
    } catch (error) {
      if (isConnectionFailure(error)) return this.set(replica, false, 'it cannot be reached', error)
      // No answer in time (its pool busy with reads, say) leaves its state as it was: a
      // state not refreshed for `checkEveryMs` + 1 s serves no reads anyway.
      if (error instanceof CheckTimedOut) return
      return this.set(replica, false, 'its check failed', error)
    }
    if (!state.standby) return this.set(replica, false, 'misconfigured: it is not a standby (pg_is_in_recovery() is false); replicas must be streaming replicas of the primary')
    if (this.connectionTimeout && (state.statement_timeout === '0' || state.statement_timeout === '')) {
      return this.set(replica, false, "misconfigured: statementTimeout: 'connection' needs statement_timeout set on its pg connection too (knex connection option, or the role's setting)")
    }
    const replayed = state.replayed === null ? undefined : parseWalPosition(state.replayed)
    if (replayed === undefined) return this.set(replica, false, 'it has replayed nothing yet')
    replica.replayed = replayed
    replica.checkedAt = sent
    // Caught up with the primary's position read just before; or, where that could not be
    // read, with all it has received while it is receiving from the primary.
    const caughtUp = primary !== undefined ? replayed >= primary : state.receiver === 'streaming' && state.received === state.replayed
    const sinceReplay = state.since_replay_ms === null ? Number.POSITIVE_INFINITY : Number(state.since_replay_ms)
    const lagMs = caughtUp ? 0 : sinceReplay
    if (lagMs > this.maxLagMs) return this.set(replica, false, `it is more than ${this.maxLagMs} ms behind the primary (replication.maxLagMs)`)
    this.set(replica, true, '')
  }

  /** Records a replica's state, logging when it stops or starts serving reads. */
  private set(replica: Replica, serving: boolean, why: string, error?: unknown): void {
    const was = replica.serving
    const first = replica.why === 'not checked yet'
    replica.serving = serving
    replica.why = why
    if (!first && was === serving) return
    if (!serving) {
      this.logger.error(`async-orm executor: ${replica.name} serves no reads: ${why}`, { replica: replica.name, ...(error !== undefined && { error }) })
    } else if (!first) {
      const log = this.logger.info ? this.logger.info.bind(this.logger) : this.logger.error.bind(this.logger)
      log(`async-orm executor: ${replica.name} serves reads again`, { replica: replica.name })
    }
  }
}

function positive(value: number, name: string): number {
  if (!Number.isFinite(value) || value <= 0) throw new TypeError(`${name} must be a positive number of milliseconds`)
  return value
}

/** What `within` rejects with when its time passes. */
class CheckTimedOut extends Error {}

/** `promise`, or a rejection once `ms` have passed (the timer does not keep the process alive). */
function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new CheckTimedOut(`no answer within ${ms} ms`)), ms)
    ;(timer as { unref?: () => void }).unref?.()
    promise.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (error: unknown) => {
        clearTimeout(timer)
        reject(error)
      },
    )
  })
}

/** The cluster's system identifier (`pg_control_system()`), or undefined where it cannot be read. */
async function systemIdentifier(knex: Knex): Promise<string | undefined> {
  try {
    const { rows } = (await within(knex.raw('select system_identifier::text as id from pg_control_system()'), 5000)) as { rows: { id: string }[] }
    return rows[0]?.id
  } catch {
    return undefined
  }
}

/**
 * A read that failed for where it ran, not for what it asks: another database may serve
 * it. UNAVAILABLE: no free connection in `acquireTimeoutMs`; KnexTimeoutError: nor in
 * knex's own `acquireConnectionTimeout`.
 */
function unreachable(error: unknown): boolean {
  return isConnectionFailure(error) || (error instanceof ExecutorError && error.code === 'UNAVAILABLE') || (error as { name?: unknown } | null)?.name === 'KnexTimeoutError'
}
