/**
 * What every runnable queryset shares: running it (`await`, `fetch()`, `execute(cb)`),
 * its wire form (`toJSON()`), ordering and limits.
 */
import type { OrderTerm, Query } from '../shared/query-ast.js'
import type { RunOptions } from './deferred.js'
import { FilterBuilder } from './filter-builder.js'
import { buildError, failSoftly } from './soft-fail.js'
import { toQuery, type QueryState } from './query-state.js'
import type { RefOf } from './types.js'
import { LINK, type ClientLink } from './client-link.js'

/**
 * Sends one query and resolves with its data; `stream` sends a select as a stream and
 * yields its rows; `link` is what integrations need of the client.
 */
export type Runner = ((query: Query, signal?: AbortSignal) => Promise<unknown>) & {
  readonly stream?: (query: Query, signal?: AbortSignal) => AsyncIterable<unknown>
  readonly link?: ClientLink
}

export type { RunOptions }

export abstract class Runnable<Api, K extends keyof Api & string, Out> extends FilterBuilder<Api, K, Out> {
  /** @internal */
  constructor(
    state: QueryState,
    /** @internal */
    readonly runner: Runner | undefined,
  ) {
    super(state)
  }

  /** @internal The client this queryset runs on, for integrations. */
  get [LINK](): ClientLink | undefined {
    return this.runner?.link
  }

  /** The wire form of this query: plain data, safe to log and compare. */
  toJSON(): Query {
    return toQuery(this.state)
  }

  /** Runs the query. */
  override fetch(options: RunOptions = {}): Promise<Out> {
    if (this.state.failure !== undefined) return Promise.reject(buildError(this.state.failure))
    if (!this.runner) {
      return Promise.reject(new TypeError('this queryset describes a relation or a group; it cannot run on its own'))
    }
    return this.runner(this.toJSON(), options.signal) as Promise<Out>
  }

  /** Orders by a column; call again for further keys. */
  orderBy(column: RefOf<Api, K>, direction?: 'asc' | 'desc', nulls?: 'first' | 'last'): this
  /** Orders by several columns: `[{ column: 'name' }, { column: 'id', order: 'desc' }]`. */
  orderBy(terms: readonly { column: RefOf<Api, K>; order?: 'asc' | 'desc'; nulls?: 'first' | 'last' }[]): this
  orderBy(
    column: string | readonly { column: string; order?: 'asc' | 'desc'; nulls?: 'first' | 'last' }[],
    direction: 'asc' | 'desc' = 'asc',
    nulls?: 'first' | 'last',
  ): this {
    const terms = typeof column === 'string' ? [{ column, order: direction, nulls }] : column
    const added = terms.map((t): OrderTerm => orderTerm(t.column, t.order ?? 'asc', t.nulls))
    return this.with({ orderBy: [...this.state.orderBy, ...added] })
  }

  /**
   * Lets an edge proxy in front of the executor answer this read from its cache for
   * `ttl` seconds, and stale for `swr` more while it refreshes; writes through the proxy
   * invalidate it. Without a proxy it changes nothing.
   */
  cache(options: { ttl: number; swr?: number }): this {
    return this.with({ cache: options })
  }

  limit(count: number): this {
    return this.with({ limit: count })
  }

  offset(count: number): this {
    return this.with({ offset: count })
  }
}

failSoftly(Runnable)

function orderTerm(column: string, direction: string, nulls: 'first' | 'last' | undefined): OrderTerm {
  const dir = direction.toLowerCase()
  if (dir !== 'asc' && dir !== 'desc') throw new TypeError(`order direction must be "asc" or "desc", not "${direction}"`)
  return { column, direction: dir, ...(nulls && { nulls }) }
}
