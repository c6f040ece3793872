/**
 * Answers a stream (`qs.stream()`): the rows of one select, as newline-delimited superjson
 * documents, read with a cursor in batches and written as the client takes them. The next
 * batch is read only once the last one has been taken (the response stream's backpressure),
 * so a stream holds one batch in memory whatever its length.
 *
 * The first batch is read before the answer starts: a request refused, or a query that
 * fails on its first rows, is answered with its status as any other. After that a failure
 * is the stream's last line. Lines, in order:
 * - `{ rows: Row[] }`, a batch (at most `STREAM_BATCH` rows, with their relations);
 * - then `{ done: true, rows: n }` (n rows in all), or `{ error: { code, message } }`.
 * A stream that ends without either line was cut off.
 */
import type { WireError } from '../../shared/error-codes.js'
import { ExecutorError } from '../executor-error.js'
import { DbSession } from '../session/db-session.js'
import { RequestScope } from '../session/request-scope.js'
import { assertAnswerSize, ResultBudget } from '../session/result-budget.js'
import type { CheckedRead } from '../validate/validate-query.js'
import { assertReplayed, type BatchEnvironment } from './run-batch.js'
import { openCursor } from './run-read.js'

/** Rows per batch of a stream: each is one line, and one answer for the row and byte budgets. */
export const STREAM_BATCH = 1000

export type StreamLine = { readonly rows: readonly unknown[] } | { readonly done: true; readonly rows: number } | { readonly error: WireError }

export interface StreamQuery {
  readonly read: CheckedRead
  /** The query gave no limit: past `maxStreamRows` rows the stream fails instead of ending. */
  readonly capped: boolean
  readonly ctx: unknown
  readonly roles: readonly string[]
}

/**
 * Opens the stream's session and cursor and reads its first batch; the body then reads
 * the rest as it is taken. `encodeLine` writes one line's document.
 */
export async function runStream(
  query: StreamQuery,
  env: BatchEnvironment,
  encodeLine: (line: StreamLine) => string,
  /** Called once, when the stream has sent its last line, was cancelled, or could not start. */
  released: () => void,
): Promise<ReadableStream<Uint8Array>> {
  const { read, capped } = query
  const { limits } = env
  const max = limits.maxStreamRows
  let session: DbSession
  try {
    session = await start(env)
  } catch (error) {
    released()
    throw error
  }
  try {
    await assertReplayed(session, env)
  } catch (error) {
    await session.end(false).catch(() => undefined)
    released()
    throw error
  }
  const scope = () => new RequestScope(env.knex, query.ctx, query.roles, new ResultBudget(limits.maxResultRows, limits.maxResponseBytes), env.types)
  // The stream counts as running until its last line is queued (or it is cancelled): its
  // session's ROLLBACK may still be under way when the client, answered, sends its next.
  let running = true
  const done = () => {
    if (!running) return
    running = false
    released()
  }
  let ended: Promise<void> | undefined
  const end = () => (ended ??= session.end(false).catch(() => undefined).finally(done))
  let next: (size: number, scope: RequestScope) => Promise<unknown[]>
  let first: unknown[]
  let firstLine: Uint8Array | undefined
  const encoder = new TextEncoder()
  /** A batch's line, once it is known to be within `maxResponseBytes`. */
  const rowsLine = (batch: unknown[]) => {
    const text = encodeLine({ rows: batch })
    assertAnswerSize(text, limits.maxResponseBytes)
    return encoder.encode(`${text}\n`)
  }
  try {
    // Without a limit of its own, one row past `maxStreamRows` says there were more.
    next = await openCursor(session, read, capped ? max + 1 : read.limit, scope(), limits)
    first = await next(STREAM_BATCH, scope())
    // The first batch is sent with the answer's status: what refuses it refuses the request.
    if (first.length > 0 && !(capped && first.length > max)) firstLine = rowsLine(first)
  } catch (error) {
    await end()
    throw session.stopped ?? error
  }

  const line = (value: StreamLine) => encoder.encode(`${encodeLine(value)}\n`)
  let sent = 0
  /** A batch is being read: a stop fails that read, which then ends the stream. */
  let busy = false
  /** No more lines: the stream was closed, or cancelled by its client. */
  let closed = false
  let controller!: ReadableStreamDefaultController<Uint8Array>

  const close = (last: StreamLine) => {
    if (closed) return
    closed = true
    controller.enqueue(line(last))
    controller.close()
    done()
    void end()
  }
  const fail = (error: unknown) => close({ error: env.report(error) })
  /** Sends `batch`, and the closing line after the last. */
  const send = (batch: unknown[], encoded?: Uint8Array) => {
    if (capped && sent + batch.length > max) {
      return fail(new ExecutorError('LIMIT_EXCEEDED', `the stream would send more than ${max} rows (maxStreamRows); narrow the query or give it a limit`))
    }
    if (batch.length > 0) {
      let bytes: Uint8Array
      try {
        bytes = encoded ?? rowsLine(batch)
      } catch (error) {
        return fail(error)
      }
      sent += batch.length
      controller.enqueue(bytes)
    }
    if (batch.length < STREAM_BATCH) close({ done: true, rows: sent })
  }
  // At the deadline, a stream whose client is not taking rows ends then, not at its next read.
  session.onStop = (reason) => {
    if (!busy && !closed) fail(reason)
  }

  return new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c
        send(first, firstLine)
        first = []
        firstLine = undefined
      },
      async pull() {
        if (closed) return
        busy = true
        let batch: unknown[]
        try {
          batch = await next(STREAM_BATCH, scope())
        } catch (error) {
          busy = false
          return closed ? void (await end()) : fail(session.stopped ?? error)
        }
        busy = false
        if (closed) return void (await end())
        send(batch)
      },
      async cancel() {
        // A stream already closed has ended its session (its last lines were still queued):
        // its connection may be another request's now.
        if (closed) return
        // The client went away. A batch being read is bounded (1,000 rows, their relations,
        // statement_timeout): it is let finish, and the session ends after it (in `pull`),
        // so the connection goes back to the pool rather than being closed for a cancel.
        closed = true
        done()
        if (!busy) await end()
      },
    },
    // Nothing read ahead: the next batch is read once the client has taken this one.
    { highWaterMark: 0 },
  )
}

/**
 * The stream's session: read-only, in a transaction (a cursor lives in one). It does not
 * follow the request's signal: a client that goes away cancels the answer's body, which
 * ends the stream (`cancel`); `transactionTimeoutMs` bounds it either way.
 */
function start(env: BatchEnvironment): Promise<DbSession> {
  const { limits } = env
  return DbSession.start(env.knex, {
    readOnly: true,
    single: false,
    connectionTimeout: env.connectionTimeout,
    statementTimeoutMs: limits.statementTimeoutMs,
    acquireTimeoutMs: limits.acquireTimeoutMs,
    transactionTimeoutMs: limits.transactionTimeoutMs,
    ...(env.types && { types: env.types }),
  })
}
