/**
 * WAL positions (PostgreSQL's `pg_lsn`, written `16/B374D848`): what a write's answer
 * carries in its `async-orm-lsn` header, and what a later read sends back so that it is
 * served only by a database that has replayed that write.
 */
import { WAL_POSITION, WAL_POSITION_HEADER } from '../../shared/headers.js'
import { ExecutorError } from '../executor-error.js'

/** A position as a number, comparable across halves; undefined for any other text. */
export function parseWalPosition(text: string): bigint | undefined {
  const match = WAL_POSITION.exec(text)
  if (!match) return undefined
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`)
}

/** The position the request says its reads must see, if it says one. */
export function requestedPosition(request: Request): bigint | undefined {
  const header = request.headers.get(WAL_POSITION_HEADER)
  if (header === null) return undefined
  const position = parseWalPosition(header.trim())
  if (position === undefined) {
    throw new ExecutorError('BAD_REQUEST', `${WAL_POSITION_HEADER} must be a WAL position such as 16/B374D848, as an earlier answer's ${WAL_POSITION_HEADER} header gave it`)
  }
  return position
}
