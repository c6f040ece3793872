/**
 * One database transaction for the length of a request, with `statement_timeout` set by
 * `SET LOCAL` inside it. Read-only requests hold a pooled connection and send `BEGIN`
 * and `SET LOCAL` in one round trip; requests that write or call procedures use a knex
 * transaction, which procedures receive as `trx`.
 *
 * Rows come back with int8 columns as bigints, never through global pg type parsers
 * (which would change every other query of the application): reads sent straight to the
 * connection carry per-query parsers (`read-types.ts`); statements run through knex are
 * converted afterwards, by each result's field types.
 *
 * A session also bounds how long the request holds its connection (`transactionTimeoutMs`)
 * and follows the request's `AbortSignal` (the client hung up): when either fires, the
 * statement running on the connection is cancelled (PostgreSQL's cancel request, on a
 * connection of its own, so it needs no pool slot) and no further statement starts.
 */
import type { Knex } from 'knex'
import pg from 'pg'
import { ExecutorError } from '../executor-error.js'
import { readTypes, type TypeOverrides, type TypeParsers } from './read-types.js'
import { rowMeasure, tooManyBytes } from './result-budget.js'
import { Params, type Statement } from './sql.js'

export type Row = Record<string, unknown>

interface PgResult {
  readonly rows: Row[]
  /** Rows a write changed. */
  readonly rowCount?: number | null
  readonly fields: readonly { readonly name: string; readonly dataTypeID: number }[]
  /** Each row's size in the answer, when they were measured as they arrived. */
  readonly sizes?: number[]
}

/** Rows and each one's size in the answer (see `result-budget.ts`). */
export interface MeasuredRows {
  readonly rows: Row[]
  readonly sizes: readonly number[]
}

/** knex's pool methods, public on its client though absent from its typings. */
interface PoolClient {
  acquireConnection(): Promise<unknown>
  releaseConnection(connection: unknown): Promise<void>
}

/** How long a session runs before it follows its request's signal. */
const FOLLOW_AFTER_MS = 50

const INT8 = 20
const INT8_ARRAY = 1016

export interface SessionOptions {
  readonly readOnly: boolean
  readonly single: boolean
  /** The request is one write that is all-or-nothing as one statement. */
  readonly oneStatement?: boolean
  /**
   * Every statement of the request is the executor's own (reads, and writes written as SQL
   * from the checked query): its transaction needs no knex transaction object.
   */
  readonly ownStatements?: boolean
  readonly connectionTimeout: boolean
  readonly statementTimeoutMs: number
  readonly acquireTimeoutMs: number
  /** How long the session may hold its connection, from the moment it has one. */
  readonly transactionTimeoutMs: number
  /** The request's signal, aborted when the client gives up (hangs up): the session stops. */
  readonly signal?: () => AbortSignal
  /** The app's parsers for types pg leaves as text (`types` option). */
  readonly types?: TypeOverrides
  /**
   * Read the primary's WAL position once the writes are committed (`position`), on the
   * session's own connection: with `COMMIT`, in its round trip, where the session holds a
   * transaction (read replicas).
   */
  readonly readsPosition?: boolean
}

/** Sent in place of `COMMIT` when the position after it is wanted: one round trip for both. */
const COMMIT_AND_POSITION = 'COMMIT;select pg_catalog.pg_current_wal_insert_lsn()::text as lsn;'

/** Where a session keeps the WAL position its commit reached (`readsPosition`). */
interface Committed {
  position: string | undefined
}

export abstract class DbSession {
  /** Builds queries that run in this session's transaction (via `rows`/`run`). */
  abstract readonly knex: Knex
  /** The pg connection the session holds (for cancelling its statement). */
  protected abstract readonly pgConnection: PgConnection
  /**
   * Why the session stopped (its time ran out, or its client hung up), once it has:
   * every later statement fails with it, and the request must not commit.
   */
  stopped: ExecutorError | undefined
  /** The app's parsers for types pg leaves as text, applied to every read. */
  types: TypeOverrides | undefined
  /**
   * With `readsPosition`, once the session has committed: the primary's WAL position
   * after the commit (`pg_lsn` text); undefined where it could not be read so.
   */
  get position(): string | undefined {
    return this.committed.position
  }
  /** Filled by the commit, when the session reads its position. */
  protected committed: Committed = { position: undefined }
  /** Whether the session reads the position after its commit (`readsPosition`). */
  protected readsPosition = false
  private timer: Deadline | undefined
  private unwatch: (() => void) | undefined

