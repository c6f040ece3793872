/** Headers of the protocol that more than one side reads (client, executor, edge proxy). */
/**
 * With read replicas, answers to requests that wrote carry the primary's WAL position
 * after their commit in this header (`pg_lsn` text, `16/B374D848`); the client sends the
 * newest it has seen with every request, and the executor serves its reads only from a
 * database that has replayed past it.
 */
export const WAL_POSITION_HEADER = 'async-orm-lsn'

/** `pg_lsn`'s text (`16/B374D848`): two hexadecimal 32-bit halves. */
export const WAL_POSITION = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/

/** The later of two WAL positions; `seen` is kept when `next` is not a position. */
export function newerPosition(seen: string | undefined, next: string): string | undefined {
  const b = WAL_POSITION.exec(next)
  if (!b) return seen
  const a = seen === undefined ? null : WAL_POSITION.exec(seen)
  if (!a) return next
  const [high, low] = [parseInt(a[1]!, 16) - parseInt(b[1]!, 16), parseInt(a[2]!, 16) - parseInt(b[2]!, 16)]
  return high > 0 || (high === 0 && low >= 0) ? seen : next
}
