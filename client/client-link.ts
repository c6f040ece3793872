/**
 * What a client offers integrations (`async-orm/tanstack-query`) beyond running queries:
 * its identity for cache keys, and a look at every request it sends. Not part of the
 * public API: integrations reach it through `LINK` on a queryset.
 */
import type { Query } from '../shared/query-ast.js'
import type { ResponseBody } from '../shared/wire.js'

/** One request as it went: its queries, what observers added, and how it ended. */
export interface SentRequest {
  readonly queries: readonly Query[]
  readonly atomic: boolean
  /** What observers added to its envelope. */
  readonly extended: object | undefined
  /** The app's own headers on its last attempt. */
  headers?: HeadersInit | undefined
  /** Whether an attempt left (a request that failed before may have changed nothing). */
  attempted: boolean
  /** Whether an attempt got no answer (its writes may have been applied). */
  unanswered: boolean
  /** The answer, when one was read. */
  body?: ResponseBody
  /** Why it failed, when it did. */
  error?: unknown
}

export interface RequestObserver {
  /**
   * Fields to add to the envelope of a request of `queries` (none: `undefined`). A request
   * of reads that the executor refuses whole (`BAD_REQUEST`, `LIMIT_EXCEEDED`) with them is
   * sent again without; the observer sees the refused request settle with that error.
   */
  extend?(queries: readonly Query[]): object | undefined
  /** After every request, answered or not, before its callers resume. */
  settled(request: SentRequest): void
}

export interface ClientLink {
  /** The executor's URL, which tells clients apart in a shared cache. */
  readonly url: string
  /** `query` as plain JSON data (a superjson document of the client's instance): part of a cache key. */
  plain(query: Query): unknown
  /** Shows every request to `observer`. */
  observe(observer: RequestObserver): void
  /** Sends a request without queries with the next batch, for what observers add, unless another request took it along. */
  ping(): void
}

/** The property a runnable queryset holds its client's link under. */
export const LINK = Symbol.for('async-orm.client-link')

/** The client link of a queryset, or `undefined` (a queryset of a transaction's scope). */
export function linkOf(value: unknown): ClientLink | undefined {
  return value !== null && typeof value === 'object' ? ((value as { [LINK]?: ClientLink })[LINK] ?? undefined) : undefined
}