  /** Runs a builder in the transaction and returns knex's answer for it. */
  run<T>(query: Knex.QueryBuilder | Knex.Raw): Promise<T> {
    return this.guard(() => this.runOnConnection<T>(query))
  }

  protected abstract runOnConnection<T>(query: Knex.QueryBuilder | Knex.Raw): Promise<T>
  /** After a failed statement: roll back and begin a new transaction (read-only sessions). */
  abstract restart(): Promise<void>
  /** Ends the transaction (`commit` or roll back) and gives the connection back. */
  abstract end(commit: boolean): Promise<void>

  /**
   * With `connectionTimeout` the connection sets `statement_timeout` already: read-only
   * requests that need no snapshot across queries (`single`), and requests of one write
   * that is one statement (`oneStatement`), run with no transaction around them; the
   * others skip `SET LOCAL`.
   */
  static async start(knex: Knex, options: SessionOptions): Promise<DbSession> {
    // The timeout comes from validated configuration (a positive integer), never a client.
    const timeout = options.connectionTimeout ? undefined : Math.trunc(options.statementTimeoutMs)
    const plain = options.connectionTimeout && (options.readOnly ? options.single : options.oneStatement === true)
    const committed: Committed = { position: undefined }
    const position = options.readsPosition && !options.readOnly ? committed : undefined
    const opening = plain
      ? PlainSession.open(knex, !options.readOnly)
      : options.readOnly
        ? ReadOnlySession.open(knex, timeout)
        : options.ownStatements
          ? OwnWriteSession.open(knex, timeout, position)
          : WriteSession.open(knex, timeout, position)
    const session = await withinTime(opening, options.acquireTimeoutMs)
    session.types = options.types
    session.committed = committed
    session.readsPosition = position !== undefined
    session.watch(options.transactionTimeoutMs, options.signal)
    return session
  }

  /**
   * Stops the session at its deadline, or when its client hangs up. The request's signal
   * is looked at only once the session has run for `FOLLOW_AFTER_MS`: most requests end
   * sooner, and making a signal costs them (hono builds it on first use).
   */
  private watch(ms: number, signal: (() => AbortSignal) | undefined): void {
    const deadline = Date.now() + ms
    const outOfTime = () => this.stop(new ExecutorError('TIMEOUT', `the request ran out of time: it may hold the database for ${ms} ms (transactionTimeoutMs)`))
    const follow = () => {
      const aborted = signal?.()
      if (aborted) {
        const onAbort = () => this.stop(new ExecutorError('TIMEOUT', 'the client gave up on the request'))
        if (aborted.aborted) return onAbort()
        aborted.addEventListener('abort', onAbort, { once: true })
        this.unwatch = () => aborted.removeEventListener('abort', onAbort)
      }
      this.timer = DEADLINES.add(deadline, outOfTime)
    }
    this.timer = DEADLINES.add(Date.now() + Math.min(ms, FOLLOW_AFTER_MS), follow)
  }

  /** Stops the session: cancels the statement running on its connection, refuses the next. */
  stop(reason: ExecutorError): void {
    // Once ended, the connection may be another request's: never cancel what runs there.
    if (this.stopped || this.ended) return
    this.stopped = reason
    this.cancelSent = cancelActiveStatement(this.pgConnection)
    this.onStop?.(reason)
  }

  /** Called once when the session stops (its time ran out, its client hung up, or `stop`). */
  onStop: ((reason: ExecutorError) => void) | undefined

  /**
   * Whether a cancel request was sent for this session's connection. It may arrive after
   * its statement has ended and cancel whatever runs there next, so the connection is
   * closed, never given back to the pool.
   */
  protected cancelSent = false

  /** The session has ended (or is ending): its connection is going back to the pool. */
  protected ended = false

  /** Clears the session's timer and signal listener, as it ends: nothing may stop it after. */
  protected unwatchAll(): void {
    this.ended = true
    if (this.timer) DEADLINES.delete(this.timer)
    this.unwatch?.()
  }

  /**
   * Runs one statement unless the session has stopped; a statement that fails because
   * the session stopped while it ran fails with the reason.
   */
  protected async guard<T>(statement: () => Promise<T>): Promise<T> {
    if (this.stopped) throw this.stopped
    let result: T
    try {
      result = await statement()
    } catch (error) {
      throw this.stopped ?? error
    }
    // Stopped while it ran, though it finished first: its answer is not used, unless what
    // ran is already committed (a write with no transaction around it).
    if (this.stopped && !this.committedAsItRuns) throw this.stopped
    return result
  }

