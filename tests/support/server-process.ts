/**
 * Runs tests/support/graceful-server.ts as a child process: its URL, the lines it prints,
 * what it wrote to stderr and how it exited.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import type { Knex } from 'knex'
import type { ServeOptions } from '../../executor/adapters/node.js'

export interface ServerProcess {
  readonly url: string
  readonly child: ChildProcess
  /** Resolves when the process prints `line` (counting lines printed before the call too, each once). */
  line(line: string): Promise<void>
  /** Everything the process wrote to stderr so far. */
  stderr(): string
  /** The exit code (a signal's name if a signal ended it). */
  readonly exit: Promise<number | string>
}

type JsonServeOptions = Omit<ServeOptions, 'onShutdown'>

export function schemaOf(knex: Knex): string {
  return (knex.client.config as { searchPath: string[] }).searchPath[0]!
}

export async function startServerProcess(schema: string, options: JsonServeOptions = {}, env: Record<string, string> = {}): Promise<ServerProcess> {
  // Without deprecation warnings (knex reads pg's deprecated `activeQuery`), so that stderr
  // holds only what the server logs.
  const child = spawn(process.execPath, ['--no-deprecation', '--import', 'tsx', 'tests/support/graceful-server.ts', schema], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env, SERVE_OPTIONS: JSON.stringify(options) },
  })
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const exit = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')))
  const seen: string[] = []
  const waiting: { line: string; resolve: () => void }[] = []
  let partial = ''
  child.stdout!.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split('\n')
    partial = lines.pop()!
    for (const line of lines) {
      const waiter = waiting.findIndex((w) => w.line === line)
      if (waiter >= 0) waiting.splice(waiter, 1)[0]!.resolve()
      else seen.push(line)
    }
  })
  const line = (text: string) =>
    new Promise<void>((resolve) => {
      const index = seen.indexOf(text)
      if (index >= 0) {
        seen.splice(index, 1)
        resolve()
      } else waiting.push({ line: text, resolve })
    })
  const url = await new Promise<string>((resolve, reject) => {
    const lookForUrl = () => {
      const found = seen.findIndex((l) => l.startsWith('http://'))
      if (found >= 0) resolve(seen.splice(found, 1)[0]!)
    }
    child.stdout!.on('data', lookForUrl)
    void exit.then((code) => reject(new Error(`the server exited (${code}) before listening: ${stderr}`)))
  })
  return { url, child, line, stderr: () => stderr, exit }
}
