/**
 * What a client offers integrations (`async-orm/tanstack-query`) beyond running queries:
 * its identity for cache keys, the API's description, and a signal after every write. Not
 * part of the public API: integrations reach it through `LINK` on a queryset.
 */
import type { ApiDescription } from '../shared/api-description.js'
import type { Query } from '../shared/query-ast.js'

export interface ClientLink {
  /** The executor's URL, which tells clients apart in a shared cache. */
  readonly url: string
  /** `query` as plain JSON data (a superjson document of the client's instance): part of a cache key. */
  plain(query: Query): unknown
  /**
   * The API as this caller may see it, asked for once with the next read-only request
   * (`describe: true`); `undefined` when the executor does not describe it or the request
   * failed (asked again next time).
   */
  describe(): Promise<ApiDescription | undefined>
  /**
   * Calls `listener` with the writes (and procedure calls) of every request that may have
   * applied some, as soon as its answer is known and before its callers resume: what the
   * executor applied, or all of them when the outcome is unknown. Returns an unsubscribe.
   */
  onWrites(listener: (writes: readonly Query[]) => void): () => void
}

/** The property a runnable queryset holds its client's link under. */
export const LINK = Symbol.for('async-orm.client-link')

/** The client link of a queryset, or `undefined` (a queryset of a transaction's scope). */
export function linkOf(value: unknown): ClientLink | undefined {
  return value !== null && typeof value === 'object' ? ((value as { [LINK]?: ClientLink })[LINK] ?? undefined) : undefined
}
