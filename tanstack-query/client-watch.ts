/**
 * What the integration follows of a client, through the client's request observer: the
 * API's description (asked for with the next read-only request, `describe: true`, and again
 * for another caller) and the writes each request may have applied.
 */
import type { ApiDescription } from '../shared/api-description.js'
import { CHANGING_OPS, type Query } from '../shared/query-ast.js'
import type { QueryResult } from '../shared/wire.js'
import { AsyncOrmError } from '../client/client-error.js'
import type { ClientLink, RequestObserver, SentRequest } from '../client/client-link.js'
import { asDescription } from './model-sets.js'

/** Whole-request failures after which writes may have been applied: their outcome is unknown. */
const UNKNOWN_OUTCOME: ReadonlySet<string> = new Set(['NETWORK_ERROR', 'ABORTED', 'INTERNAL'])
/** A gateway's answer (the edge proxy's too) when the executor's was lost or late. */
const GATEWAY_STATUSES: ReadonlySet<number> = new Set([502, 504])

export class ClientWatch implements RequestObserver {
  private readonly writeListeners = new Set<(writes: readonly Query[]) => void>()
  /** The last description answered, for whichever caller (what it leaves out counts as unknown). */
  private described: ApiDescription | undefined
  /** The caller it was answered to (their `authorization` header), `undefined` when it is to be asked for again. */
  private describedAs: string | undefined
  /** Asked for, and not answered yet; `carried` once a request took the question along. */
  private asking = false
  private carried = false
  /** The executor answered without a description, or refused the question: it is not asked again. */
  private declined = false

  constructor(private readonly link: ClientLink) {
    link.observe(this)
  }

  /** The last description answered (never waited for: without one, invalidation is conservative). */
  get description(): ApiDescription | undefined {
    return this.described
  }

  /** Asks for the description with the next request, unless it is known for this caller or asked for already. */
  ask(): void {
    if (this.declined || this.asking || (this.described && this.describedAs !== undefined)) return
    this.asking = true
    this.carried = false
    this.link.ping()
  }

  /** Calls `listener` with the writes (and calls) of every request that may have applied some, before its callers resume. */
  onWrites(listener: (writes: readonly Query[]) => void): void {
    this.writeListeners.add(listener)
  }

  extend(queries: readonly Query[]): object | undefined {
    // The executor answers the question on requests of reads only.
    if (!this.asking || this.carried || queries.some((query) => CHANGING_OPS.has(query.op))) return undefined
    this.carried = true
    return { describe: true }
  }

  settled(request: SentRequest): void {
    const caller = callerOf(request.headers)
    if ((request.extended as { describe?: boolean } | undefined)?.describe) {
      this.asking = false
      if (request.body) {
        const api = asDescription(request.body.api)
        if (api) [this.described, this.describedAs] = [api, caller]
        else this.declined = true
      } else if (request.error instanceof AsyncOrmError && (request.error.code === 'BAD_REQUEST' || request.error.code === 'LIMIT_EXCEEDED')) {
        // Refused with the question (an executor from before it, an answer it made too
        // large): the reads went again without it, and it is not asked again.
        this.declined = true
      }
    } else if (this.describedAs !== undefined && caller !== this.describedAs) {
      // Another caller: the description is asked for again when next needed.
      this.describedAs = undefined
    }
    this.wrote(request)
  }

  /** Tells the write listeners which writes of `request` may have been applied. */
  private wrote({ queries, atomic, body, error, attempted, unanswered }: SentRequest): void {
    if (this.writeListeners.size === 0) return
    const ok = (result: QueryResult | undefined) => result === undefined || !('error' in result)
    const applied: (index: number) => boolean = !body
      ? () => attempted && (unanswered || outcomeUnknown(error))
      : atomic
        ? // Applied whole, or rolled back whole.
          () => body.failed === undefined && body.results.every(ok)
        : (index) => ok(body.results[index])
    const writes = queries.filter((query, index) => CHANGING_OPS.has(query.op) && applied(index))
    if (writes.length === 0) return
    for (const listener of this.writeListeners) {
      try {
        listener(writes)
      } catch {
        // One listener's failure does not keep the others from hearing of the writes.
      }
    }
  }
}

/**
 * Whether writes in a request that failed as a whole may have been applied all the same:
 * no answer, an answer that was not the executor's (or a gateway's for a lost one), or
 * after an attempt that got none.
 */
function outcomeUnknown(error: unknown): boolean {
  return !(error instanceof AsyncOrmError) || UNKNOWN_OUTCOME.has(error.code) || GATEWAY_STATUSES.has(error.status)
}

/**
 * Who is calling, as far as the description depends on it: the `authorization` header. (A
 * session cookie is not seen: the description then stays the first caller's, which only
 * makes invalidation broader for another's models.)
 */
function callerOf(headers: HeadersInit | undefined): string {
  return headers === undefined ? '' : (new Headers(headers).get('authorization') ?? '')
}

const watches = new WeakMap<ClientLink, ClientWatch>()

/** The one watch of a client. */
export function watchOf(link: ClientLink): ClientWatch {
  let watch = watches.get(link)
  if (!watch) watches.set(link, (watch = new ClientWatch(link)))
  return watch
}
