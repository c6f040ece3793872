/**
 * Every failure rejects with an `AsyncOrmError` (README, *Errors*), a mistake in building a
 * queryset included: a builder method that cannot build (an unknown operator, a relation
 * expression that does not parse, `undefined` as a value) returns a queryset that
 * rejects with `BAD_REQUEST` when it runs, instead of throwing where it was called.
 */
import { AsyncOrmError } from './client-error.js'

/** Something that can become a queryset failing with `error`. */
export interface CanFail {
  failedWith(error: unknown): unknown
  readonly state?: { readonly failure?: string }
}

/** Methods that run, describe or copy a queryset, not build one. */
const PLAIN = new Set(['constructor', 'fetch', 'stream', 'then', 'catch', 'finally', 'execute', 'toJSON', 'with', 'failedWith'])

/** Builder calls in progress (synchronous, so one counter serves every queryset). */
let depth = 0

/** Makes every builder method of `Class` fail softly (see above). */
export function failSoftly(Class: { readonly prototype: object }): void {
  const prototype = Class.prototype as Record<string, unknown>
  for (const name of Object.getOwnPropertyNames(prototype)) {
    const descriptor = Object.getOwnPropertyDescriptor(prototype, name)!
    if (PLAIN.has(name) || typeof descriptor.value !== 'function') continue
    const method = descriptor.value as (...args: unknown[]) => unknown
    Object.defineProperty(prototype, name, {
      ...descriptor,
      value: function (this: CanFail, ...args: unknown[]) {
        // Only the outermost builder call turns an error into a failed queryset; the ones it
        // makes (helpers, nested builders) let it travel up to it.
        if (depth > 0) return method.apply(this, args)
        // A failed queryset stays failed: its first error is the one reported.
        if (this.state?.failure !== undefined) return this
        depth++
        try {
          return method.apply(this, args)
        } catch (error) {
          return this.failedWith(error)
        } finally {
          depth--
        }
      },
    })
  }
}

/** The error a failed queryset rejects with. */
export function buildError(message: string): AsyncOrmError {
  return new AsyncOrmError({ code: 'BAD_REQUEST', message })
}

/** The message of whatever a builder threw. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
