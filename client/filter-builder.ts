/**
 * The `where…` family, with objection's names and semantics. Shared by querysets, by
 * grouping callbacks (`where(q => q.where(…).orWhere(…))`) and by relation filters.
 */
import { COMPARISON_OPERATORS, type ComparisonOperator, type Filter, type Scalar } from '../shared/query-ast.js'
import { Deferred } from './deferred.js'
import { failSoftly, messageOf } from './soft-fail.js'
import { initialState, termsToFilter, type QueryState } from './query-state.js'
import type { ModifierArgsOf, ModifierNameOf, RefOf, RefValueOf, RelationNameOf, TargetOf, WhereObject } from './types.js'

/** Operators `where(column, op, value)` accepts. */
export type Operator = ComparisonOperator | 'in' | 'not in'

const OPERATORS = new Set<string>([...COMPARISON_OPERATORS, 'in', 'not in'])

type Group<Api, K extends keyof Api & string> = (q: FilterBuilder<Api, K>) => FilterBuilder<Api, K>

/**
 * A filter on model `K`. On its own (the `q` of a grouping callback) it cannot run;
 * querysets extend it and run (`Out` is what they resolve to).
 */
export class FilterBuilder<Api, K extends keyof Api & string, Out = never> extends Deferred<Out> {
  /** @internal */
  constructor(readonly state: QueryState) {
    super()
  }

  fetch(): Promise<Out> {
    return Promise.reject(new TypeError('a filter group cannot run on its own'))
  }

  /** @internal This builder, failing with `error` when it runs (see `soft-fail.ts`). */
  failedWith(error: unknown): this {
    return this.with({ failure: messageOf(error) })
  }

  /** @internal Makes a copy of this builder (of the same class) with `patch` applied. */
  protected with(patch: Partial<QueryState>): this {
    const Class = this.constructor as new (...args: unknown[]) => this
    const copy = Object.create(Class.prototype) as this
    Object.assign(copy, this, { state: { ...this.state, ...patch } })
    return copy
  }

  private add(or: boolean, filter: Filter): this {
    return this.with({ terms: [...this.state.terms, { or, filter }] })
  }

  /**
   * Narrows the rows to those the model's named modifier selects (objection's
   * `static modifiers`), ANDed with the previous filters. The API must list the modifier
   * (`expose(Model, { modifiers: { onlyDogs: true } })`), which checks the arguments.
   * Its where clauses, joins and subqueries apply; what it selects or orders by does not.
   *
   * @example
   * db.Person.query().modify('searchByName', 'jen')
   */
  modify<N extends ModifierNameOf<Api, K>>(name: N, ...args: ModifierArgsOf<Api, K, N>): this {
    return this.add(false, { kind: 'modifier', name, ...(args.length > 0 && { args: args as readonly unknown[] }) })
  }

  /**
   * Adds a filter in its wire form (the query AST), ANDed with the previous ones. Column
   * names are not type-checked here; the executor validates them as always.
   */
  whereFilter(filter: Filter): this {
    return this.add(false, filter)
  }

  /**
   * Adds a condition, ANDed with the previous ones.
   *
   * @example
   * q.where('name', 'Ann')              // name = 'Ann'
   * q.where('age', '>=', 18)            // age >= 18
   * q.where({ name: 'Ann', orgId: 2 })  // name = 'Ann' and org_id = 2
   * q.where((g) => g.where('a', 1).orWhere('b', 2)) // (a = 1 or b = 2)
   */
  where(filter: WhereObject<Api, K> | Group<Api, K>): this
  where<C extends RefOf<Api, K>>(column: C, value: RefValueOf<Api, K, C> | null): this
  where<C extends RefOf<Api, K>>(column: C, op: Operator, value: RefValueOf<Api, K, C> | string | null | readonly RefValueOf<Api, K, C>[]): this
  where(...args: unknown[]): this {
    return this.add(false, this.parse(args))
  }

  /** Same as `where`. */
  andWhere(filter: WhereObject<Api, K> | Group<Api, K>): this
  andWhere<C extends RefOf<Api, K>>(column: C, value: RefValueOf<Api, K, C> | null): this
  andWhere<C extends RefOf<Api, K>>(column: C, op: Operator, value: RefValueOf<Api, K, C> | string | null | readonly RefValueOf<Api, K, C>[]): this
  andWhere(...args: unknown[]): this {
    return this.add(false, this.parse(args))
  }

  /** Adds a condition ORed with the previous ones (AND binds tighter, as in SQL). */
  orWhere(filter: WhereObject<Api, K> | Group<Api, K>): this
  orWhere<C extends RefOf<Api, K>>(column: C, value: RefValueOf<Api, K, C> | null): this
  orWhere<C extends RefOf<Api, K>>(column: C, op: Operator, value: RefValueOf<Api, K, C> | string | null | readonly RefValueOf<Api, K, C>[]): this
  orWhere(...args: unknown[]): this {
    return this.add(true, this.parse(args))
  }