  /** Statements take effect as they end (no transaction): a finished one's answer stands. */
  protected committedAsItRuns = false

  /** A write in this session takes effect as its statement runs (no transaction around it). */
  get appliesAsItRuns(): boolean {
    return this.committedAsItRuns
  }

  /** Stops the request because what it reads is more than its answer may hold. */
  protected overBudget(maxBytes: number): void {
    this.stop(tooManyBytes(maxBytes))
  }

  /** Parameters for a statement `rows` will run (pg's placeholders, or knex's in a knex transaction). */
  params(): Params {
    return new Params('knex')
  }

  /** Runs a select and returns the raw pg result for it (rows and field types). */
  protected select(statement: Statement): Promise<PgResult> {
    return this.run<PgResult>(this.knex.raw(statement.text, statement.values as Knex.RawBinding[]))
  }

  /** Runs a write written with this session's `params()` that returns no rows; the rows it changed. */
  async affected(statement: Statement): Promise<number> {
    return (await this.select(statement)).rowCount ?? 0
  }

  /** Runs a select written with this session's `params()`; its rows, int8 columns as bigints. */
  async rows(statement: Statement): Promise<Row[]> {
    const result = await this.select(statement)
    const int8 = result.fields.filter((f) => f.dataTypeID === INT8).map((f) => f.name)
    const int8Arrays = result.fields.filter((f) => f.dataTypeID === INT8_ARRAY).map((f) => f.name)
    const own = this.types ? result.fields.filter((f) => this.types!.byOid.has(f.dataTypeID)) : []
    for (const field of own) {
      const parse = this.types!.byOid.get(field.dataTypeID)!
      for (const row of result.rows) {
        const value = row[field.name]
        if (typeof value === 'string') row[field.name] = parse(value)
      }
    }
    if (int8.length === 0 && int8Arrays.length === 0) return result.rows
    for (const row of result.rows) {
      for (const name of int8) row[name] = toBigInt(row[name])
      for (const name of int8Arrays) {
        const value = row[name]
        if (Array.isArray(value)) row[name] = value.map(toBigInt)
      }
    }
    return result.rows
  }

  /**
   * `rows()` with each row's size in the answer. A session that reads rows as they arrive
   * stops the request (`LIMIT_EXCEEDED`) as soon as they pass `maxBytes`, before the rest
   * is read; others measure them once they are in (the answer's budget refuses them then).
   */
  async measuredRows(statement: Statement, _maxBytes: number): Promise<MeasuredRows> {
    const rows = await this.rows(statement)
    const measure = rowMeasure()
    return { rows, sizes: rows.map(measure) }
  }

  /** Runs `work` so that a failure undoes only what it did (a savepoint). */
  async isolated<T>(work: () => Promise<T>): Promise<T> {
    await this.run(this.knex.raw('savepoint async_orm_query'))
    try {
      const result = await work()
      await this.run(this.knex.raw('release savepoint async_orm_query'))
      return result
    } catch (error) {
      await this.run(this.knex.raw('rollback to savepoint async_orm_query'))
      throw error
    }
  }
}

/**
 * Sends a select straight to the session's pg connection, past knex's runner (which
 * would parse the text again for placeholders and post-process the answer). The `query`
 * event that knex's runner emits is emitted the same way, so query logs and spies see it.
 * pg's callback form, not its promise form: under load the promise form kept large
 * results alive into the old generation (about 3 MB promoted per young collection
 * against 0.35 MB; a 1,000-row read cost 25% more CPU).
 */
function selectOn(knex: Knex, connection: PgConnection, statement: Statement, limit?: RowBytes, overrides?: TypeOverrides): Promise<PgResult> {
  const { text, values } = statement
  const client = knex.client as unknown as NodeJS.EventEmitter
  if (client.listenerCount('query') > 0) {
    client.emit('query', { __knexUid: connection.__knexUid, __knexTxId: connection.__knexTxId, method: methodOf(text), sql: text, bindings: values })
  }
  return new Promise((resolve, reject) => {
    const config = { text, values, types: readTypes(connection, overrides) }
    if (!limit) {
      connection.query(config, (error, result) => (error ? reject(error) : resolve(result)))
      return
    }
    // Rows as they arrive, kept only while they fit: past the limit none is kept, and the
    // statement is cancelled (by `over`) instead of read to its end.
    const query = new pg.Query(config as unknown as pg.QueryConfig)
    const rows: Row[] = []
    const sizes: number[] = []
    const measure = rowMeasure()
    let bytes = 0
    query.on('row', (row: Row) => {
      if (bytes > limit.maxBytes) return
      const size = measure(row)
      bytes += size
      if (bytes > limit.maxBytes) {
        rows.length = 0
        limit.over()
      } else {
        rows.push(row)
        sizes.push(size)
      }
    })
    query.once('error', reject)
    query.once('end', (result: PgResult) => resolve({ rows, fields: result.fields, sizes }))
    connection.query(query)
  })
}

