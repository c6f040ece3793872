/** Bearer tokens: the executor verifies them, `tokenFor` signs one (for tests and the demo). */
import { jwtAuth } from 'async-orm/executor'
import { SignJWT } from 'jose'
import type { Ctx } from './api.js'

const secret = process.env.JWT_SECRET ?? 'a development secret of 32 bytes or more; set JWT_SECRET'

export const auth = jwtAuth<Ctx>({
  secret,
  algorithms: ['HS256'],
  context: (claims) => ({ userId: Number(claims.sub), orgId: Number(claims.org) }),
})

export function tokenFor(ctx: Ctx): Promise<string> {
  return new SignJWT({ org: ctx.orgId })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(String(ctx.userId))
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(secret))
}
