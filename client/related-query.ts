/**
 * `db.Person.relatedQuery('pets')`, with objection's meaning: the related rows of some
 * rows (`.for(ids)`), or, inside `select(…)`, an aggregate of each row's related rows
 * (`.count().as('petCount')`). Filters on it (`where…`) narrow the related rows.
 */
import type { AggregateFunction, Filter, RelationAggregate, Scalar } from '../shared/query-ast.js'
import { FilterBuilder, type RelatedRows } from './filter-builder.js'
import { initialState, termsToFilter } from './query-state.js'
import { RelatedQuerySet } from './queryset.js'
import type { Runner } from './runnable.js'
import { failSoftly } from './soft-fail.js'
import type { AvgValue, ColumnOf, ModelName, RowOf, SumValue, ValueOf } from './types.js'
import type { IdValue } from './types.js'

/** An aggregate of related rows, to pass to `select()`; `.as(alias)` names it. */
export class RelationAggregateSelection<Alias extends string, Value> {
  declare readonly '~value': Value
  /** @internal */
  constructor(
    readonly node: Omit<RelationAggregate, 'alias'> & { readonly alias: Alias },
    /** @internal The first error met while building it, if any. */
    readonly failure?: string,
  ) {}

  /** The key the aggregate has in each row. */
  as<A extends string>(alias: A): RelationAggregateSelection<A, Value> {
    return new RelationAggregateSelection({ ...this.node, alias }, this.failure)
  }
}


export class RelatedQuery<Api, K extends ModelName<Api>, T extends ModelName<Api>> extends FilterBuilder<Api, T> implements RelatedRows<K> {
  declare readonly '~owner'?: K

  /** @internal */
  constructor(
    private readonly owner: K,
    private readonly relation: string,
    private readonly runner: Runner | undefined,
  ) {
    super(initialState(''))
  }

  /**
   * The related rows of the rows with these ids (a composite id is an array), under both
   * models' read policies: ids the caller cannot see have no related rows.
   *
   * @example
   * db.Person.relatedQuery('pets').for(1).where('species', 'dog')
   * // select … from animals where exists (select 1 from persons where id in (1) and persons.id = animals.owner_id) and species = 'dog'
   */
  for(ids: IdValue | readonly (IdValue | readonly IdValue[])[]): RelatedQuerySet<Api, T> {
    const list = (Array.isArray(ids) ? ids : [ids]) as readonly (Scalar | readonly Scalar[])[]
    const state = { ...initialState(this.owner), relatedTo: { relation: this.relation, ids: list }, terms: this.state.terms }
    const qs = new RelatedQuerySet<Api, T>(state, this.runner)
    return this.state.failure === undefined ? qs : qs.failedWith(new Error(this.state.failure))
  }

  /** @internal The relation filter `whereExists(relatedQuery)` makes of it. */
  toExists(): { readonly relation: string; readonly where?: Filter } {
    if (this.state.failure !== undefined) throw new TypeError(this.state.failure)
    const where = termsToFilter(this.state.terms)
    return { relation: this.relation, ...(where && { where }) }
  }

  /** The number of related rows (`count('col')`: of non-null values of `col`). */
  count(column?: ColumnOf<Api, T>): RelationAggregateSelection<'count', number> {
    return this.aggregate('count', column, false)
  }
  countDistinct(column: ColumnOf<Api, T>): RelationAggregateSelection<'count', number> {
    return this.aggregate('count', column, true)
  }
  sum<C extends ColumnOf<Api, T>>(column: C): RelationAggregateSelection<'sum', SumValue<ValueOf<Api, T, C>>> {
    return this.aggregate('sum', column, false)
  }
  avg<C extends ColumnOf<Api, T>>(column: C): RelationAggregateSelection<'avg', AvgValue<ValueOf<Api, T, C>>> {
    return this.aggregate('avg', column, false)
  }
  min<C extends ColumnOf<Api, T>>(column: C): RelationAggregateSelection<'min', ValueOf<Api, T, C> | null> {
    return this.aggregate('min', column, false)
  }
  max<C extends ColumnOf<Api, T>>(column: C): RelationAggregateSelection<'max', ValueOf<Api, T, C> | null> {
    return this.aggregate('max', column, false)
  }

  private aggregate<F extends AggregateFunction>(fn: F, column: string | undefined, distinct: boolean): RelationAggregateSelection<F, never> {
    const where = termsToFilter(this.state.terms)
    const node = { relation: this.relation, fn, alias: fn, ...(column !== undefined && { column }), ...(distinct && { distinct }), ...(where && { where }) }
    return new RelationAggregateSelection(node, this.state.failure)
  }
}

failSoftly(RelatedQuery)

/** Row keys and value types of the relation aggregates in a select list. */
export type AggregatesOf<X> = {
  [S in X as S extends RelationAggregateSelection<infer Alias, unknown> ? Alias : never]: S extends RelationAggregateSelection<string, infer V> ? V : never
}

export type { RowOf }
