/**
 * Writes, with objection's names: `insert`, `insertGraph`, `patch`, `update`, `delete`
 * and their `…ById` forms, plus `onConflict(…).merge()/.ignore()` and `returning(…)`.
 * A write is a queryset too: immutable, lazy, run by `await`, `fetch()` or `execute()`.
 */
import { Runnable } from './runnable.js'
import { failSoftly } from './soft-fail.js'
import type { ColumnOf, RowOf } from './types.js'

/**
 * A pending write of model `K` resolving to `Out`. `One` is true for a write of one row
 * (`findById(…).patch(…)`, `first().delete()`): its `returning()` answers that row, as in
 * objection.
 */
export class MutationQuerySet<Api, K extends keyof Api & string, Out, One extends boolean = false> extends Runnable<Api, K, Out> {
  /**
   * Rows instead of a count (patch, update, delete; one row after `findById` or `first`),
   * or only these columns of the written rows (insert). Readable columns only; with no
   * argument, all of them.
   */
  returning<C extends ColumnOf<Api, K>>(
    ...columns: (C | readonly C[])[]
  ): MutationQuerySet<
    Api,
    K,
    Out extends number
      ? One extends true
        ? Pick<RowOf<Api, K>, C> | undefined
        : Pick<RowOf<Api, K>, C>[]
      : Out extends unknown[]
        ? Pick<RowOf<Api, K>, C>[]
        : Pick<RowOf<Api, K>, C> | undefined,
    One
  > {
    const mutation = this.state.mutation!
    if (mutation.op === 'relate' || mutation.op === 'unrelate') return this.failedWith(new TypeError(`${mutation.op}() answers a count; returning() does not apply`)) as never
    const counted = this.state.op === 'first' ? 'first' : 'rows'
    const returning = mutation.op === 'insert' ? mutation.returning : mutation.returning === 'count' ? counted : mutation.returning
    const list = columns.flat() as string[]
    return this.with({
      mutation: { ...mutation, returning } as typeof mutation,
      ...(list.length > 0 && { select: list }),
    }) as never
  }

  /**
   * Makes an insert an upsert on these conflict columns; finish with `.merge()` or `.ignore()`.
   *
   * @example
   * db.Tag.query().insert({ name: 'edge' }).onConflict('name').ignore()
   * // insert into tags (name) values ('edge') on conflict (name) do nothing returning *
   */
  onConflict(...columns: (ColumnOf<Api, K> | readonly ColumnOf<Api, K>[])[]): OnConflict<Api, K, Out> {
    return new OnConflict(this, columns.flat() as string[])
  }
}

export class OnConflict<Api, K extends keyof Api & string, Out> {
  /** @internal */
  constructor(
    private readonly insert: MutationQuerySet<Api, K, Out>,
    private readonly columns: readonly string[],
  ) {}

  /** Updates the conflicting row with these columns (default: every inserted updatable one). */
  merge(...columns: (ColumnOf<Api, K> | readonly ColumnOf<Api, K>[])[]): MutationQuerySet<Api, K, Out> {
    return this.finish('merge', columns.flat() as string[])
  }

  /** Skips conflicting rows; they are missing from the result. */
  ignore(): MutationQuerySet<Api, K, Out> {
    return this.finish('ignore', [])
  }

  private finish(action: 'merge' | 'ignore', merge: readonly string[]): MutationQuerySet<Api, K, Out> {
    const mutation = this.insert.state.mutation!
    if (mutation.op !== 'insert') return this.insert.failedWith(new TypeError('onConflict() applies to inserts'))
    const onConflict = { columns: this.columns, action, ...(merge.length > 0 && { merge }) }
    return new MutationQuerySet(
      { ...this.insert.state, mutation: { ...mutation, onConflict } },
      this.insert.runner,
    )
  }
}

failSoftly(MutationQuerySet)
