/**
 * Runs one request's checked queries, in request order, in one database session: one
 * transaction with a `statement_timeout`, a time budget for the whole request, and the
 * answer's row and byte budget shared by every query.
 */
import type { WireError } from '../../shared/error-codes.js'
import type { QueryResult, ResponseBody } from '../../shared/wire.js'
import { DbSession } from '../session/db-session.js'
import type { TypeOverrides } from '../session/read-types.js'
import type { Limits } from '../limits.js'
import { isConnectionFailure } from '../outage.js'
import { ResultBudget } from '../session/result-budget.js'
import { RequestScope } from '../session/request-scope.js'
import { pointReadKey, runPointReads, runRead } from './run-read.js'
import { isOneStatement, ownStatementsOnly, runCall, runDelete, runInsert, runUpdate } from './run-write.js'
import { insertInto, runRelate } from './run-relate.js'
import { assertNever } from '../session/sql.js'
import { parseWalPosition } from '../route/wal-position.js'
import { NotReplayed, type ReadPlace } from '../route/replicas.js'
import type { CheckedRead, RelatedFilter } from '../validate/validate-query.js'
import type { CheckedQuery } from '../validate/validate-write.js'

export type Checked = CheckedQuery | WireError

export interface Batch {
  readonly ctx: unknown
  readonly roles: readonly string[]
  readonly queries: readonly Checked[]
  readonly atomic: boolean
  /** Results already known (a replay's saved write results): those queries do not run. */
  readonly saved?: ReadonlyMap<number, QueryResult>
  /** `finish` saves the answer in the request's transaction (the idempotency store). */
  readonly keepsAnswer?: boolean
}

/** Where and how a request's queries run; `knex` and `replayedPast` say where (see `ReadPlace`). */
export interface BatchEnvironment extends ReadPlace {
  readonly limits: Limits
  /** The connection sets `statement_timeout` (`statementTimeout: 'connection'`). */
  readonly connectionTimeout: boolean
  /** Turns a thrown value into this request's wire error (logging what must be logged). */
  readonly report: (error: unknown) => WireError
  /** The request's signal (aborted when the client hangs up), read only if the request runs long. */
  readonly signal?: () => AbortSignal
  /** The app's parsers for types pg leaves as text. */
  readonly types?: TypeOverrides
  /**
   * Wants the primary's WAL position once a request's writes are committed (read
   * replicas): called with it, or with undefined where the session could not read it.
   */
  readonly committedAt?: (position: string | undefined) => void
}

/**
 * With `env.replayedPast`: reads the replica's replay position as the session's first
 * statement, and refuses the session (`NotReplayed`) if it is short of the position.
 */
export async function assertReplayed(session: DbSession, env: BatchEnvironment): Promise<void> {
  if (!env.replayedPast) return
  const [row] = await session.rows({ text: 'select pg_catalog.pg_last_wal_replay_lsn()::text as replayed', values: [] })
  const replayed = typeof row?.replayed === 'string' ? parseWalPosition(row.replayed) : undefined
  if (replayed !== undefined) env.replayedPast.seen(replayed)
  if (replayed === undefined || replayed < env.replayedPast.position) throw new NotReplayed('the replica has not replayed as far as the read must see')
}


/**
 * Turns the answer into what is sent, inside the request's transaction (so a refusal,
 * or a failure to save the answer, rolls its writes back).
 */
export type Finish = (answer: ResponseBody, session: DbSession | undefined) => Promise<string>

export function isWireError(value: Checked): value is WireError {
  return 'code' in value
}

/** Whether the query changes data (or may: procedures). */
export function writes(query: Checked): boolean {
  return !isWireError(query) && query.kind !== 'read'
}

/**
 * Atomic requests stop at the first failure and roll back. Otherwise a failure undoes
 * only its own query: reads restart their read-only transaction, and in a request that
 * writes each query runs under a savepoint (one query alone needs none: its failure rolls
 * the transaction back). A request that runs out of time, or whose client hangs up, fails
 * as a whole and commits nothing. Where the connection sets `statement_timeout`, a request
 * whose only query is a write that is all-or-nothing as one statement (`isOneStatement`)
 * runs it with no transaction around it: one round trip instead of two. Such a write is
 * applied when its statement ends, so its answer stands even if the request stopped
 * meanwhile.
 */