/** The method knex names a statement by in its `query` event (`del` for a delete, as knex does). */
function methodOf(text: string): string {
  const verb = /^\s*(\w+)/.exec(text)?.[1]?.toLowerCase()
  return verb === 'delete' ? 'del' : verb === 'insert' || verb === 'update' || verb === 'select' ? verb : 'raw'
}

/** The bytes a select's rows may take, and what to do when they pass them. */
interface RowBytes {
  readonly maxBytes: number
  over(): void
}

/** pg's protocol connection, as a cancel request uses it. */
interface CancelConnection {
  on(event: 'error' | 'connect', listener: () => void): void
  connect(portOrPath: number | string | undefined, host?: string): void
  cancel(processID: number, secretKey: number): void
}

/** A pooled node-postgres client as knex hands it out. */
interface PgConnection extends Partial<TypeParsers> {
  readonly __knexUid?: string
  readonly __knexTxId?: string
  /** Set by knex when the connection must not go back to the pool. */
  __knex__disposed?: unknown
  /** The backend's cancel key (absent on connections that cannot be cancelled, such as PGlite's). */
  readonly processID?: number | null
  readonly secretKey?: number | null
  readonly host?: string
  readonly port?: number
  _getActiveQuery?(): unknown
  readonly connectionParameters?: object
  query(config: { text: string; values: readonly unknown[]; types: TypeParsers }, callback: (error: Error | null, result: PgResult) => void): void
  /** Submits a query object whose events report its rows (pg's `Submittable`). */
  query(query: pg.Query): void
}

/** A session on one pooled connection it holds itself: selects go straight to that connection. */
abstract class PooledSession extends DbSession {
  protected constructor(
    readonly knex: Knex,
    protected readonly connection: PgConnection,
  ) {
    super()
  }

  protected get pgConnection(): PgConnection {
    return this.connection
  }

  override params(): Params {
    return new Params('pg')
  }

  protected override select(statement: Statement): Promise<PgResult> {
    return this.guard(() => selectOn(this.knex, this.connection, statement, undefined, this.types))
  }

  /** The per-query parsers have made int8 values bigints already. */
  override async rows(statement: Statement): Promise<Row[]> {
    return (await this.select(statement)).rows
  }

  override async measuredRows(statement: Statement, maxBytes: number): Promise<MeasuredRows> {
    const limit = { maxBytes, over: () => this.overBudget(maxBytes) }
    const { rows, sizes } = await this.guard(() => selectOn(this.knex, this.connection, statement, limit, this.types))
    return { rows, sizes: sizes! }
  }

  protected runOnConnection<T>(query: Knex.QueryBuilder | Knex.Raw): Promise<T> {
    return query.connection(this.connection) as unknown as Promise<T>
  }

  /**
   * Gives the connection back to the pool; after a cancelled statement, a connection
   * whose state is in doubt is closed instead.
   */
  protected release(healthy = true): Promise<void> {
    this.unwatchAll()
    if (!healthy || this.cancelSent) this.connection.__knex__disposed = 'async-orm: the request stopped while this connection was busy'
    return (this.knex.client as unknown as PoolClient).releaseConnection(this.connection)
  }
}

class ReadOnlySession extends PooledSession {
  private open = false

  private constructor(
    knex: Knex,
    connection: PgConnection,
    private readonly begin: string,
  ) {
    super(knex, connection)
  }

  static async open(knex: Knex, timeout: number | undefined): Promise<DbSession> {
    const pool = knex.client as unknown as PoolClient
    const connection = (await pool.acquireConnection()) as PgConnection
    const begin = timeout === undefined ? 'begin transaction read only' : `begin transaction read only; set local statement_timeout = ${timeout}`
    const session = new ReadOnlySession(knex, connection, begin)
    try {
      await session.beginTransaction()
    } catch (error) {
      await pool.releaseConnection(connection)
      throw error
    }
    return session
  }

