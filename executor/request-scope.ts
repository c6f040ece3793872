/**
 * What one request's queries share while they run: the caller's context, the row
 * policies it yields (evaluated at most once per policy), fresh table aliases, and the
 * results so far (for refs such as `t.ref(0, 'id')`).
 */
import type { Scalar } from '../shared/query-ast.js'
import type { ModelMeta } from './api-metadata.js'
import { ExecutorError } from './executor-error.js'
import { Ref, type CheckedValue } from './validate-values.js'

export type PolicyTerm = readonly [column: string, value: Scalar | readonly Scalar[]]
export type PolicyFilter = (ctx: unknown) => Readonly<Record<string, Scalar | readonly Scalar[]>>

export class RequestScope {
  private readonly policies = new Map<PolicyFilter, readonly PolicyTerm[]>()
  private aliases = 0
  /** Each query's result, by position; `undefined` until it has run (or when it failed). */
  readonly results: unknown[] = []

  constructor(readonly ctx: unknown) {}

  alias(): string {
    return `t${this.aliases++}`
  }

  /**
   * The columns and values the model's read policy (and `extra`, a write grant's
   * filter) restrict rows to; each policy is evaluated once per request.
   */
  policyTerms(model: ModelMeta, extra?: PolicyFilter): readonly PolicyTerm[] {
    const own = model.policy ? this.terms(model, model.policy) : []
    return extra ? [...own, ...this.terms(model, extra)] : own
  }

  /** The value a checked value stands for: itself, or the column of an earlier result. */
  resolve(value: CheckedValue): Scalar {
    if (!(value instanceof Ref)) return value
    const result = this.results[value.query]
    const row = Array.isArray(result) ? result[0] : result
    if (row === null || typeof row !== 'object' || !Object.hasOwn(row, value.column)) {
      throw new ExecutorError('BAD_REQUEST', `ref to query ${value.query}: its result has no row with "${value.column}"`)
    }
    const resolved = (row as Record<string, unknown>)[value.column]
    if (resolved !== null && typeof resolved === 'object' && !(resolved instanceof Date)) {
      throw new ExecutorError('BAD_REQUEST', `ref to query ${value.query}: "${value.column}" is not a scalar`)
    }
    return resolved as Scalar
  }

  private terms(model: ModelMeta, filter: PolicyFilter): readonly PolicyTerm[] {
    let terms = this.policies.get(filter)
    if (terms === undefined) {
      terms = evaluatePolicy(model, filter, this.ctx)
      this.policies.set(filter, terms)
    }
    return terms
  }
}

/**
 * A policy that throws (say, on an anonymous context) or yields `undefined` for a key
 * denies the operation: a missing value must never widen what a caller reaches.
 */
function evaluatePolicy(model: ModelMeta, policy: PolicyFilter, ctx: unknown): PolicyTerm[] {
  const denied = (cause?: unknown) =>
    new ExecutorError('FORBIDDEN', `this operation on ${model.name} is not allowed`, cause === undefined ? undefined : { cause })
  let filter: Readonly<Record<string, Scalar | readonly Scalar[]>>
  try {
    filter = policy(ctx)
  } catch (error) {
    throw denied(error)
  }
  if (filter === null || typeof filter !== 'object') throw denied()
  return Object.keys(filter).map((prop) => {
    const value = filter[prop]
    if (value === undefined) throw denied()
    return [model.toColumn(prop), value] as const
  })
}