export async function runBatch(batch: Batch, env: BatchEnvironment, finish: Finish): Promise<string> {
  const { queries, atomic, saved } = batch
  const { limits, report } = env
  const invalid = queries.findIndex(isWireError)
  if (atomic && invalid !== -1) return finish(rolledBack(queries.length, invalid, queries[invalid] as WireError), undefined)
  const pending = queries.filter((query, index) => !isWireError(query) && !saved?.has(index))
  if (pending.length === 0) return finish({ results: queries.map((query, index) => known(query, index, saved)) }, undefined)
  const writing = pending.some(writes)
  const alone = pending.length === 1 && !batch.keepsAnswer
  const session = await DbSession.start(env.knex, {
    readOnly: !writing,
    single: !atomic,
    // Only a request of that one query: other queries' answers (errors) could still
    // take the answer past its budget after the write.
    oneStatement: alone && queries.length === 1 && writing && isOneStatement(pending[0] as CheckedQuery),
    ownStatements: writing && pending.every((query) => ownStatementsOnly(query as CheckedQuery)),
    connectionTimeout: env.connectionTimeout,
    statementTimeoutMs: limits.statementTimeoutMs,
    acquireTimeoutMs: limits.acquireTimeoutMs,
    transactionTimeoutMs: limits.transactionTimeoutMs,
    ...(env.signal && { signal: env.signal }),
    ...(env.types && { types: env.types }),
    ...(env.committedAt && writing && { readsPosition: true }),
  })
  const scope = new RequestScope(env.knex, batch.ctx, batch.roles, new ResultBudget(limits.maxResultRows, limits.maxResponseBytes), env.types)
  let commit = true
  try {
    await assertReplayed(session, env)
    const results: QueryResult[] = []
    const coalesced = writing || pending.length < 2 ? NOTHING_COALESCED : await coalescePointReads(session, queries, scope)
    for (const [index, query] of queries.entries()) {
      const done = isWireError(query) || saved?.has(index) ? known(query, index, saved) : undefined
      if (done) {
        if ('data' in done) scope.results[index] = done.data
        results.push(done)
        continue
      }
      const checked = query as CheckedQuery
      if (coalesced.has(index)) {
        results.push({ data: coalesced.get(index) })
        continue
      }
      const mark = scope.budget.mark()
      const run = () => runQuery(session, checked, scope, limits)
      try {
        const data = atomic || !writing || alone ? await run() : await session.isolated(run)
        scope.results[index] = data
        results.push({ data })
      } catch (error) {
        if (session.stopped) throw session.stopped
        if (isConnectionFailure(error)) {
          // A write with no transaction around it may have been applied before the
          // connection was lost: its outcome is unknown, not "nothing applied".
          if (session.appliesAsItRuns && !NEVER_SENT.test(String((error as { message?: unknown }).message))) {
            throw new CommitOutcomeUnknown('the connection failed while a write ran on its own', { cause: error })
          }
          // A lost connection fails the whole request (503, which clients retry).
          throw error
        }
        scope.budget.reset(mark)
        const wire = report(error)
        if (atomic) {
          commit = false
          return await finish(rolledBack(queries.length, index, wire), session)
        }
        results.push({ error: wire })
        // Alone, the failed write leaves nothing to keep: its transaction is rolled back.
        if (writing && alone) commit = false
        if (!writing) await session.restart()
      }
    }
    return await finish({ results }, session)
  } catch (error) {
    commit = false
    throw error
  } finally {
    await end(session, commit, writing)
    if (commit && writing) env.committedAt?.(session.position)
  }
}

/** pg refuses a statement on a connection it knows is broken, before sending anything. */
const NEVER_SENT = /(?:^| - )Client (?:has encountered a connection error|was closed) and is not queryable$/

/**
 * The request's writes were sent to COMMIT and the connection failed before its answer:
 * they may or may not have been applied.
 */
export class CommitOutcomeUnknown extends Error {}

async function end(session: DbSession, commit: boolean, writing: boolean): Promise<void> {
  try {
    await session.end(commit)
  } catch (error) {
    if (commit && writing && isConnectionFailure(error)) throw new CommitOutcomeUnknown('the connection failed during COMMIT', { cause: error })
    throw error
  }
}

function known(query: Checked, index: number, saved: ReadonlyMap<number, QueryResult> | undefined): QueryResult {
  if (isWireError(query)) return { error: query }
  return saved!.get(index)!
}

const NOTHING_COALESCED: ReadonlyMap<number, unknown> = new Map()

/**
 * In a read-only request, point reads of the same model and columns run as one
 * `where id in (…)` query (DataLoader-style), so twenty `findById`s cost one statement.
 */
async function coalescePointReads(
  session: DbSession,
  queries: readonly Checked[],
  scope: RequestScope,
): Promise<Map<number, unknown>> {
  const groups = new Map<string, { indices: number[]; ids: unknown[] }>()
  queries.forEach((query, index) => {
    if (isWireError(query) || query.kind !== 'read') return
    const key = pointReadKey(query)
    if (!key) return
    const group = groups.get(key.group) ?? { indices: [], ids: [] }
    group.indices.push(index)
    group.ids.push(key.id)
    groups.set(key.group, group)
  })
  const outcomes = new Map<number, unknown>()
  for (const { indices, ids } of groups.values()) {
    if (indices.length < 2) continue
    const mark = scope.budget.mark()
    try {
      const rows = await runPointReads(session, indices.map((i) => queries[i] as CheckedRead), ids, scope)
      indices.forEach((index, k) => outcomes.set(index, rows[k]))
    } catch (error) {
      if (session.stopped) throw session.stopped
      if (isConnectionFailure(error)) throw error
      // One bad id (out of range, malformed) must fail only its own query: the group's
      // reads run again one by one.
      scope.budget.reset(mark)
      await session.restart()
    }
  }
  for (const [index, outcome] of outcomes) scope.results[index] = outcome
  return outcomes
}

function runQuery(session: DbSession, query: CheckedQuery, scope: RequestScope, limits: Limits): Promise<unknown> {
  switch (query.kind) {
    case 'read':
      return runRead(session, query, scope, limits)
    case 'insert':
      return query.for ? insertInto(session, query as typeof query & { for: RelatedFilter }, scope) : runInsert(session, query, scope)
    case 'update':
      return runUpdate(session, query, scope)
    case 'delete':
      return runDelete(session, query, scope)
    case 'relate':
      return runRelate(session, query, scope)
    case 'call':
      return runCall(session, query, scope)
    default:
      return assertNever(query)
  }
}

/** An atomic request's answer when query `failed` failed: it says why, the others that nothing was applied. */
function rolledBack(count: number, failed: number, error: WireError): ResponseBody {
  const results = Array.from({ length: count }, (_, i): QueryResult =>
    i === failed ? { error } : { error: { code: error.code, message: `not applied: query ${failed} of the transaction failed` } },
  )
  return { results, failed }
}
