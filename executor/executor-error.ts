/**
 * The executor's one error class, and the one place that turns any thrown value into a
 * wire error (STYLE.md #5). Database errors are mapped by SQLSTATE; their text, which
 * can hold SQL and values, goes only to the server log. A lost or refused database
 * connection is `UNAVAILABLE` (`outage.ts`).
 */
import { ERROR_STATUS, type ErrorCode, type WireError } from '../shared/error-codes.js'
import { ValidationError } from 'objection'
import { WireFormatError } from '../shared/wire.js'
import { DATABASE_UNAVAILABLE, isConnectionFailure, OutageLog } from './outage.js'

export class ExecutorError extends Error {
  override readonly name = 'ExecutorError'
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }

  get status(): number {
    return ERROR_STATUS[this.code]
  }
}

export interface Logger {
  error(message: string, details: Record<string, unknown>): void
  /** Notices that are not failures (the end of a database outage); `error` when absent. */
  info?(message: string, details: Record<string, unknown>): void
}

/** SQLSTATEs a client can cause with valid-looking input (e.g. `'abc'` for an integer). */
const DATA_EXCEPTION: Record<string, string> = {
  '22P02': 'a value has the wrong format for its column',
  '22003': 'a value is out of range for its column',
  '22007': 'a date or time value is malformed',
  '22008': 'a date or time value is out of range',
  '22001': 'a value is too long for its column',
  '22021': 'a value contains bytes that are not valid text',
  '22025': 'a like pattern ends with an escape character',
  '42P10': 'the onConflict columns match no unique index or constraint of the table',
}

/** Names a database column as clients know it (its property name), given its table. */
export type ColumnNames = (table: string | undefined, column: string) => string

export function columnNames(api: ReadonlyMap<string, { readonly table: string; readonly allProps: ReadonlyMap<string, string> }>): ColumnNames {
  const byTable = new Map([...api.values()].map((model) => [model.table, model.allProps]))
  return (table, column) => (table === undefined ? undefined : byTable.get(table)?.get(column)) ?? column
}

export function toWireError(error: unknown, requestId: string, logger: Logger, names: ColumnNames = (_t, c) => c): WireError {
  if (error instanceof ExecutorError || error instanceof WireFormatError) {
    if (error.cause instanceof PolicyContextMismatch) onceInLog(logger, error.cause.message, requestId)
    return { code: error.code, message: error.message }
  }
  // Before SQLSTATEs: a lost connection is the database's state, not the request's fault.
  if (isConnectionFailure(error)) {
    if (logger instanceof OutageLog) logger.unavailable(forLog(error), requestId)
    else logger.error('async-orm executor: database unavailable', { requestId, error: forLog(error) })
    return { code: 'UNAVAILABLE', message: DATABASE_UNAVAILABLE }
  }
  const validation = modelValidation(error)
  if (validation) return validation
  // objection wraps database errors (db-errors); the driver's error carries the SQLSTATE.
  const native = (error as { nativeError?: unknown } | null)?.nativeError
  if (native !== undefined && native !== error) return toWireError(native, requestId, logger, names)
  const sqlState = sqlStateOf(error)
  const constraint = constraintError(error, sqlState, names)
  if (constraint) return constraint
  if (sqlState === '57014') return { code: 'TIMEOUT', message: 'the query was cancelled: statement timeout' }
  if (sqlState !== undefined && Object.hasOwn(DATA_EXCEPTION, sqlState)) {
    return { code: 'BAD_REQUEST', message: DATA_EXCEPTION[sqlState]! }
  }
  // Any other data exception (class 22) comes from a value the client sent.
  if (sqlState?.startsWith('22')) return { code: 'BAD_REQUEST', message: 'a value is not valid for its column' }
  if (isPoolTimeout(error)) {
    return { code: 'UNAVAILABLE', message: 'no database connection became free in time' }
  }
  logger.error('async-orm executor: unexpected error', { requestId, error: forLog(error) })
  return { code: 'INTERNAL', message: 'internal error', requestId }
}

/**
 * A policy gave a key no value although a caller is signed in: the context lacks a field
 * the policy reads (`{ orgId: ctx.orgId }` with no `orgId`), a mistake in the app, which the
 * executor logs (once) besides denying.
 */