  private async beginTransaction(): Promise<void> {
    await this.run(this.knex.raw(this.begin))
    this.open = true
  }

  async restart(): Promise<void> {
    this.open = false
    await this.run(this.knex.raw('rollback'))
    await this.beginTransaction()
  }

  async end(commit: boolean): Promise<void> {
    let healthy = true
    try {
      if (this.open) {
        if (this.stopped) {
          // The session stopped: end its transaction whatever the outcome asked for.
          await this.runOnConnection(this.knex.raw('rollback')).catch(() => (healthy = false))
        } else await this.run(this.knex.raw(commit ? 'commit' : 'rollback'))
      }
    } finally {
      this.open = false
      await this.release(healthy)
    }
  }
}

/**
 * Statements with no transaction around them (the connection sets `statement_timeout`):
 * reads, or one write that is all-or-nothing on its own.
 */
class PlainSession extends PooledSession {
  static async open(knex: Knex, writes: boolean): Promise<DbSession> {
    const session = new PlainSession(knex, (await (knex.client as unknown as PoolClient).acquireConnection()) as PgConnection)
    session.committedAsItRuns = writes
    return session
  }

  async restart(): Promise<void> {}

  async end(commit: boolean): Promise<void> {
    // The write took effect as it ran: its position is read on the same connection.
    if (commit && this.readsPosition && this.committedAsItRuns && this.stopped === undefined) {
      try {
        const result = await selectOn(this.knex, this.connection, { text: 'select pg_catalog.pg_current_wal_insert_lsn()::text as lsn', values: [] }, undefined, undefined)
        this.committed.position = (result.rows[0] as { lsn?: string } | undefined)?.lsn
      } catch {
        // Left undefined: the executor reads it through the pool instead.
      }
    }
    // A cancel request can arrive after its statement ended; a stopped session's
    // connection is not reused.
    await this.release(this.stopped === undefined)
  }
}

/**
 * A transaction that writes, on a pooled connection the session holds, for a request whose
 * every statement is the executor's own (no model query builder, no procedure): `BEGIN`
 * (and `SET LOCAL`) travel with the first statement as in `WriteSession`, without the
 * knex transaction object (a knex instance per transaction, about 130 µs of CPU).
 * Statements go straight to the connection (`rows`) or through knex bound to it (`run`).
 */
class OwnWriteSession extends PooledSession {
  private open = true

  private constructor(
    knex: Knex,
    connection: PgConnection,
    /** Gives the connection its own `query` back (see `deferBegin`). */
    private readonly undefer: () => void,
  ) {
    super(knex, connection)
  }

  static async open(knex: Knex, timeout: number | undefined, committed?: Committed): Promise<DbSession> {
    const pool = knex.client as unknown as PoolClient
    const connection = (await pool.acquireConnection()) as PgConnection
    const setLocal = timeout === undefined ? [] : [`set local statement_timeout = ${timeout}`]
    if (!(connection instanceof pg.Client)) {
      await pool.releaseConnection(connection)
      return WriteSession.open(knex, timeout, committed)
    }
    const undefer = deferBegin(connection, setLocal, committed)
    // What knex sends to begin: held until the first statement (see `deferBegin`).
    await send(knex, connection, 'BEGIN;')
    return new OwnWriteSession(knex, connection, undefer)
  }

  async restart(): Promise<void> {
    throw new TypeError('a write session isolates each query with a savepoint instead')
  }

  async end(commit: boolean): Promise<void> {
    this.unwatchAll()
    let healthy = true
    try {
      if (this.open) {
        this.open = false
        if (this.stopped) await send(this.knex, this.connection, 'ROLLBACK;').catch(() => (healthy = false))
        else await this.guard(() => send(this.knex, this.connection, commit ? 'COMMIT;' : 'ROLLBACK;'))
      }
    } catch (error) {
      healthy = false
      throw error
    } finally {
      this.undefer()
      await this.release(healthy)
    }
  }
}

/**
 * Sends a statement without parameters as knex does (`deferBegin` knows its form), with
 * the `query` event knex would emit for it, as `selectOn` does.
 */
function send(knex: Knex, connection: PgConnection, text: string): Promise<unknown> {
  const client = knex.client as unknown as NodeJS.EventEmitter
  if (client.listenerCount('query') > 0) client.emit('query', { __knexUid: connection.__knexUid, method: 'raw', sql: text, bindings: [] })
  return new Promise((resolve, reject) =>
    (connection as unknown as { query(config: object, callback: QueryCallback): void }).query({ text, values: [] }, (error, result) => (error ? reject(error) : resolve(result))),
  )
}