  /** Adds `not (condition)`. */
  whereNot(filter: WhereObject<Api, K> | Group<Api, K>): this
  whereNot<C extends RefOf<Api, K>>(column: C, value: RefValueOf<Api, K, C> | null): this
  whereNot<C extends RefOf<Api, K>>(column: C, op: Operator, value: RefValueOf<Api, K, C> | string | null | readonly RefValueOf<Api, K, C>[]): this
  whereNot(...args: unknown[]): this {
    return this.add(false, { kind: 'not', filter: this.parse(args) })
  }

  orWhereNot(filter: WhereObject<Api, K> | Group<Api, K>): this
  orWhereNot<C extends RefOf<Api, K>>(column: C, value: RefValueOf<Api, K, C> | null): this
  orWhereNot<C extends RefOf<Api, K>>(column: C, op: Operator, value: RefValueOf<Api, K, C> | string | null | readonly RefValueOf<Api, K, C>[]): this
  orWhereNot(...args: unknown[]): this {
    return this.add(true, { kind: 'not', filter: this.parse(args) })
  }

  whereIn<C extends RefOf<Api, K>>(column: C, values: readonly RefValueOf<Api, K, C>[]): this {
    return this.add(false, inFilter(column, values, false))
  }
  orWhereIn<C extends RefOf<Api, K>>(column: C, values: readonly RefValueOf<Api, K, C>[]): this {
    return this.add(true, inFilter(column, values, false))
  }
  whereNotIn<C extends RefOf<Api, K>>(column: C, values: readonly RefValueOf<Api, K, C>[]): this {
    return this.add(false, inFilter(column, values, true))
  }
  orWhereNotIn<C extends RefOf<Api, K>>(column: C, values: readonly RefValueOf<Api, K, C>[]): this {
    return this.add(true, inFilter(column, values, true))
  }

  whereNull(column: RefOf<Api, K>): this {
    return this.add(false, { kind: 'null', column })
  }
  orWhereNull(column: RefOf<Api, K>): this {
    return this.add(true, { kind: 'null', column })
  }
  whereNotNull(column: RefOf<Api, K>): this {
    return this.add(false, { kind: 'null', column, negated: true })
  }
  orWhereNotNull(column: RefOf<Api, K>): this {
    return this.add(true, { kind: 'null', column, negated: true })
  }

  /** `column between low and high` (both ends included). */
  whereBetween<C extends RefOf<Api, K>>(column: C, range: readonly [RefValueOf<Api, K, C>, RefValueOf<Api, K, C>]): this {
    return this.add(false, betweenFilter(column, range, false))
  }
  orWhereBetween<C extends RefOf<Api, K>>(column: C, range: readonly [RefValueOf<Api, K, C>, RefValueOf<Api, K, C>]): this {
    return this.add(true, betweenFilter(column, range, false))
  }
  whereNotBetween<C extends RefOf<Api, K>>(column: C, range: readonly [RefValueOf<Api, K, C>, RefValueOf<Api, K, C>]): this {
    return this.add(false, betweenFilter(column, range, true))
  }
  orWhereNotBetween<C extends RefOf<Api, K>>(column: C, range: readonly [RefValueOf<Api, K, C>, RefValueOf<Api, K, C>]): this {
    return this.add(true, betweenFilter(column, range, true))
  }

  /** `column like pattern` (`%` any run, `_` one character). */
  whereLike(column: RefOf<Api, K>, pattern: string): this {
    return this.add(false, compare(column, 'like', pattern))
  }
  orWhereLike(column: RefOf<Api, K>, pattern: string): this {
    return this.add(true, compare(column, 'like', pattern))
  }
  /** Case-insensitive `whereLike`. */
  whereILike(column: RefOf<Api, K>, pattern: string): this {
    return this.add(false, compare(column, 'ilike', pattern))
  }
  orWhereILike(column: RefOf<Api, K>, pattern: string): this {
    return this.add(true, compare(column, 'ilike', pattern))
  }

