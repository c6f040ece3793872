/**
 * The Django-style facade of django-async-orm, over the same AST:
 * `db.User.objects.filter({ age__gte: 18 }).exclude({ name: 'Bob' }).orderBy('-createdAt').slice(0, 5)`.
 */
import { LINK, type ClientLink } from './client-link.js'
import type { ComparisonOperator, Filter, Scalar } from '../shared/query-ast.js'
import { AsyncOrmError } from './client-error.js'
import type { QuerySet } from './queryset.js'
import { Deferred, type RunOptions } from './deferred.js'
import { failSoftly } from './soft-fail.js'
import type { ColumnOf, RowOf, ValueOf } from './types.js'

type TextLookup = 'iexact' | 'contains' | 'icontains' | 'startswith' | 'istartswith' | 'endswith' | 'iendswith'
type OrderLookup = 'gt' | 'gte' | 'lt' | 'lte'

/**
 * Django lookups on the model's readable columns: `name`, `name__exact`, `name__icontains`,
 * `age__gte`, `id__in`, `deletedAt__isnull`, `createdAt__range`. A key with more parts
 * (`posts__title__icontains`) filters through relations and is checked by the executor.
 */
export type Lookups<Api, K extends keyof Api & string> = {
  readonly [C in ColumnOf<Api, K> as C | `${C}__exact`]?: ValueOf<Api, K, C> | null
} & { readonly [C in ColumnOf<Api, K> as `${C}__${TextLookup}`]?: string } & {
  readonly [C in ColumnOf<Api, K> as `${C}__${OrderLookup}`]?: ValueOf<Api, K, C>
} & { readonly [C in ColumnOf<Api, K> as `${C}__in`]?: readonly ValueOf<Api, K, C>[] } & {
  readonly [C in ColumnOf<Api, K> as `${C}__isnull`]?: boolean
} & { readonly [C in ColumnOf<Api, K> as `${C}__range`]?: readonly [ValueOf<Api, K, C>, ValueOf<Api, K, C>] } & {
  readonly [relationLookup: `${string}__${string}__${string}`]: unknown
}

type OrderField<Api, K extends keyof Api & string> = ColumnOf<Api, K> | `-${ColumnOf<Api, K>}`

const LOOKUPS = new Set(['exact', 'in', 'isnull', 'range', 'gt', 'gte', 'lt', 'lte', 'iexact', 'contains', 'icontains', 'startswith', 'istartswith', 'endswith', 'iendswith'])

export class DjangoQuerySet<Api, K extends keyof Api & string> extends Deferred<RowOf<Api, K>[]> {
  /** @internal */
  constructor(
    private readonly name: K,
    private readonly qs: QuerySet<Api, K>,
  ) {
    super()
  }

  private next(qs: QuerySet<Api, K>): DjangoQuerySet<Api, K> {
    return new DjangoQuerySet(this.name, qs)
  }

  /** @internal The state of the queryset underneath (see `soft-fail.ts`). */
  get state(): QuerySet<Api, K>['state'] {
    return this.qs.state
  }

  /** @internal This queryset, failing with `error` when it runs. */
  failedWith(error: unknown): DjangoQuerySet<Api, K> {
    return this.next(this.qs.failedWith(error))
  }

  /** Rows matching every lookup. */
  filter(lookups: Lookups<Api, K>): DjangoQuerySet<Api, K> {
    return this.next(this.qs.whereFilter(conjunction(lookups)))
  }

  /** Rows not matching all of the lookups together. */
  exclude(lookups: Lookups<Api, K>): DjangoQuerySet<Api, K> {
    return this.next(this.qs.whereFilter({ kind: 'not', filter: conjunction(lookups) }))
  }

  /** `'name'` ascending, `'-createdAt'` descending. */
  orderBy(...fields: OrderField<Api, K>[]): DjangoQuerySet<Api, K> {
    let qs = this.qs
    for (const field of fields as string[]) {
      qs = field.startsWith('-')
        ? qs.orderBy(field.slice(1) as ColumnOf<Api, K>, 'desc')
        : qs.orderBy(field as ColumnOf<Api, K>, 'asc')
    }
    return this.next(qs)
  }

  /** Python's `qs[start:end]`: rows `start` up to, not including, `end`. */
  slice(start: number, end?: number): DjangoQuerySet<Api, K> {
    if (start < 0 || (end !== undefined && end < start)) throw new TypeError('slice() takes 0 <= start <= end')
    let qs = this.qs.offset(start)
    if (end !== undefined) qs = qs.limit(end - start)
    return this.next(qs)
  }

