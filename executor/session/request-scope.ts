/**
 * What one request's queries share while they run: the caller's context, the row
 * policies it yields (evaluated at most once per policy), fresh table aliases, and the
 * results so far (for refs such as `t.ref(0, 'id')`).
 */
import type { Knex } from 'knex'
import type { Scalar } from '../../shared/query-ast.js'
import type { ModelMeta } from '../api/api-metadata.js'
import { ExecutorError, PolicyContextMismatch } from '../executor-error.js'
import type { ResultBudget } from './result-budget.js'
import { Ref, type CheckedValue } from '../validate/validate-values.js'
import { asParameter, type TypeOverrides } from './read-types.js'

export type PolicyTerm = readonly [column: string, value: Scalar | readonly Scalar[]]
export type PolicyFilter = (ctx: unknown) => Readonly<Record<string, Scalar | readonly Scalar[]>>

export class RequestScope {
  private readonly policies = new Map<PolicyFilter, readonly PolicyTerm[]>()
  private aliases = 0
  /** How many times a related row appears in the answer (top-level rows: once). */
  private readonly weights = new WeakMap<object, number>()
  /** Each query's result, by position; `undefined` until it has run (or when it failed). */
  readonly results: unknown[] = []

  constructor(
    /** The app's knex: builds what the app's own code contributes (modifiers). */
    readonly knex: Knex,
    readonly ctx: unknown,
    readonly roles: readonly string[],
    /** What the answer may still hold, across all queries of the request. */
    readonly budget: ResultBudget,
    /** The app's parsers for types pg leaves as text (for rows writes return). */
    readonly types?: TypeOverrides,
  ) {}

  /** Whether this caller holds the model's read grant. */
  canRead(model: ModelMeta): boolean {
    return model.readAllowed(this.ctx, this.roles)
  }

  /**
   * Whether a written row (keyed by property) is one this caller may read: the read
   * grant, and every term of the read policy. Values compare as PostgreSQL would for the
   * types it returns (integers whatever their JS type, uuids in any case, times by
   * instant); anything it cannot tell equal counts as outside the policy.
   */
  mayRead(model: ModelMeta, row: Readonly<Record<string, unknown>>): boolean {
    if (!this.canRead(model)) return false
    return this.policyTerms(model).every(([column, expected]) => {
      const value = row[model.allProps.get(column) ?? column]
      const type = model.columnTypes.get(column)?.type ?? ''
      if (expected === null) return value === null
      if (Array.isArray(expected)) return expected.some((one) => sameValue(value, one, type))
      return sameValue(value, expected as Scalar, type)
    })
  }

  weight(row: object): number {
    return this.weights.get(row) ?? 1
  }

  /** Counts `row` as attached once more under a parent that appears `weight` times. */
  addWeight(row: object, weight: number): void {
    const current = this.weights.get(row)
    this.weights.set(row, current === undefined ? weight : current + weight)
  }

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
    const resolved = asParameter((row as Record<string, unknown>)[value.column])
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
 * Whether a caller may read any of the model's rows at all: a read grant with columns,
 * whose `allow` admits it, and whose row policy does not deny it (as a read would find).
 */
export function mayReadModel(model: ModelMeta, ctx: unknown, roles: readonly string[]): boolean {
  if (model.columns.size === 0 || !model.readAllowed(ctx, roles)) return false
  if (!model.policy) return true
  try {
    evaluatePolicy(model, model.policy, ctx)
    return true
  } catch {
    return false
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
    if (value === undefined) {
      if (ctx === null || typeof ctx !== 'object') throw denied()
      const fields = Object.keys(ctx).slice(0, 20).join(', ')
      throw denied(new PolicyContextMismatch(`a ${model.name} policy gave "${prop}" no value: the context (fields: ${fields || 'none'}) has none for it`))
    }
    return [model.toColumn(prop), value] as const
  })
}

function sameValue(given: unknown, expected: Scalar, type: string): boolean {
  const actual = asParameter(given)
  if (actual === null || actual === undefined || expected === null) return false
  if (actual instanceof Date || expected instanceof Date) {
    const a = actual instanceof Date ? actual.getTime() : Date.parse(String(actual))
    const b = expected instanceof Date ? expected.getTime() : Date.parse(String(expected))
    return !Number.isNaN(a) && a === b
  }
  const numeric = (value: unknown) => typeof value === 'number' || typeof value === 'bigint'
  if ((numeric(actual) || numeric(expected)) && typeof actual !== 'boolean' && typeof expected !== 'boolean') {
    const a = integerOf(actual)
    const b = integerOf(expected)
    if (a !== undefined && b !== undefined) return a === b
    return typeof actual !== 'string' || actual.trim() !== '' ? Number(actual) === Number(expected) : false
  }
  if (type === 'uuid' && typeof actual === 'string' && typeof expected === 'string') return actual.toLowerCase() === expected.toLowerCase()
  return actual === expected
}

function integerOf(value: unknown): bigint | undefined {
  if (typeof value === 'bigint') return value
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value)
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return BigInt(value)
  return undefined
}