  /**
   * Rows with at least one related row (matching `filter` if given); the related model's
   * own read policy applies.
   *
   * @example
   * db.User.query().whereExists('posts', (p) => p.where('title', 'Hello'))
   * // where exists (select 1 from posts p where p.author_id = users.id and p.title = 'Hello')
   */
  whereExists<R extends RelationNameOf<Api, K>>(relation: R, filter?: Group<Api, TargetOf<Api, K, R>>): this
  /** objection's form: `whereExists(db.User.relatedQuery('posts').where('title', 'Hello'))`. */
  whereExists(related: RelatedRows<K>): this
  whereExists(relation: string | RelatedRows<K>, filter?: Group<never, never>): this {
    return this.add(false, exists(relation, filter, false))
  }
  orWhereExists<R extends RelationNameOf<Api, K>>(relation: R, filter?: Group<Api, TargetOf<Api, K, R>>): this
  orWhereExists(related: RelatedRows<K>): this
  orWhereExists(relation: string | RelatedRows<K>, filter?: Group<never, never>): this {
    return this.add(true, exists(relation, filter, false))
  }
  /** Rows with no related row (matching `filter` if given). */
  whereNotExists<R extends RelationNameOf<Api, K>>(relation: R, filter?: Group<Api, TargetOf<Api, K, R>>): this
  whereNotExists(related: RelatedRows<K>): this
  whereNotExists(relation: string | RelatedRows<K>, filter?: Group<never, never>): this {
    return this.add(false, exists(relation, filter, true))
  }
  orWhereNotExists<R extends RelationNameOf<Api, K>>(relation: R, filter?: Group<Api, TargetOf<Api, K, R>>): this
  orWhereNotExists(related: RelatedRows<K>): this
  orWhereNotExists(relation: string | RelatedRows<K>, filter?: Group<never, never>): this {
    return this.add(true, exists(relation, filter, true))
  }

  private parse(args: unknown[]): Filter {
    if (args.length === 1) {
      const [arg] = args
      if (typeof arg === 'function') return group(arg as Group<Api, K>)
      if (arg !== null && typeof arg === 'object' && !Array.isArray(arg)) {
        const filters = Object.keys(arg).map((column) => equals(column, (arg as Record<string, unknown>)[column]))
        return filters.length === 1 ? filters[0]! : { kind: 'and', filters }
      }
      throw new TypeError('where() takes an object, a callback, (column, value) or (column, operator, value)')
    }
    if (args.length === 2) return equals(columnName(args[0]), args[1])
    if (args.length === 3) {
      const [column, op, value] = args
      if (typeof op !== 'string' || !OPERATORS.has(op.toLowerCase())) throw new TypeError(`unknown operator ${String(op)}`)
      const operator = op.toLowerCase() as Operator
      const name = columnName(column)
      if (operator === 'in' || operator === 'not in') {
        if (!Array.isArray(value)) throw new TypeError(`"${operator}" needs an array`)
        return inFilter(name, value, operator === 'not in')
      }
      if (value === null) {
        if (operator === '=') return { kind: 'null', column: name }
        if (operator === '!=' || operator === '<>') return { kind: 'null', column: name, negated: true }
      }
      return compare(name, operator, value)
    }
    throw new TypeError('where() takes one to three arguments')
  }
}

function group<Api, K extends keyof Api & string>(build: Group<Api, K>): Filter {
  const built = build(new FilterBuilder<Api, K>(initialState('')))
  if (!(built instanceof FilterBuilder)) throw new TypeError('a where() callback must return the builder it was given')
  return termsToFilter(built.state.terms) ?? { kind: 'and', filters: [] }
}

function exists(relation: string | RelatedRows<string>, build: Group<never, never> | undefined, negated: boolean): Filter {
  if (typeof relation !== 'string') {
    const related = relation.toExists()
    return { kind: 'exists', relation: related.relation, ...(related.where && { where: related.where }), ...(negated && { negated }) }
  }
  const where = build ? group(build) : undefined
  return { kind: 'exists', relation, ...(where && { where }), ...(negated && { negated }) }
}

/** The related rows of a model's rows (`db.User.relatedQuery('posts')`), as a relation filter. */
export interface RelatedRows<Owner extends string> {
  readonly '~owner'?: Owner
  /** @internal */
  toExists(): { readonly relation: string; readonly where?: Filter }
}

function equals(column: string, value: unknown): Filter {
  if (value === null) return { kind: 'null', column }
  if (Array.isArray(value)) return inFilter(column, value, false)
  return compare(column, '=', value)
}

function compare(column: string, op: ComparisonOperator, value: unknown): Filter {
  return { kind: 'compare', column, op, value: scalar(value, column) }
}

function inFilter(column: string, values: readonly unknown[], negated: boolean): Filter {
  return { kind: 'in', column, values: values.map((v) => scalar(v, column)), ...(negated && { negated }) }
}

function betweenFilter(column: string, range: readonly unknown[], negated: boolean): Filter {
  if (range.length !== 2) throw new TypeError('whereBetween() takes [low, high]')
  return { kind: 'between', column, low: scalar(range[0], column), high: scalar(range[1], column), ...(negated && { negated }) }
}

function columnName(column: unknown): string {
  if (typeof column !== 'string') throw new TypeError('a column name must be a string')
  return column
}

/** `undefined` is refused, as objection does: a missing value must not silently drop a filter. */
function scalar(value: unknown, column: string): Scalar {
  if (value === undefined) throw new TypeError(`undefined value for column "${column}"`)
  return value as Scalar
}

failSoftly(FilterBuilder)
