/**
 * The foreign keys of the database as a graph of tables, read once at startup: for each of
 * the exposed tables, which of them its rows point at, directly or through rows of any
 * other tables (not exposed ones too), and which of them are the same table under another
 * name. Deleting rows of a table may delete or change rows of every table that points at it
 * (`on delete cascade`, `set null`; a restricted delete changes nothing, which counts as a
 * change that did not happen). The API's description hands this to clients (`describe`).
 */
import type { PgConnection } from './naming.js'

/** Each table by the oid it resolves to (`null`: it does not exist), in the order given. */
const TABLE_OIDS = `select to_regclass(case when r.schema is null then quote_ident(r.name) else quote_ident(r.schema) || '.' || quote_ident(r.name) end)::oid::text as oid
  from unnest($1::text[], $2::text[]) with ordinality as r(schema, name, i) order by r.i`

/** Every foreign key of the database: the referencing table, and the referenced one. */
const FOREIGN_KEYS = `select conrelid::oid::text as "from", confrelid::oid::text as "to" from pg_constraint where contype = 'f'`

export interface TableKeys {
  /** The tables (of those given) whose rows `table`'s rows point at, at any distance. */
  pointsAt(table: string): ReadonlySet<string>
  /** Whether two of the given names are one table. */
  same(a: string, b: string): boolean
}

export async function readTableKeys(connection: PgConnection, tables: readonly string[], names: readonly unknown[]): Promise<TableKeys> {
  const oids = (await connection.query(TABLE_OIDS, names)).rows.map((row) => (row.oid === null ? undefined : String(row.oid)))
  const edges = new Map<string, string[]>()
  for (const row of (await connection.query(FOREIGN_KEYS, [])).rows) {
    const from = String(row.from)
    let targets = edges.get(from)
    if (!targets) edges.set(from, (targets = []))
    targets.push(String(row.to))
  }
  const oidOf = new Map(tables.map((table, i) => [table, oids[i]]))
  const reached = new Map<string, Set<string>>()
  const reachOf = (start: string) => {
    let found = reached.get(start)
    if (found) return found
    found = new Set<string>()
    const pending = [start]
    while (pending.length > 0) {
      for (const next of edges.get(pending.pop()!) ?? []) {
        if (found.has(next) || next === start) continue
        found.add(next)
        pending.push(next)
      }
    }
    reached.set(start, found)
    return found
  }
  return {
    pointsAt(table) {
      const oid = oidOf.get(table)
      if (oid === undefined) return new Set()
      const reach = reachOf(oid)
      return new Set(tables.filter((other) => oidOf.get(other) !== undefined && reach.has(oidOf.get(other)!) && oidOf.get(other) !== oid))
    },
    same: (a, b) => oidOf.get(a) !== undefined && oidOf.get(a) === oidOf.get(b),
  }
}
