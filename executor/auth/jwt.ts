/**
 * `jwtAuth(…)`: an `auth` function for `createExecutor` that verifies a bearer JWT with
 * jose. Algorithms are pinned (never `none`); `exp` is required and checked, as are
 * `nbf`, `aud` and `iss`. No token means an anonymous caller (`null`); a bad token is
 * `UNAUTHENTICATED` before any database work.
 */
import { createRemoteJWKSet, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose'
import { ExecutorError } from '../executor-error.js'

export interface JwtAuthOptions<Ctx> {
  /** A shared secret (HS256/384/512). */
  readonly secret?: string | Uint8Array
  /** A JWKS URL or a jose key-set function (RS/ES/EdDSA). */
  readonly jwks?: URL | JWTVerifyGetKey
  /** Accepted algorithms, e.g. `['HS256']` or `['RS256']`. Required. */
  readonly algorithms: readonly string[]
  readonly audience?: string | readonly string[]
  readonly issuer?: string | readonly string[]
  /** Seconds of clock skew allowed on `exp`/`nbf` (default 0). */
  readonly clockTolerance?: number
  /**
   * Refuse tokens without an `exp` claim (default `true`): a token that never expires
   * stays usable forever once leaked. Set `false` only for an issuer that cannot set one.
   */
  readonly requireExp?: boolean
  /** Turns the verified payload into the policy context (default: the payload). */
  readonly context?: (payload: JWTPayload) => Ctx | Promise<Ctx>
}

export function jwtAuth<Ctx = JWTPayload>(options: JwtAuthOptions<Ctx>): (request: Request) => Promise<Ctx | null> {
  const algorithms = [...options.algorithms]
  if (algorithms.length === 0 || algorithms.some((a) => a.toLowerCase() === 'none')) {
    throw new TypeError('jwtAuth needs a list of accepted algorithms, without "none"')
  }
  if ((options.secret === undefined) === (options.jwks === undefined)) throw new TypeError('jwtAuth needs exactly one of secret or jwks')
  const key: Uint8Array | JWTVerifyGetKey =
    options.secret !== undefined
      ? typeof options.secret === 'string'
        ? new TextEncoder().encode(options.secret)
        : options.secret
      : options.jwks instanceof URL
        ? createRemoteJWKSet(options.jwks)
        : options.jwks!
  const verifyOptions = {
    algorithms,
    ...(options.audience !== undefined && { audience: options.audience as string | string[] }),
    ...(options.issuer !== undefined && { issuer: options.issuer as string | string[] }),
    ...(options.clockTolerance !== undefined && { clockTolerance: options.clockTolerance }),
    ...(options.requireExp !== false && { requiredClaims: ['exp'] }),
  }
  return async (request) => {
    const header = request.headers.get('authorization')
    if (header === null) return null
    const match = /^Bearer\s+([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/.exec(header.trim())
    if (!match) throw new ExecutorError('UNAUTHENTICATED', 'the authorization header is not a bearer token')
    let payload: JWTPayload
    try {
      payload = (
        typeof key === 'function' ? await jwtVerify(match[1]!, key, verifyOptions) : await jwtVerify(match[1]!, key, verifyOptions)
      ).payload
    } catch (error) {
      throw new ExecutorError('UNAUTHENTICATED', 'the token is not valid', { cause: error })
    }
    return options.context ? options.context(payload) : (payload as Ctx)
  }
}
