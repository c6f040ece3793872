/**
 * A primary of its own with the demo schema seeded, and a hot standby streaming from it
 * (`pg_basebackup -R`), for the read replica tests; with the controls they need: pause
 * and resume the standby's replay, and wait until it has replayed all the primary wrote.
 */
import knexFactory, { type Knex } from 'knex'
import { migrate, seed, type SeedSize } from '../../examples/demo/schema.js'
import { BaseModel } from '../../examples/demo/models.js'
import { TEST_SIZE } from './demo.js'
import { startPgCluster, type PgCluster } from './pg-cluster.js'

export interface Replication {
  readonly primary: PgCluster
  readonly standby: PgCluster
  /** Small pools of the test's own on each (not spied on). */
  readonly primaryKnex: Knex
  readonly standbyKnex: Knex
  pause(): Promise<void>
  resume(): Promise<void>
  /** Resolves once the standby has replayed everything the primary wrote so far. */
  caughtUp(): Promise<void>
  destroy(): Promise<void>
}

/** `size`: the demo data the primary is seeded with (the tests' small set unless told). */
export async function startReplication(size: SeedSize = TEST_SIZE): Promise<Replication> {
  BaseModel.mapsColumns = true
  const primary = await startPgCluster()
  const primaryKnex = knexFactory({ client: 'pg', connection: primary.url, pool: { min: 0, max: 2 } })
  let standby: PgCluster | undefined
  let standbyKnex: Knex | undefined
  const destroy = async () => {
    await Promise.all([primaryKnex.destroy(), standbyKnex?.destroy()])
    await standby?.destroy()
    await primary.destroy()
  }
  try {
    await migrate(primaryKnex)
    await seed(primaryKnex, size)
    standby = await startPgCluster({ standbyOf: primary })
    standbyKnex = knexFactory({ client: 'pg', connection: standby.url, pool: { min: 0, max: 2 } })
  } catch (error) {
    await destroy()
    throw error
  }
  const onStandby = standbyKnex
  const state = async () => {
    const { rows } = (await onStandby.raw('select pg_is_wal_replay_paused() as paused, pg_last_wal_replay_lsn()::text as replayed')) as { rows: { paused: boolean; replayed: string }[] }
    const { rows: at } = (await primaryKnex.raw('select pg_current_wal_lsn()::text as lsn')) as { rows: { lsn: string }[] }
    return { ...rows[0]!, primary: at[0]!.lsn }
  }
  return {
    primary,
    standby,
    primaryKnex,
    standbyKnex,
    async pause() {
      await onStandby.raw('select pg_wal_replay_pause()')
      await until(async () => (await state()).paused, 'replay is paused')
    },
    async resume() {
      await onStandby.raw('select pg_wal_replay_resume()')
    },
    async caughtUp() {
      await until(async () => {
        const now = await state()
        return now.replayed === now.primary
      }, 'the standby has replayed all the primary wrote')
    },
    destroy,
  }
}

/** Waits for `condition`, polling (no time is asserted; it gives up after 20 s). */
export async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 20_000
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting until ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
