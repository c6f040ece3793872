/**
 * Regression: JWTs without `exp` were accepted, by `jwtAuth` and by the edge proxy, so a
 * leaked token worked forever. Both now require `exp` unless told otherwise
 * (`requireExp: false`, `JWT_REQUIRE_EXP=false`); a token without one is 401
 * UNAUTHENTICATED before any database work or origin request.
 */
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DemoCtx } from '../../examples/demo/api.js'
import { jwtAuth } from '../../executor/index.js'
import { decode, encode } from '../../shared/wire.js'
import { openDemo, TEST_SECRET, type Demo } from '../support/demo.js'
import { AUDIENCE, now, signToken, startEdge, type EdgeSetup } from '../support/edge-proxy.js'

const READ = { v: 1, queries: [{ model: 'Tag', op: 'count' }] }
const request = (token: string) => new Request('http://executor/orm', { headers: { authorization: `Bearer ${token}` } })

describe('jwtAuth requires exp', () => {
  const auth = jwtAuth({ secret: TEST_SECRET, algorithms: ['HS256'], audience: AUDIENCE })
  const lenient = jwtAuth({ secret: TEST_SECRET, algorithms: ['HS256'], audience: AUDIENCE, requireExp: false })

  it('refuses a token without exp, and accepts one with it', async () => {
    for (const claims of [{ sub: '1' }, { sub: '1', iat: now() }, { sub: '1', nbf: now() - 10 }, { sub: '1', exp: undefined }] as JWTPayload[]) {
      await expect(auth(request(await signToken(claims))), JSON.stringify(claims)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' })
    }
    await expect(auth(request(await signToken({ sub: '1', exp: now() + 60 })))).resolves.toMatchObject({ sub: '1' })
  })

  it('refuses an exp that is not a number, or is past, even when exp is optional', async () => {
    for (const exp of ['9999999999', null, now() - 60, { at: now() + 60 }] as unknown[]) {
      const token = await signToken({ sub: '1', exp } as JWTPayload)
      await expect(auth(request(token)), JSON.stringify(exp)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' })
      await expect(lenient(request(token)), JSON.stringify(exp)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' })
    }
  })

  it('accepts a token without exp only with requireExp: false', async () => {
    await expect(lenient(request(await signToken({ sub: '1' })))).resolves.toMatchObject({ sub: '1' })
    await expect(lenient(request(await signToken({ sub: '1', exp: now() + 60 })))).resolves.toMatchObject({ sub: '1' })
  })

  it('requires exp with a key set (jwks) too', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256')
    const jwks = createLocalJWKSet({ keys: [{ ...(await exportJWK(publicKey)), alg: 'ES256', kid: 'k1' }] })
    const withJwks = jwtAuth({ jwks, algorithms: ['ES256'], audience: 'orm' })
    const sign = (expires: boolean) => {
      const jwt = new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setSubject('7').setAudience('orm')
      return (expires ? jwt.setExpirationTime('5m') : jwt).sign(privateKey)
    }
    await expect(withJwks(request(await sign(false)))).rejects.toMatchObject({ code: 'UNAUTHENTICATED' })
    await expect(withJwks(request(await sign(true)))).resolves.toMatchObject({ sub: '7' })
  })
})

describe('the executor with jwtAuth refuses tokens without exp (PostgreSQL)', () => {
  let demo: Demo

  beforeAll(async () => {
    demo = await openDemo('postgres')
  })
  afterAll(() => demo?.close())

  it('answers 401 before any SQL', async () => {
    demo.sql.length = 0
    const response = await demo.post(READ, { authorization: `Bearer ${await signToken({ sub: '1' })}` })
    expect(response).toEqual({ status: 401, body: { error: { code: 'UNAUTHENTICATED', message: 'the token is not valid' } } })
    expect(demo.sql).toEqual([])
    expect((await demo.post(READ, { authorization: `Bearer ${await signToken({ sub: '1', exp: now() + 60 })}` })).status).toBe(200)
  })
})

describe('the edge proxy refuses tokens without exp', () => {
  let edge: EdgeSetup

  beforeAll(async () => {
    edge = await startEdge<DemoCtx>({ context: (identity) => ({ authorId: BigInt(String(identity.sub)) }) })
  })
  afterAll(() => edge?.close())

  const send = async (proxy: EdgeSetup['mf'], claims: JWTPayload) => {
    const response = await proxy.dispatchFetch('http://edge.local/orm', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await signToken(claims)}` },
      body: encode(READ),
    })
    return { status: response.status, body: decode(await response.text()) }
  }

  it('answers 401 UNAUTHENTICATED without asking the executor', async () => {
    const before = edge.received.length
    for (const claims of [{ sub: '1' }, { sub: '1', iat: now() }, { sub: '1', exp: '9999999999' }] as JWTPayload[]) {
      expect(await send(edge.mf, claims), JSON.stringify(claims)).toEqual({ status: 401, body: { error: { code: 'UNAUTHENTICATED', message: 'the token is not valid' } } })
    }
    expect(edge.received.length).toBe(before)
    expect((await send(edge.mf, { sub: '1', exp: now() + 60 })).status).toBe(200)
  })

  it('accepts tokens without exp only with JWT_REQUIRE_EXP=false', async () => {
    const lenient = await edge.proxy({ JWT_REQUIRE_EXP: 'false' })
    expect((await send(lenient, { sub: '1' })).status).toBe(200)
    expect((await send(lenient, { sub: '1', exp: now() - 60 })).status).toBe(401)
    for (const value of ['true', '0', 'no', '']) {
      const strict = await edge.proxy({ JWT_REQUIRE_EXP: value })
      expect((await send(strict, { sub: '1' })).status, JSON.stringify(value)).toBe(401)
    }
  })
})
