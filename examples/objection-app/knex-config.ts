/**
 * The app's knex settings, as objection's snake case recipe writes them: the tables are
 * snake_case and `knexSnakeCaseMappers()` converts every identifier and every returned
 * row, so objection (and the models) only ever see camelCase.
 */
import type { Knex } from 'knex'
import { knexSnakeCaseMappers } from 'objection'

/** Everything but the client and the connection: the identifier mapping. */
export const knexSettings: Omit<Knex.Config, 'client' | 'connection'> = knexSnakeCaseMappers()

export function knexConfig(connection: Knex.Config['connection'], options: Omit<Knex.Config, 'client' | 'connection'> = {}): Knex.Config {
  return {
    client: 'pg',
    connection,
    ...options,
    ...knexSettings,
  }
}
