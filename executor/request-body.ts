/**
 * Reading an untrusted request: its body, bounded in bytes before anything parses it, and
 * its envelope (`{ v, queries, atomic?, stream?, describe? }`).
 */
import { READ_OPS } from '../shared/query-ast.js'
import { PROTOCOL_VERSION } from '../shared/wire.js'
import { ExecutorError } from './executor-error.js'
import type { Limits } from './limits.js'

/** Reads the body, refusing it as soon as it passes `max` bytes (whatever Content-Length says). */
export async function readBody(request: Request, max: number): Promise<string> {
  const length = request.headers.get('content-length')
  const declared = Number(length ?? 0)
  if (declared > max) throw new ExecutorError('PAYLOAD_TOO_LARGE', `request body is larger than ${max} bytes`)
  // With a declared length, the runtime reads no more than it (Node's HTTP parser, and
  // fetch, enforce it): read it whole, which adapters do without building a web stream.
  if (length !== null && /^\d+$/.test(length)) return decodeUtf8(new Uint8Array(await request.arrayBuffer()))
  if (!request.body) return ''
  const reader = request.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > max) {
      await reader.cancel()
      throw new ExecutorError('PAYLOAD_TOO_LARGE', `request body is larger than ${max} bytes`)
    }
    chunks.push(value)
  }
  const bytes = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    bytes.set(chunk, offset)
    offset += chunk.byteLength
  }
  return decodeUtf8(bytes)
}

const READS: ReadonlySet<unknown> = new Set(READ_OPS)

const utf8 = new TextDecoder('utf-8', { fatal: true })

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes)
  } catch {
    throw new ExecutorError('BAD_REQUEST', 'request body is not valid UTF-8')
  }
}

/**
 * The envelope's fields, checked: a known version, 1 to `maxBatch` queries (exactly one
 * for a stream; none when it only asks for the API's description), nothing else.
 */
export function checkEnvelope(body: unknown, limits: Limits): { queries: readonly unknown[]; atomic: boolean; stream: boolean; describe: boolean } {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ExecutorError('BAD_REQUEST', 'request must be { v, queries }')
  }
  const { v, queries, atomic, stream, describe, ...rest } = body as Record<string, unknown>
  if (v !== PROTOCOL_VERSION) {
    throw new ExecutorError('UNSUPPORTED_VERSION', `protocol version ${String(v)} is not supported; this executor speaks ${PROTOCOL_VERSION}`)
  }
  const extra = Object.keys(rest)[0]
  if (extra !== undefined) throw new ExecutorError('BAD_REQUEST', `unknown field "${extra.slice(0, 40)}" in request`)
  if (describe !== undefined && typeof describe !== 'boolean') throw new ExecutorError('BAD_REQUEST', 'describe must be a boolean')
  if (!Array.isArray(queries) || (queries.length === 0 && describe !== true)) {
    throw new ExecutorError('BAD_REQUEST', 'queries must be a non-empty array')
  }
  if (queries.length > limits.maxBatch) {
    throw new ExecutorError('LIMIT_EXCEEDED', `a request may carry at most ${limits.maxBatch} queries`)
  }
  if (atomic !== undefined && typeof atomic !== 'boolean') throw new ExecutorError('BAD_REQUEST', 'atomic must be a boolean')
  if (stream !== undefined && typeof stream !== 'boolean') throw new ExecutorError('BAD_REQUEST', 'stream must be a boolean')
  if (stream === true && (queries.length !== 1 || atomic === true || describe === true)) {
    throw new ExecutorError('BAD_REQUEST', 'a stream carries exactly one query, and is not atomic and asks for no description')
  }
  if (atomic === true && queries.length === 0) throw new ExecutorError('BAD_REQUEST', 'queries must be a non-empty array')
  // Before anything is validated: whether a write would pass its grant never shows in a description.
  if (describe === true && !queries.every((query) => READS.has((query as { op?: unknown } | null)?.op))) {
    throw new ExecutorError('BAD_REQUEST', 'describe is answered to requests of reads only: ask for it on its own or with reads')
  }
  return { queries, atomic: atomic === true, stream: stream === true, describe: describe === true }
}
