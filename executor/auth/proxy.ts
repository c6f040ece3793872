/**
 * `proxyAuth(…)`: an `auth` for an executor behind the edge proxy. It accepts only
 * requests the proxy signed (HMAC over identity, timestamp, body and Idempotency-Key)
 * and takes the caller's identity from the proxy, which verified the caller's token.
 * A signed request can be replayed within `maxSkewSeconds`, but only unchanged: the
 * proxy gives every request an Idempotency-Key, so with `idempotency: true` on the
 * executor a replayed write is answered from the store and not applied again.
 */
import { verifyHop } from '../../shared/hop-signature.js'
import { ExecutorError } from '../executor-error.js'

export interface ProxyAuthOptions<Ctx> {
  /** The HMAC secret shared with the proxy (`HOP_SECRET`). */
  readonly secret: string
  /** Largest clock difference accepted, in seconds (default 60). */
  readonly maxSkewSeconds?: number
  /**
   * Turns the forwarded identity (the token's verified payload) into the policy context;
   * anonymous callers get `null` without it. The proxy's read cache keys entries by
   * every claim except `iat`, `exp`, `nbf` and `jti` (or by its `CACHE_KEY_CLAIMS`), so
   * the context must not be derived from those.
   */
  readonly context?: (identity: Record<string, unknown>) => Ctx | Promise<Ctx>
}

export function proxyAuth<Ctx = Record<string, unknown>>(
  options: ProxyAuthOptions<Ctx>,
): (request: Request, info: { readonly body: string }) => Promise<Ctx | null> {
  if (typeof options.secret !== 'string' || options.secret.length < 32) {
    throw new TypeError('proxyAuth needs a secret of at least 32 characters')
  }
  return async (request, { body }) => {
    const check = await verifyHop(options.secret, request.headers, body, options.maxSkewSeconds ?? 60)
    if (!check.ok) throw new ExecutorError('UNAUTHENTICATED', check.reason)
    if (check.identity === null || typeof check.identity !== 'object') return null
    const identity = check.identity as Record<string, unknown>
    return options.context ? options.context(identity) : (identity as Ctx)
  }
}