  all(): DjangoQuerySet<Api, K> {
    return this
  }

  /** The only row matching `lookups`; `NOT_FOUND` if none, `BAD_REQUEST` if several. */
  async get(lookups?: Lookups<Api, K>, options?: RunOptions): Promise<RowOf<Api, K>> {
    const rows = (await (lookups ? this.filter(lookups) : this).qs.limit(2).fetch(options)) as RowOf<Api, K>[]
    if (rows.length === 0) throw new AsyncOrmError({ code: 'NOT_FOUND', message: `${this.name} matching query does not exist` })
    if (rows.length > 1) throw new AsyncOrmError({ code: 'BAD_REQUEST', message: `get() returned more than one ${this.name}` })
    return rows[0]!
  }

  first(options?: RunOptions): Promise<RowOf<Api, K> | undefined> {
    return this.qs.first().fetch(options) as Promise<RowOf<Api, K> | undefined>
  }

  count(options?: RunOptions): Promise<number> {
    return this.qs.resultSize().fetch(options)
  }

  exists(options?: RunOptions): Promise<boolean> {
    return this.qs.exists().fetch(options)
  }

  /** The objection-style queryset underneath, for anything the facade lacks. */
  query(): QuerySet<Api, K> {
    return this.qs
  }

  toJSON() {
    return this.qs.toJSON()
  }

  /** @internal The client this queryset runs on, for integrations. */
  get [LINK](): ClientLink | undefined {
    return this.qs[LINK]
  }

  override fetch(options?: RunOptions): Promise<RowOf<Api, K>[]> {
    return this.qs.fetch(options) as Promise<RowOf<Api, K>[]>
  }

  /** The rows as they arrive (see `QuerySet.stream()`). */
  stream(options?: RunOptions): AsyncGenerator<RowOf<Api, K>, void, undefined> {
    return this.qs.stream(options) as AsyncGenerator<RowOf<Api, K>, void, undefined>
  }
}

function conjunction(lookups: object): Filter {
  const filters = Object.keys(lookups).map((key) => lookupFilter(key, (lookups as Record<string, unknown>)[key]))
  return filters.length === 1 ? filters[0]! : { kind: 'and', filters }
}

/** `posts__title__icontains: 'x'` → exists(posts, title ilike '%x%'). */
export function lookupFilter(key: string, value: unknown): Filter {
  if (value === undefined) throw new TypeError(`undefined value for lookup "${key}"`)
  const parts = key.split('__')
  const last = parts[parts.length - 1]!
  const lookup = parts.length > 1 && LOOKUPS.has(last) ? parts.pop()! : 'exact'
  const column = parts.pop()!
  let filter = columnLookup(column, lookup, value)
  while (parts.length > 0) filter = { kind: 'exists', relation: parts.pop()!, where: filter }
  return filter
}

/** Lookups that compare: the operator, and for text lookups the wildcards around the value. */
const COMPARE: Record<string, readonly [ComparisonOperator, string?, string?]> = {
  gt: ['>'],
  gte: ['>='],
  lt: ['<'],
  lte: ['<='],
  iexact: ['ilike', '', ''],
  contains: ['like', '%', '%'],
  icontains: ['ilike', '%', '%'],
  startswith: ['like', '', '%'],
  istartswith: ['ilike', '', '%'],
  endswith: ['like', '%', ''],
  iendswith: ['ilike', '%', ''],
}

function columnLookup(column: string, lookup: string, value: unknown): Filter {
  const scalar = value as Scalar
  const compare = COMPARE[lookup]
  if (compare) {
    const [op, before, after] = compare
    if (before === undefined) return { kind: 'compare', column, op, value: scalar }
    if (typeof value !== 'string') throw new TypeError(`${lookup} needs a string`)
    return { kind: 'compare', column, op, value: before + escapeLike(value) + after! }
  }
  if (lookup === 'exact') return value === null ? { kind: 'null', column } : { kind: 'compare', column, op: '=', value: scalar }
  if (lookup === 'isnull') return { kind: 'null', column, ...(value === false && { negated: true }) }
  if (!Array.isArray(value)) throw new TypeError(`${column}__${lookup} needs an array`)
  if (lookup === 'in') return { kind: 'in', column, values: value as Scalar[] }
  if (value.length !== 2) throw new TypeError(`${column}__range needs [low, high]`)
  return { kind: 'between', column, low: value[0] as Scalar, high: value[1] as Scalar }
}

/** Makes `%`, `_` and `\` match themselves (PostgreSQL's default LIKE escape is `\`). */
function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, (c) => `\\${c}`)
}

failSoftly(DjangoQuerySet)
