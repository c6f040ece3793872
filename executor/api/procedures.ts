/**
 * Server procedures: logic that must not live in the client, called with
 * `db.call(name, args)`. Arguments are checked by any Standard Schema validator
 * (valibot, zod, arktype…) before `run` sees them; `run` executes inside the request's
 * transaction, so a procedure in `db.transaction(…)` commits or rolls back with the rest.
 */
import type { Knex } from 'knex'
import { allowed, type Allowed } from './api-metadata.js'
import { ExecutorError } from '../executor-error.js'
import type { Allow } from './expose.js'

/** The Standard Schema interface (standardschema.dev), as valibot, zod and arktype implement it. */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': {
    readonly version: 1
    readonly vendor: string
    readonly validate: (value: unknown) => StandardResult<Output> | Promise<StandardResult<Output>>
    readonly types?: { readonly input: Input; readonly output: Output } | undefined
  }
}

export type StandardResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | { readonly issues: readonly { readonly message: string; readonly path?: readonly unknown[] | undefined }[] }

export type InferInput<S> = S extends StandardSchemaV1<infer I, unknown> ? I : never
export type InferOutput<S> = S extends StandardSchemaV1<unknown, infer O> ? O : never

export interface ProcedureContext<Ctx, Args> {
  /** The request's transaction: `Model.query(trx)`, `trx('table')`. */
  readonly trx: Knex.Transaction
  /** What `auth` returned (`null` for anonymous callers). */
  readonly ctx: Ctx
  /** The arguments, as the schema output them. */
  readonly args: Args
}

export interface Procedure<S extends StandardSchemaV1 = StandardSchemaV1, Result = unknown, Ctx = any> {
  /** Who may call it (see `Allow`); default: authenticated callers. */
  readonly allow?: Allow<Ctx>
  readonly args: S
  readonly run: (input: ProcedureContext<Ctx, InferOutput<S>>) => Result | Promise<Result>
  /** Phantom types for the client. */
  readonly '~types'?: { readonly input: InferInput<S>; readonly result: Awaited<Result> }
}

/**
 * Declares a procedure; the client's `db.call(name, args)` is typed from it.
 *
 * @example
 * const transfer = procedure({
 *   args: v.object({ from: v.number(), to: v.number(), amount: v.pipe(v.number(), v.minValue(1)) }),
 *   run: async ({ trx, ctx, args }) => { … },
 * })
 */
export function procedure<S extends StandardSchemaV1, Result, Ctx = any>(definition: {
  readonly allow?: Allow<Ctx>
  readonly args: S
  readonly run: (input: ProcedureContext<Ctx, InferOutput<S>>) => Result | Promise<Result>
}): Procedure<S, Result, Ctx> {
  return definition
}

export interface ProcedureMeta {
  readonly name: string
  readonly procedure: Procedure
  readonly allowed: Allowed
}

export function buildProcedures(procedures: Readonly<Record<string, Procedure>> | undefined): Map<string, ProcedureMeta> {
  const map = new Map<string, ProcedureMeta>()
  for (const name of Object.keys(procedures ?? {})) {
    const definition = procedures![name]!
    if (typeof definition?.run !== 'function' || typeof definition.args?.['~standard']?.validate !== 'function') {
      throw new TypeError(`procedure ${name} needs args (a Standard Schema) and run()`)
    }
    map.set(name, { name, procedure: definition, allowed: allowed(definition.allow as Allow<never> | undefined) })
  }
  return map
}

/** Checks `args` with the procedure's schema; issues become a `BAD_REQUEST` naming them. */
export async function parseArgs(meta: ProcedureMeta, args: unknown): Promise<unknown> {
  const result = await meta.procedure.args['~standard'].validate(args)
  if (result.issues) {
    const detail = result.issues
      .slice(0, 5)
      .map((issue) => {
        const path = issue.path?.map((p) => (typeof p === 'object' && p !== null && 'key' in p ? String((p as { key: unknown }).key) : String(p))).join('.')
        return path ? `${path}: ${issue.message}` : issue.message
      })
      .join('; ')
    throw new ExecutorError('BAD_REQUEST', `invalid arguments for ${meta.name}: ${detail}`)
  }
  return result.value
}
