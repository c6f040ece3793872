/**
 * The signed hop from the edge proxy to the executor: the proxy, which verified the
 * caller, signs the identity it forwards together with a timestamp, the body's SHA-256
 * and the request's `Idempotency-Key` (or its absence), with an HMAC key both share.
 * Signing the key is what makes a captured request replayable only as itself: with the
 * executor's idempotency store, a replayed write is answered from the store instead of
 * being applied again, and a replay with the key removed or changed no longer verifies.
 * Web Crypto only, so it runs in workers and Node.
 */

export const HOP_HEADERS = {
  identity: 'x-async-orm-identity',
  timestamp: 'x-async-orm-timestamp',
  signature: 'x-async-orm-signature',
} as const

/** The header the executor's idempotency store reads; the hop signature covers it. */
export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key'

const encoder = new TextEncoder()

async function key(secret: string): Promise<CryptoKey> {
  return crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify'])
}

async function digest(text: string): Promise<string> {
  return toBase64Url(new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(text))))
}

/**
 * v2 added the Idempotency-Key; the version is part of the message so a v1 signature
 * never verifies as v2. The key goes last, as JSON (`null` when absent), so no key can
 * be confused with absence or with another field.
 */
function message(identity: string, timestamp: string, bodyDigest: string, idempotencyKey: string | null): Uint8Array<ArrayBuffer> {
  return encoder.encode(`async-orm-hop-v2\n${timestamp}\n${identity}\n${bodyDigest}\n${JSON.stringify(idempotencyKey)}`)
}

export interface HopRequest {
  /** The verified identity (the token's payload), or `null` for an anonymous caller. */
  readonly identity: unknown
  readonly body: string
  /** The `Idempotency-Key` header the request is forwarded with, or `null` if none. */
  readonly idempotencyKey: string | null
}

/** Headers the proxy adds: `identity` is the verified identity as JSON, or `null`. */
export async function signHop(secret: string, hop: HopRequest, now = Date.now()): Promise<Record<string, string>> {
  const encodedIdentity = toBase64Url(encoder.encode(JSON.stringify(hop.identity ?? null)))
  const timestamp = String(Math.floor(now / 1000))
  const signature = await crypto.subtle.sign(
    'HMAC',
    await key(secret),
    message(encodedIdentity, timestamp, await digest(hop.body), hop.idempotencyKey),
  )
  return {
    [HOP_HEADERS.identity]: encodedIdentity,
    [HOP_HEADERS.timestamp]: timestamp,
    [HOP_HEADERS.signature]: toBase64Url(new Uint8Array(signature)),
  }
}

export type HopCheck = { readonly ok: true; readonly identity: unknown } | { readonly ok: false; readonly reason: string }

/**
 * Verifies a signed hop (constant-time, by Web Crypto) and its freshness, against the
 * `Idempotency-Key` header the request carries now: one added, removed or changed after
 * signing fails.
 */
export async function verifyHop(secret: string, headers: Headers, body: string, maxSkewSeconds: number, now = Date.now()): Promise<HopCheck> {
  const identity = headers.get(HOP_HEADERS.identity)
  const timestamp = headers.get(HOP_HEADERS.timestamp)
  const signature = headers.get(HOP_HEADERS.signature)
  if (!identity || !timestamp || !signature) return { ok: false, reason: 'the request is not signed by the proxy' }
  if (!/^\d{1,12}$/.test(timestamp) || Math.abs(Number(timestamp) - now / 1000) > maxSkewSeconds) {
    return { ok: false, reason: 'the proxy signature is too old or from the future' }
  }
  let signatureBytes: Uint8Array<ArrayBuffer>
  try {
    signatureBytes = fromBase64Url(signature)
  } catch {
    return { ok: false, reason: 'the proxy signature is malformed' }
  }
  const signed = message(identity, timestamp, await digest(body), headers.get(IDEMPOTENCY_KEY_HEADER))
  const valid = await crypto.subtle.verify('HMAC', await key(secret), signatureBytes, signed)
  if (!valid) return { ok: false, reason: 'the proxy signature does not match' }
  try {
    return { ok: true, identity: JSON.parse(new TextDecoder().decode(fromBase64Url(identity))) }
  } catch {
    return { ok: false, reason: 'the forwarded identity is malformed' }
  }
}

function toBase64Url(bytes: Uint8Array): string {
  let binary = ''
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

function fromBase64Url(text: string): Uint8Array<ArrayBuffer> {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new TypeError('not base64url')
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4))
  return Uint8Array.from(binary, (c) => c.charCodeAt(0))
}
