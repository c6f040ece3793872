/**
 * What the integration follows of a client, through the client's request observer: the
 * API's description (asked for with the next read-only request, `describe: true`, and again
 * once the app sends other headers) and the writes each request may have applied.
 */
import type { ApiDescription } from '../shared/api-description.js'
import { WRITE_OPS, type Query } from '../shared/query-ast.js'
import type { QueryResult } from '../shared/wire.js'
import { AsyncOrmError } from '../client/client-error.js'
import type { ClientLink, RequestObserver, SentRequest } from '../client/client-link.js'
import { asDescription } from '../client/model-sets.js'

const MUTATIONS: ReadonlySet<string> = new Set([...WRITE_OPS, 'call'])

/** Whole-request failures after which writes may have been applied: their outcome is unknown. */
const UNKNOWN_OUTCOME: ReadonlySet<string> = new Set(['NETWORK_ERROR', 'ABORTED', 'INTERNAL'])

export class ClientWatch implements RequestObserver {
  private readonly writeListeners = new Set<(writes: readonly Query[]) => void>()
  /** The description for the current caller: asked for, or known. */
  private description: Promise<ApiDescription | undefined> | undefined
  /** The last description answered, to whichever caller. */
  private described: ApiDescription | undefined
  /** The app's headers on the request the description answered. */
  private describedAs: string | undefined
  /** Set while the description is asked for, until a request has carried the question (`asked`) and been answered. */
  private answer: ((api: ApiDescription | undefined, answered: boolean) => void) | undefined
  private asked = false

  constructor(private readonly link: ClientLink) {
    link.observe(this)
  }

  /**
   * The API as the caller may see it, asked for once with the next read-only request;
   * `undefined` when the executor does not describe it (or the request failed: asked again
   * next time). After another caller's headers, the last answer serves while the question
   * goes out again (what it leaves out counts as unknown).
   */
  describe(): Promise<ApiDescription | undefined> {
    if (this.description) return this.description
    this.description = new Promise((resolve) => {
      this.answer = (api, answered) => {
        this.answer = undefined
        if (!answered) this.description = undefined
        if (api) this.described = api
        resolve(api)
      }
    })
    this.asked = false
    this.link.ping()
    return this.described ? Promise.resolve(this.described) : this.description
  }

  /** Calls `listener` with the writes (and calls) of every request that may have applied some, before its callers resume. */
  onWrites(listener: (writes: readonly Query[]) => void): () => void {
    this.writeListeners.add(listener)
    return () => void this.writeListeners.delete(listener)
  }

  extend(queries: readonly Query[]): object | undefined {
    // The executor answers the question with reads only.
    if (!this.answer || this.asked || queries.some((query) => MUTATIONS.has(query.op))) return undefined
    this.asked = true
    return { describe: true }
  }

  settled(request: SentRequest): void {
    const caller = request.headers === undefined ? '' : JSON.stringify([...new Headers(request.headers)])
    if ((request.extended as { describe?: boolean } | undefined)?.describe) {
      if (request.body) this.describedAs = caller
      this.answer?.(asDescription(request.body?.api), request.body !== undefined)
    } else if (this.describedAs !== undefined && caller !== this.describedAs) {
      // Another caller: its description is asked for when next needed.
      this.description = this.describedAs = undefined
    }
    this.wrote(request)
  }

  /** Tells the write listeners which writes of `request` may have been applied. */
  private wrote({ queries, atomic, body, error, unanswered }: SentRequest): void {
    if (this.writeListeners.size === 0) return
    const ok = (result: QueryResult | undefined) => result === undefined || !('error' in result)
    const applied: (index: number) => boolean = !body
      ? // After an attempt that got no answer, any failure leaves the outcome unknown.
        () => unanswered || !(error instanceof AsyncOrmError) || UNKNOWN_OUTCOME.has(error.code)
      : atomic
        ? // Applied whole, or rolled back whole.
          () => body.failed === undefined && body.results.every(ok)
        : (index) => ok(body.results[index])
    const writes = queries.filter((query, index) => MUTATIONS.has(query.op) && applied(index))
    if (writes.length === 0) return
    for (const listener of this.writeListeners) {
      try {
        listener(writes)
      } catch {
        // A listener's failure is its own: the write's callers still get their answers.
      }
    }
  }
}

const watches = new WeakMap<ClientLink, ClientWatch>()

/** The one watch of a client. */
export function watchOf(link: ClientLink): ClientWatch {
  let watch = watches.get(link)
  if (!watch) watches.set(link, (watch = new ClientWatch(link)))
  return watch
}