class WriteSession extends DbSession {
  private constructor(
    readonly knex: Knex.Transaction,
    protected readonly pgConnection: PgConnection,
    /** Gives the connection its own `query` back (see `deferBegin`). */
    private readonly undefer: (() => void) | undefined,
    /** The pool the session took its connection from (the transaction's client keeps it). */
    private readonly pool: PoolClient,
  ) {
    super()
  }

  /**
   * `timeout` undefined: the connection sets `statement_timeout` already. On a pg
   * connection, `BEGIN` (and `SET LOCAL`) travel with the first statement.
   */
  static async open(knex: Knex, timeout: number | undefined, committed?: Committed): Promise<DbSession> {
    const pool = knex.client as unknown as PoolClient
    const connection = (await pool.acquireConnection()) as PgConnection
    const setLocal = timeout === undefined ? [] : [`set local statement_timeout = ${timeout}`]
    const undefer = connection instanceof pg.Client ? deferBegin(connection, setLocal, committed) : undefined
    let trx: Knex.Transaction | undefined
    try {
      trx = await knex.transaction({ connection })
      // A BEGIN that failed leaves the transaction completed: its promise holds the reason.
      if (trx.isCompleted()) await trx.executionPromise
      if (!undefer && setLocal.length > 0) await trx.raw(setLocal[0]!)
      return new WriteSession(trx, connection, undefer, pool)
    } catch (error) {
      await trx?.rollback().catch(() => undefined)
      undefer?.()
      await pool.releaseConnection(connection)
      throw error
    }
  }

  protected runOnConnection<T>(query: Knex.QueryBuilder | Knex.Raw): Promise<T> {
    return query as unknown as Promise<T>
  }

  async restart(): Promise<void> {
    throw new TypeError('a write session isolates each query with a savepoint instead')
  }

  async end(commit: boolean): Promise<void> {
    this.unwatchAll()
    try {
      await this.finishTransaction(commit)
    } finally {
      this.undefer?.()
      delete (this.pgConnection as { __knexTxId?: string }).__knexTxId
      // The session acquired the connection, so it gives it back (knex does not).
      await this.pool.releaseConnection(this.pgConnection)
    }
  }

  private async finishTransaction(commit: boolean): Promise<void> {
    if (this.knex.isCompleted()) {
      // A procedure ended the transaction itself: a COMMIT that PostgreSQL turned into
      // ROLLBACK (the transaction had been aborted) must not be answered as applied.
      if (commit) await this.knex.executionPromise.catch((error: unknown) => {
        if (error instanceof TransactionAborted) throw error
      })
      return
    }
    if (commit && !this.stopped) {
      await this.knex.commit()
      // knex's commit() resolves even when COMMIT failed; the transaction's promise says so.
      await this.knex.executionPromise
      return
    }
    if (this.cancelSent) this.pgConnection.__knex__disposed = 'async-orm: the request stopped while this connection was busy'
    try {
      await this.knex.rollback()
    } catch (error) {
      // A stopped session's transaction may be past saving; its connection is not reused.
      if (!this.stopped) throw error
      this.pgConnection.__knex__disposed = 'async-orm: the request stopped while this connection was busy'
    }
  }
}

/** A COMMIT that PostgreSQL turned into ROLLBACK: the transaction had been aborted. */
export class TransactionAborted extends Error {
  constructor() {
    super('the transaction was rolled back at COMMIT: a statement in it had failed (an error caught by application code), so nothing was applied')
  }
}

/** What a statement that was never sent answers: nothing, as pg would. */
const NOT_SENT = { command: null, rowCount: null, rows: [], fields: [] }

type QueryCallback = (error: Error | null, result: unknown) => void

/**
 * Holds a transaction's `BEGIN` back until its first statement, and sends it (with
 * `prefix`, such as `SET LOCAL`) in the same round trip when that statement is a plain
 * one with parameters, as knex sends them: one extended-protocol exchange with one Sync,
 * `BEGIN` executed before the statement is even parsed, so PostgreSQL answers all of them
 * at once. Anything else first gets `BEGIN` of its own (one simple-protocol text of
 * `BEGIN` and `prefix`): statements without parameters (a text of several statements, or
 * one that does not parse, must run inside the transaction), named or paged statements,
 * and whatever is sent to the connection past knex (a query object, a cursor, COPY). A
 * transaction that ends before any statement sends nothing. Returns what gives the
 * connection its own `query` back.
 */