export class PolicyContextMismatch extends Error {
  override readonly name = 'PolicyContextMismatch'
}

/** App mistakes each logger has logged (each once, the first 100: requests cannot fill the log). */
const loggedMistakes = new WeakMap<Logger, Set<string>>()

function onceInLog(logger: Logger, message: string, requestId: string): void {
  let logged = loggedMistakes.get(logger)
  if (!logged) loggedMistakes.set(logger, (logged = new Set()))
  if (logged.has(message) || logged.size >= 100) return
  logged.add(message)
  logger.error(`async-orm executor: ${message}; the operation was denied`, { requestId })
}

/** Most characters of an error's message a log line keeps (knex puts the whole statement in it). */
const LOGGED_MESSAGE = 2_000

/**
 * An error as the log gets it: itself, or, when its message is long (a driver's message
 * holding a large statement), a copy with the message cut, keeping its name, SQLSTATE,
 * stack head and cause, so that no request can make one log line large.
 */
export function forLog(error: unknown): unknown {
  if (!(error instanceof Error) || error.message.length <= LOGGED_MESSAGE) return error
  const cut = `${error.message.slice(0, LOGGED_MESSAGE)}… (${error.message.length - LOGGED_MESSAGE} more characters)`
  const copy = new Error(cut, { cause: error.cause === undefined ? undefined : forLog(error.cause) })
  copy.name = error.name
  const { code } = error as { code?: unknown }
  if (code !== undefined) Object.assign(copy, { code })
  copy.stack = `${error.name}: ${cut}\n${(error.stack ?? '').split('\n').slice(1, 8).join('\n')}`
  return copy
}

/**
 * A model's `jsonSchema` (or `$validate`) refused a written row: `BAD_REQUEST` naming each
 * property and what it must be (the validator's messages carry no values).
 */
function modelValidation(error: unknown): WireError | undefined {
  if (!(error instanceof ValidationError)) return undefined
  const data = (error.data ?? {}) as Record<string, readonly { message?: string }[] | undefined>
  const problems = Object.keys(data).map((prop) => `${prop}: ${(data[prop] ?? []).map((e) => e.message ?? 'is not valid').join(', ')}`)
  return { code: 'BAD_REQUEST', message: problems.length > 0 ? `invalid ${problems.join('; ')}` : 'a written row is not valid for its model' }
}

/**
 * Constraint violations name the columns involved (read from the error's `Key (…)=`
 * detail), never the values, the constraint's SQL or another table's rows.
 */
function constraintError(error: unknown, sqlState: string | undefined, names: ColumnNames): WireError | undefined {
  const pg = error as { table?: string; column?: string; detail?: string }
  const keyColumns = () => {
    const match = /^Key \(([^)]*)\)=/.exec(pg.detail ?? '')
    return match ? match[1]!.split(',').map((c) => names(pg.table, c.trim().replace(/^"|"$/g, ''))).join(', ') : 'a key'
  }
  switch (sqlState) {
    case '23505':
      return { code: 'CONFLICT', message: `a row with the same ${keyColumns()} already exists` }
    case '23503':
      return /still referenced/.test(pg.detail ?? '')
        ? { code: 'CONFLICT', message: `the row is still referred to by other rows (${keyColumns()})` }
        : { code: 'CONFLICT', message: `${keyColumns()} does not refer to an existing row` }
    case '23502':
      return { code: 'BAD_REQUEST', message: `column "${pg.column ? names(pg.table, pg.column) : '?'}" cannot be null` }
    case '23514':
    case '23P01':
      return { code: 'BAD_REQUEST', message: 'a value breaks a constraint of the table' }
    case '40001':
    case '40P01':
      return { code: 'CONFLICT', message: 'the transaction conflicted with a concurrent one; retry it' }
    default:
      return undefined
  }
}

function sqlStateOf(error: unknown): string | undefined {
  if (error === null || typeof error !== 'object') return undefined
  const code = (error as { code?: unknown }).code
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined
}

function isPoolTimeout(error: unknown): boolean {
  return error instanceof Error && error.name === 'KnexTimeoutError'
}
