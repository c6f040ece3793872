/**
 * Behind a pooler in transaction mode (PgBouncer `pool_mode = transaction`, a provider's
 * pooled URL), each transaction may run on another server connection, so nothing a
 * connection sets for its session outlives the transaction it was set in. The executor
 * keeps no session state of its own (`SET LOCAL` inside its transactions, unnamed
 * statements, cursors inside transactions, cancel requests through the pooler); this
 * checks that the app's knex configuration does not rely on any either.
 */
import type { Knex } from 'knex'
import type { Logger } from '../executor-error.js'

export type Pooler = 'none' | 'transaction'

/** knex's configuration, as far as this looks at it. */
interface KnexConfig {
  readonly searchPath?: unknown
  readonly connection?: unknown
  readonly pool?: { readonly afterCreate?: unknown }
}

/** Startup parameters PgBouncer does not pass on to PostgreSQL (it refuses or ignores them). */
const SESSION_PARAMETERS = ['statement_timeout', 'options', 'search_path', 'idle_in_transaction_session_timeout', 'lock_timeout']

/**
 * Throws, naming the setting to change, when `knex` (`name`: `knex`, `replicas[0]`)
 * sets session state a transaction pooler does not keep; logs `pool.afterCreate`, which
 * may or may not.
 */
export function assertPoolable(knex: Knex, name: string, statementTimeout: 'set-local' | 'connection', logger: Logger): void {
  const config = ((knex.client as { config?: KnexConfig }).config ?? {}) as KnexConfig
  const refuse = (what: string, instead: string) => {
    throw new TypeError(`${name}: ${what}, which a pooler in transaction mode (pooler: 'transaction') does not keep for later transactions: ${instead}`)
  }
  if (config.searchPath !== undefined) {
    refuse('knex searchPath runs SET search_path once per new connection', "set it on the role instead (ALTER ROLE … SET search_path = …), or name the schema in your models' tableName")
  }
  const parameters = startupParameters(config.connection)
  const found = SESSION_PARAMETERS.find((parameter) => parameters.has(parameter))
  if (found !== undefined) {
    refuse(
      `the pg connection sets ${found} at start-up`,
      found === 'statement_timeout'
        ? statementTimeout === 'connection'
          ? "set statement_timeout on the role instead (ALTER ROLE … SET statement_timeout = '5s'), or use statementTimeout: 'set-local'"
          : "leave it out: statementTimeout: 'set-local' (the default) sets it in each transaction, or set it on the role (ALTER ROLE … SET statement_timeout = '5s') with statementTimeout: 'connection'"
        : `set it on the role instead (ALTER ROLE … SET ${found === 'options' ? 'the setting' : found} = …)`,
    )
  }
  if (typeof config.connection === 'function') {
    logger.error(`async-orm executor: ${name}: the knex connection is a function, whose start-up parameters ready() cannot check; behind a pooler in transaction mode, set none that sets session state (statement_timeout, options, search_path)`, {})
  }
  if (typeof config.pool?.afterCreate === 'function') {
    logger.error(`async-orm executor: ${name}: pool.afterCreate runs once per new connection; behind a pooler in transaction mode, what it sets for the session (SET …) does not reach later transactions`, {})
  }
}

/** The parameters a knex `connection` (an object or a URL) sends when it connects. */
function startupParameters(connection: unknown): Set<string> {
  if (typeof connection === 'string') {
    try {
      return new Set(new URL(connection).searchParams.keys())
    } catch {
      return new Set()
    }
  }
  if (connection === null || typeof connection !== 'object') return new Set()
  const names = new Set(Object.keys(connection).filter((key) => (connection as Record<string, unknown>)[key] !== undefined))
  const url = (connection as { connectionString?: unknown }).connectionString
  if (typeof url === 'string') for (const key of startupParameters(url)) names.add(key)
  return names
}
