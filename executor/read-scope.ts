/**
 * What one request's queries share while they are compiled: the caller's context, the
 * row policies it yields (evaluated at most once per model), and fresh table aliases.
 */
import type { Knex } from 'knex'
import type { Scalar } from '../shared/query-ast.js'
import type { ModelMeta } from './api-metadata.js'
import { ExecutorError } from './executor-error.js'

type PolicyTerm = readonly [column: string, value: Scalar | readonly Scalar[]]

export class ReadScope {
  private readonly policies = new Map<ModelMeta, readonly PolicyTerm[]>()
  private aliases = 0

  constructor(readonly ctx: unknown) {}

  alias(): string {
    return `t${this.aliases++}`
  }

  /** ANDs the model's row policy into `builder` (whose table is aliased `alias`). */
  applyPolicy(builder: Knex.QueryBuilder, model: ModelMeta, alias: string): void {
    for (const [column, value] of this.policy(model)) {
      if (Array.isArray(value)) builder.whereIn(`${alias}.${column}`, value as readonly Knex.Value[])
      else if (value === null) builder.whereNull(`${alias}.${column}`)
      else builder.where(`${alias}.${column}`, value as Knex.Value)
    }
  }

  private policy(model: ModelMeta): readonly PolicyTerm[] {
    let terms = this.policies.get(model)
    if (terms === undefined) {
      terms = model.policy ? evaluatePolicy(model, this.ctx) : []
      this.policies.set(model, terms)
    }
    return terms
  }
}

/**
 * A policy that throws (say, on an anonymous context) or yields `undefined` for a key
 * denies the read: a missing value must never widen what a caller sees.
 */
function evaluatePolicy(model: ModelMeta, ctx: unknown): PolicyTerm[] {
  let filter: Readonly<Record<string, Scalar | readonly Scalar[]>>
  try {
    filter = model.policy!(ctx)
  } catch (error) {
    throw new ExecutorError('FORBIDDEN', `reading ${model.name} is not allowed`, { cause: error })
  }
  if (filter === null || typeof filter !== 'object') {
    throw new ExecutorError('FORBIDDEN', `reading ${model.name} is not allowed`)
  }
  return Object.keys(filter).map((prop) => {
    const value = filter[prop]
    if (value === undefined) throw new ExecutorError('FORBIDDEN', `reading ${model.name} is not allowed`)
    return [model.toColumn(prop), value] as const
  })
}
