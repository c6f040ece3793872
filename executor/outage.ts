/**
 * Database outages: which errors mean the server cannot be reached or dropped the
 * connection (a restart, a failover, a network fault), and a log that reports an outage
 * once instead of once per failed request. Such failures are answered `UNAVAILABLE`
 * (503), which clients retry; their text, which names hosts and ports, stays in the log.
 */
import type { Logger } from './executor-error.js'

/** Socket errors of a connection that could not be made or was lost (Node's `error.code`). */
const SOCKET_ERRORS: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTCONN',
  'EPIPE',
  // DNS answers nothing during a managed database's failover while its name moves.
  'EAI_AGAIN',
  'ENOTFOUND',
])

/**
 * SQLSTATEs of a server that is going away or not accepting connections yet
 * (https://www.postgresql.org/docs/current/errcodes-appendix.html). Class 08 (connection
 * exceptions) is matched as a class.
 */
const SERVER_GOING_AWAY: ReadonlySet<string> = new Set([
  '57P01', // admin_shutdown: fast or immediate shutdown, pg_terminate_backend
  '57P02', // crash_shutdown: another backend crashed
  '57P03', // cannot_connect_now: starting up, shutting down, in recovery
  '57P05', // idle_session_timeout: the server closed an idle pooled connection
  '53300', // too_many_connections: the pool could not open a connection
])

/**
 * What PgBouncer answers (SQLSTATE 08P01, then it closes the connection) when it cannot
 * give the client a server connection: the server down or refusing logins, the pool
 * exhausted, the pooler full or shutting down. The server is unavailable, not the message
 * malformed.
 */
const POOLER_UNAVAILABLE =
  /server login has been failing|server conn crashed\?|query_wait_timeout|client_login_timeout|no more connections allowed|bouncer resources exhaustion|database removed|pgbouncer cannot connect to server|server connection closed/

/**
 * node-postgres's own errors for a lost or unusable connection, which carry no code. knex
 * prefixes a failed statement's message with its SQL (`select … - Connection terminated
 * unexpectedly`), so only the end of the message is matched.
 */
const DRIVER_MESSAGES =
  /(?:^| - )(?:Connection terminated(?: unexpectedly| due to connection timeout)?|Client has encountered a connection error and is not queryable|Client was closed and is not queryable|timeout expired)$/

/**
 * Whether `error` says the database connection could not be made or was lost, so the
 * request did not run or its outcome is unknown (a `COMMIT` whose answer never came).
 * Looks through `cause`, objection's `nativeError` and `AggregateError.errors` (Node reports a failed connection to
 * every address of a host as one `AggregateError`).
 */
export function isConnectionFailure(error: unknown, depth = 0): boolean {
  if (error === null || typeof error !== 'object' || depth > 4) return false
  const { code, message, cause, errors, nativeError } = error as { code?: unknown; message?: unknown; cause?: unknown; errors?: unknown; nativeError?: unknown }
  // Class 08 is a connection exception, except 08P01: the server refusing one malformed
  // message (too many parameters, say) on a connection that stays usable, unless it is a
  // pooler saying it has no server for the client.
  if (typeof code === 'string' && (SOCKET_ERRORS.has(code) || SERVER_GOING_AWAY.has(code) || (/^08[0-9A-Z]{3}$/.test(code) && code !== '08P01'))) {
    return true
  }
  if (code === '08P01' && typeof message === 'string' && POOLER_UNAVAILABLE.test(message)) return true
  if (typeof message === 'string' && code === undefined && DRIVER_MESSAGES.test(message)) return true
  if (Array.isArray(errors) && errors.some((inner) => isConnectionFailure(inner, depth + 1))) return true
  // objection wraps a driver's error (db-errors) as `nativeError`.
  if (nativeError !== undefined && isConnectionFailure(nativeError, depth + 1)) return true
  return cause !== undefined && isConnectionFailure(cause, depth + 1)
}

/** What clients are told: never the driver's text, which names the database's host and port. */
export const DATABASE_UNAVAILABLE = 'the database is unavailable; retry later'

/**
 * Wraps the executor's logger so that an outage costs one log line, not one per request:
 * the first connection failure is logged ("database unavailable", with its error); later
 * ones are counted silently until a request succeeds again, which logs "database
 * available again" with the count. Other messages pass straight through.
 *
 * @example
 * const logger = new OutageLog(options.logger ?? console)
 * // each request that reached the database and succeeded:
 * logger.available()
 */
export class OutageLog implements Logger {
  private down: { since: Date; failedRequests: number } | undefined

  constructor(
    private readonly logger: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  error(message: string, details: Record<string, unknown>): void {
    this.logger.error(message, details)
  }

  info(message: string, details: Record<string, unknown>): void {
    if (this.logger.info) this.logger.info(message, details)
    else this.logger.error(message, details)
  }

  /** A request failed because the database could not be reached (`isConnectionFailure`). */
  unavailable(error: unknown, requestId: string): void {
    if (this.down) {
      this.down.failedRequests++
      return
    }
    this.down = { since: this.now(), failedRequests: 1 }
    this.logger.error('async-orm executor: database unavailable', { requestId, error })
  }

  /** A request reached the database: an outage, if one was logged, is over. */
  available(): void {
    const down = this.down
    if (!down) return
    this.down = undefined
    this.info('async-orm executor: database available again', {
      failedRequests: down.failedRequests,
      unavailableMs: this.now().getTime() - down.since.getTime(),
    })
  }

  /** Whether a connection failure has been logged and no request has succeeded since. */
  get isDown(): boolean {
    return this.down !== undefined
  }
}