function deferBegin(connection: pg.Client, prefix: readonly string[], committed?: Committed): () => void {
  const target = connection as unknown as { query: (...args: unknown[]) => unknown }
  const hadOwn = Object.prototype.hasOwnProperty.call(target, 'query')
  const own = target.query
  const begin = ['BEGIN', ...prefix].map((statement) => `${statement};`).join('')
  let held = false
  target.query = function (this: unknown, ...args: unknown[]) {
    const [config, callback] = args as [PlainQuery | undefined, QueryCallback | undefined]
    const knexForm = typeof callback === 'function' && isPlainQuery(config)
    if (!held) {
      if (knexForm && config.text === 'BEGIN;') {
        held = true
        queueMicrotask(() => callback(null, NOT_SENT))
        return undefined
      }
      if (knexForm && config.text === 'COMMIT;') {
        // PostgreSQL answers COMMIT of a transaction that an earlier statement aborted (an
        // error the app's code caught) with ROLLBACK, and no error: nothing was applied,
        // and the request must not be answered as if it had been.
        const ended = (error: Error | null, result: { command?: unknown } | undefined) => callback(!error && result?.command === 'ROLLBACK' ? new TransactionAborted() : error, result)
        if (!committed) return own.call(this, config, ended)
        return own.call(
          this,
          new CommitThenPosition((error, commit, position) => {
            if (!error) committed.position = position
            ended(error, commit)
          }),
        )
      }
      return own.apply(this, args)
    }
    held = false
    if (knexForm && /^(COMMIT|ROLLBACK);?$/.test(config.text)) {
      // Nothing ran: there is no transaction to end.
      queueMicrotask(() => callback(null, NOT_SENT))
      return undefined
    }
    if (knexForm && config.values.length > 0) return own.call(this, new AfterBegin(config, prefix, callback))
    // BEGIN on its own first; pg sends queries in the order they were made. If it fails
    // (a cancel that lands on it), the statements queued after it fail with its error
    // rather than run outside a transaction, and the connection is not reused.
    own.call(this, { text: begin }, (error: Error | null) => {
      if (!error) return
      const client = connection as unknown as PgConnection & { _errorAllQueries?(error: Error): void; connection?: { stream?: { destroy(error?: Error): void } } }
      client.__knex__disposed = 'async-orm: BEGIN failed on this connection'
      if (typeof client._errorAllQueries === 'function') client._errorAllQueries(error)
      else client.connection?.stream?.destroy(error)
    })
    return own.apply(this, args)
  }
  return () => {
    if (hadOwn) target.query = own
    else delete (target as { query?: unknown }).query
  }
}

/** A statement as knex's pg dialect sends it: text and values, nothing else. */
interface PlainQuery {
  readonly text: string
  readonly values: readonly unknown[]
}

function isPlainQuery(config: unknown): config is PlainQuery {
  if (typeof config !== 'object' || config === null || config instanceof pg.Query) return false
  // The executor's own statements carry their type parsers too.
  const { text, values, types, ...rest } = config as Partial<PlainQuery> & { types?: unknown }
  return typeof text === 'string' && Array.isArray(values) && (types === undefined || typeof types === 'object') && Object.keys(rest).length === 0
}

/**
 * `COMMIT` and then the WAL position it reached, in one simple-protocol message. A failure
 * after `COMMIT` completed (the position unreadable) leaves the commit standing: it is
 * answered as committed, without a position.
 */
class CommitThenPosition extends (pg.Query as unknown as new (config: object) => { handleCommandComplete(message: { text?: string }, connection: unknown): void }) {
  private committed = false

  constructor(done: (error: Error | null, commit: { command: string } | undefined, position: string | undefined) => void) {
    super({
      text: COMMIT_AND_POSITION,
      callback: (error: Error | null, results: unknown) => {
        if (error) return this.committed ? done(null, { command: 'COMMIT' }, undefined) : done(error, undefined, undefined)
        const [commit, position] = (Array.isArray(results) ? results : [results]) as [{ command: string } | undefined, { rows?: { lsn?: string }[] } | undefined]
        done(null, commit, position?.rows?.[0]?.lsn)
      },
    })
  }

  override handleCommandComplete(message: { text?: string }, connection: unknown): void {
    if (message.text === 'COMMIT') this.committed = true
    super.handleCommandComplete(message, connection)
  }
}

