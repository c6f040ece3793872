/**
 * What every runnable thing on the client shares: running it by `await` (a thenable, as
 * objection's query builders are), by `fetch({ signal })`, or with the callback style of
 * django-async-orm, `execute((error, result) => …)`. Subclasses say how to `fetch`.
 */
import type { AsyncOrmError } from './client-error.js'

export interface RunOptions {
  readonly signal?: AbortSignal
}

export abstract class Deferred<Out> implements PromiseLike<Out> {
  /** Runs it. */
  abstract fetch(options?: RunOptions): Promise<Out>

  /** Runs it and calls `callback(error, result)` (django-async-orm's style). */
  execute(callback: (error: AsyncOrmError | null, result?: Out) => void, options: RunOptions = {}): void {
    this.fetch(options).then(
      (result) => callback(null, result),
      (error: AsyncOrmError) => callback(error),
    )
  }

  then<A = Out, B = never>(
    onFulfilled?: ((value: Out) => A | PromiseLike<A>) | null,
    onRejected?: ((reason: AsyncOrmError) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.fetch().then(onFulfilled, onRejected)
  }

  catch<B = never>(onRejected?: ((reason: AsyncOrmError) => B | PromiseLike<B>) | null): Promise<Out | B> {
    return this.fetch().catch(onRejected)
  }

  finally(onFinally?: (() => void) | null): Promise<Out> {
    return this.fetch().finally(onFinally)
  }
}
