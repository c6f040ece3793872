/**
 * The quick start app for the tests that run its files as they are: its database on
 * PostgreSQL (a schema of its own, named in the URL the app's processes are given), and
 * its entry points started as processes that print where they listen.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { migrate } from '../../examples/quickstart/migrations.js'
import { openDatabase, POSTGRES_URL, type TestDatabase } from './databases.js'
import { schemaOf } from './server-process.js'

export interface QuickstartDatabase {
  readonly database: TestDatabase
  /** `DATABASE_URL` for the app's processes: the test's schema on the search path. */
  readonly url: string
}

/** A PostgreSQL schema of its own; `migrated` also creates the tables and two users: Ann (org 1) and Anders (org 2). */
export async function openQuickstartDatabase(migrated: boolean): Promise<QuickstartDatabase> {
  const database = await openDatabase('postgres')
  if (migrated) {
    await migrate(database.knex)
    await database.knex('users').insert([
      { orgId: 1, name: 'Ann', email: 'ann@example.com' },
      { orgId: 2, name: 'Anders', email: 'anders@example.com' },
    ])
  }
  const url = new URL(POSTGRES_URL)
  url.searchParams.set('options', `-c search_path=${schemaOf(database.knex)}`)
  return { database, url: url.toString() }
}

export interface StartedApp {
  /** The origin it printed (`… on http://127.0.0.1:port`). */
  readonly origin: string
  /** SIGTERM, then waits for it to exit. */
  stop(): Promise<void>
}

/** Runs `args` with Node (in `cwd`), with `env` over the test's, until it prints where it listens. */
export async function startApp(args: readonly string[], env: Record<string, string>, cwd?: string): Promise<StartedApp> {
  const child = spawn(process.execPath, [...args], { cwd, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, PORT: '0', ...env } })
  const [line] = (await once(child.stdout!, 'data')) as [Buffer]
  const listening = /on (http:\/\/\S+)/.exec(line.toString())
  if (!listening) {
    child.kill('SIGKILL')
    throw new Error(`${args.join(' ')} printed: ${line.toString()}`)
  }
  return {
    origin: listening[1]!,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      await once(child, 'exit')
    },
  }
}
