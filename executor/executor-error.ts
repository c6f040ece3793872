/**
 * The executor's one error class, and the one place that turns any thrown value into a
 * wire error (STYLE.md #5). Database errors are mapped by SQLSTATE; their text, which
 * can hold SQL and values, goes only to the server log.
 */
import { ERROR_STATUS, type ErrorCode, type WireError } from '../shared/error-codes.js'
import { WireFormatError } from '../shared/wire.js'

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
}

/** SQLSTATE classes a client can cause with valid-looking values (e.g. `'abc'` for an integer). */
const DATA_EXCEPTION: Record<string, string> = {
  '22P02': 'a value has the wrong format for its column',
  '22003': 'a value is out of range for its column',
  '22007': 'a date or time value is malformed',
  '22008': 'a date or time value is out of range',
  '22001': 'a value is too long for its column',
  '22021': 'a value contains bytes that are not valid text',
  '22025': 'a like pattern ends with an escape character',
}

export function toWireError(error: unknown, requestId: string, logger: Logger): WireError {
  if (error instanceof ExecutorError || error instanceof WireFormatError) {
    return { code: error.code, message: error.message }
  }
  const sqlState = sqlStateOf(error)
  if (sqlState === '57014') return { code: 'TIMEOUT', message: 'the query was cancelled: statement timeout' }
  if (sqlState !== undefined && Object.hasOwn(DATA_EXCEPTION, sqlState)) {
    return { code: 'BAD_REQUEST', message: DATA_EXCEPTION[sqlState]! }
  }
  if (isPoolTimeout(error)) {
    return { code: 'UNAVAILABLE', message: 'no database connection became free in time' }
  }
  logger.error('async-orm executor: unexpected error', { requestId, error })
  return { code: 'INTERNAL', message: 'internal error', requestId }
}

function sqlStateOf(error: unknown): string | undefined {
  if (error === null || typeof error !== 'object') return undefined
  const code = (error as { code?: unknown }).code
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined
}

function isPoolTimeout(error: unknown): boolean {
  return error instanceof Error && error.name === 'KnexTimeoutError'
}