/** A statement sent right after `BEGIN` and `prefix`, in one round trip; it answers its own result. */
class AfterBegin extends (pg.Query as unknown as new (config: object) => object) {
  constructor(
    config: object,
    private readonly prefix: readonly string[],
    callback: QueryCallback,
  ) {
    super({
      ...config,
      queryMode: 'extended',
      callback: (error: Error | null, results: unknown) => callback(error, Array.isArray(results) ? results[results.length - 1] : results),
    })
  }

  prepare(connection: ProtocolConnection): void {
    for (const text of ['BEGIN', ...this.prefix]) {
      connection.parse({ text, name: '' })
      connection.bind({ portal: '', statement: '', values: [] })
      connection.execute({ portal: '', rows: 0 })
    }
    ;(pg.Query.prototype as unknown as { prepare(connection: ProtocolConnection): void }).prepare.call(this, connection)
  }
}

/** The protocol messages of pg's connection that `AfterBegin` writes. */
interface ProtocolConnection {
  parse(message: { text: string; name: string }): void
  bind(message: { portal: string; statement: string; values: readonly unknown[] }): void
  execute(message: { portal: string; rows: number }): void
}

/**
 * Asks PostgreSQL to cancel the statement running on `connection`, over a connection of
 * its own (the cancel request carries the backend's key; it needs no pool slot); whether
 * one was sent. Connections without a backend key (PGlite's) are left alone.
 */
function cancelActiveStatement(connection: PgConnection): boolean {
  const active = typeof connection._getActiveQuery === 'function' ? connection._getActiveQuery() : undefined
  if (connection.processID == null || connection.secretKey == null || !active || !connection.connectionParameters) return false
  const Client = connection.constructor as new (config: object) => { connection: CancelConnection }
  // What pg's `Client#cancel` does, without its deprecated `activeQuery` getter.
  const canceller = new Client(connection.connectionParameters).connection
  // A cancel that cannot be delivered leaves the statement to statement_timeout.
  canceller.on('error', () => undefined)
  canceller.on('connect', () => canceller.cancel(connection.processID!, connection.secretKey!))
  const { host, port } = connection
  if (typeof host === 'string' && host.startsWith('/')) canceller.connect(`${host}/.s.PGSQL.${port}`)
  else canceller.connect(port, host)
  return true
}

/**
 * The session, or `UNAVAILABLE` once `ms` have passed: a full pool answers 503 instead of
 * hanging. A session that opens too late is closed at once.
 */
function withinTime(opening: Promise<DbSession>, ms: number): Promise<DbSession> {
  return new Promise((resolve, reject) => {
    let late = false
    const timer = DEADLINES.add(Date.now() + ms, () => {
      late = true
      reject(new ExecutorError('UNAVAILABLE', 'no database connection became free in time'))
    })
    opening.then(
      (session) => {
        DEADLINES.delete(timer)
        if (late) void session.end(false).catch(() => undefined)
        else resolve(session)
      },
      (error: unknown) => {
        DEADLINES.delete(timer)
        if (!late) reject(error)
      },
    )
  })
}

/** Something to do at a time (see `Deadlines`). */
interface Deadline {
  readonly at: number
  readonly fire: () => void
}

/** How often `Deadlines` looks at the time: how late a deadline may fire, at most. */
const TICK_MS = 10

/**
 * The sessions' deadlines (waiting for a connection, following the client, the request's
 * time), looked at by one ticker that runs while there are any, instead of a timer per
 * deadline: setting and clearing two timers per request cost about a fifth of a point
 * read's CPU under load. A deadline fires up to `TICK_MS` late.
 */
class Deadlines {
  private readonly pending = new Set<Deadline>()
  private ticker: ReturnType<typeof setInterval> | undefined

  add(at: number, fire: () => void): Deadline {
    const deadline = { at, fire }
    this.pending.add(deadline)
    this.ticker ??= setInterval(() => this.tick(), TICK_MS)
    return deadline
  }

  delete(deadline: Deadline): void {
    this.pending.delete(deadline)
    if (this.pending.size === 0 && this.ticker !== undefined) {
      clearInterval(this.ticker)
      this.ticker = undefined
    }
  }

  private tick(): void {
    const now = Date.now()
    for (const deadline of this.pending) {
      if (deadline.at > now) continue
      this.delete(deadline)
      deadline.fire()
    }
  }
}

const DEADLINES = new Deadlines()

function toBigInt(value: unknown): unknown {
  return typeof value === 'string' || typeof value === 'number' ? BigInt(value) : value
}
