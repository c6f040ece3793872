/**
 * A PgBouncer of its own in transaction pooling mode, in front of a PostgreSQL server,
 * for the tests that prove the executor behind a pooler. It is Debian's `pgbouncer`
 * (`apt-get install -y pgbouncer`; `.ci/run` installs it); missing, it fails the run with
 * that instruction, never skips. Every database name is passed through (`* =`), trust
 * auth for `postgres`, a free port on 127.0.0.1, its files in a temporary directory.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { answers, freePort } from './pg-cluster.js'

export interface PgBouncer {
  readonly port: number
  /** `postgres://postgres@127.0.0.1:<port>/<database>`, pooled per transaction. */
  url(database: string): string
  destroy(): Promise<void>
}

const PROGRAM = '/usr/sbin/pgbouncer'

export async function startPgBouncer(upstream: { readonly host: string; readonly port: number }): Promise<PgBouncer> {
  if (!existsSync(PROGRAM)) {
    throw new Error(`PgBouncer is not installed (${PROGRAM}): apt-get update && apt-get install -y pgbouncer. The tests behind a pooler need it.`)
  }
  const dir = mkdtempSync(join(tmpdir(), 'ao-pgbouncer-'))
  chmodSync(dir, 0o755)
  const port = await freePort()
  const config = join(dir, 'pgbouncer.ini')
  const log = join(dir, 'pgbouncer.log')
  writeFileSync(join(dir, 'users.txt'), '"postgres" ""\n')
  writeFileSync(
    config,
    [
      '[databases]',
      `* = host=${upstream.host} port=${upstream.port}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      // The admin console (database `pgbouncer`), where the tests read SHOW POOLS.
      'admin_users = postgres',
      `auth_file = ${join(dir, 'users.txt')}`,
      'pool_mode = transaction',
      // After a failed server login, try again after 1 s rather than 15 (the README's advice).
      'server_login_retry = 1',
      'max_client_conn = 500',
      'default_pool_size = 20',
      `logfile = ${log}`,
      // What pg and knex send at start-up besides the parameters PgBouncer tracks itself.
      'ignore_startup_parameters = extra_float_digits',
      '',
    ].join('\n'),
  )
  for (const file of ['pgbouncer.ini', 'users.txt']) chmodSync(join(dir, file), 0o644)
  writeFileSync(log, '')
  // PgBouncer refuses to run as root: as root, it runs as `postgres`.
  const asRoot = process.getuid?.() === 0
  if (asRoot) execFileSync('chown', ['postgres', log, dir])
  const [file, args] = asRoot ? ['runuser', ['-u', 'postgres', '--', PROGRAM, config]] : [PROGRAM, [config]]
  const child: ChildProcess = spawn(file, args, { stdio: 'ignore' })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const stop = () => child.kill('SIGTERM')
  process.once('exit', stop)
  const destroy = async () => {
    process.removeListener('exit', stop)
    if (child.exitCode === null) {
      stop()
      await exited
    }
    rmSync(dir, { recursive: true, force: true })
  }
  const deadline = Date.now() + 10_000
  while (!(await answers('127.0.0.1', port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      const why = readFileSync(log, 'utf8').split('\n').slice(-10).join('\n')
      await destroy()
      throw new Error(`PgBouncer did not start on 127.0.0.1:${port}:\n${why}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return { port, url: (database) => `postgres://postgres@127.0.0.1:${port}/${database}`, destroy }
}
