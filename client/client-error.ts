import { ERROR_STATUS, type ErrorCode } from '../shared/error-codes.js'

/**
 * Codes a client error can carry: the executor's codes, plus two that never come from a
 * server: `NETWORK_ERROR` (no response arrived) and `ABORTED` (the caller's signal fired).
 */
export type ClientErrorCode = ErrorCode | 'NETWORK_ERROR' | 'ABORTED'

/**
 * The one error class the client throws. `status` is the HTTP status the error came with
 * (for a failed query inside a successful batch, the status of its code), `0` when no
 * response arrived.
 */
export class AsyncOrmError extends Error {
  override readonly name = 'AsyncOrmError'
  readonly code: ClientErrorCode
  readonly status: number
  /** Set on `INTERNAL` errors: quote it to whoever reads the executor's logs. */
  readonly requestId?: string
  /** In a failed transaction: the position of the query that failed. */
  readonly queryIndex?: number

  constructor(init: { code: ClientErrorCode; message: string; status?: number; requestId?: string; queryIndex?: number; cause?: unknown }) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause })
    this.code = init.code
    this.status = init.status ?? (init.code === 'NETWORK_ERROR' || init.code === 'ABORTED' ? 0 : ERROR_STATUS[init.code])
    if (init.requestId !== undefined) this.requestId = init.requestId
    if (init.queryIndex !== undefined) this.queryIndex = init.queryIndex
  }

  /** True when the executor never answered: worth retrying later, nothing was run. */
  get isNetworkError(): boolean {
    return this.code === 'NETWORK_ERROR'
  }
}
