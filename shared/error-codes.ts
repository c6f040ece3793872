/**
 * The closed set of error codes both sides speak, and the one table that maps each
 * to an HTTP status (DESIGN.md, "Wire protocol v1").
 */
export const ERROR_STATUS = {
  BAD_REQUEST: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  LIMIT_EXCEEDED: 422,
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  TIMEOUT: 504,
  UNAVAILABLE: 503,
  UNSUPPORTED_VERSION: 400,
  INTERNAL: 500,
} as const

export type ErrorCode = keyof typeof ERROR_STATUS

export const ERROR_CODES = Object.keys(ERROR_STATUS) as readonly ErrorCode[]

/** An error as it travels on the wire: never SQL, stack traces or hidden values. */
export interface WireError {
  readonly code: ErrorCode
  readonly message: string
  /** Set on `INTERNAL` errors: the id under which the server logged the details. */
  readonly requestId?: string
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_STATUS, value)
}
