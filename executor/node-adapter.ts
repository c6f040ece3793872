/**
 * Node adapter: converts Node I/O to `Request`/`Response` (with @hono/node-server) and
 * does nothing else (STYLE.md, "tRPC").
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { getRequestListener, serve as serveFetch } from '@hono/node-server'

type FetchHandler = ((request: Request) => Promise<Response>) & { ready?: () => Promise<void> }

/** A Node `(req, res)` handler (Express, Connect, Vercel's Node runtime, `http.createServer`). */
export function toNodeHandler(handler: FetchHandler): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return getRequestListener((request) => handler(request))
}

export interface ServeOptions {
  /** Default 3000; 0 picks a free port. */
  readonly port?: number
  /** Default `127.0.0.1`. */
  readonly host?: string
  /**
   * Signals that shut the server down gracefully: it stops accepting connections, lets
   * requests in flight finish (those whose client hung up too), runs `onShutdown` (say,
   * `knex.destroy()`) and exits.
   * Default none; `['SIGTERM', 'SIGINT']` for a standalone server.
   */
  readonly shutdownOn?: readonly NodeJS.Signals[]
  readonly onShutdown?: () => void | Promise<void>
}

export interface RunningServer {
  /** `http://host:port`, the address it listens on. */
  readonly url: string
  readonly server: Server
  /**
   * Stops accepting connections and resolves when open ones have closed and every
   * request has been handled, including those whose client hung up.
   */
  close(): Promise<void>
}

/** Starts an HTTP server for `handler` once its API is compiled. */
export async function serve(handler: FetchHandler, options: ServeOptions = {}): Promise<RunningServer> {
  await handler.ready?.()
  const running = await listen(handler, options)
  for (const signal of options.shutdownOn ?? []) {
    process.once(signal, () => {
      void running
        .close()
        .then(() => options.onShutdown?.())
        .then(
          () => process.exit(0),
          () => process.exit(1),
        )
    })
  }
  return running
}

function listen(handler: FetchHandler, options: ServeOptions): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1'
  // Requests still being handled, counted apart from connections: a client that hangs up
  // closes its connection, but its request runs on (and holds database connections).
  let running = 0
  const waiting: (() => void)[] = []
  const handle = async (request: Request) => {
    running++
    try {
      return await handler(request)
    } finally {
      if (--running === 0) for (const wake of waiting.splice(0)) wake()
    }
  }
  const settled = () => (running === 0 ? Promise.resolve() : new Promise<void>((wake) => waiting.push(wake)))
  return new Promise((resolve, reject) => {
    const server = serveFetch({ fetch: handle, port: options.port ?? 3000, hostname: host }, (info: AddressInfo) => {
      const shownHost = info.family === 'IPv6' ? `[${info.address}]` : info.address
      const closed = () =>
        new Promise<void>((done, fail) => {
          ;(server as Server).close((error) => (error ? fail(error) : done()))
          ;(server as Server).closeIdleConnections?.()
        })
      resolve({
        url: `http://${shownHost}:${info.port}`,
        server: server as Server,
        close: async () => {
          await Promise.all([closed(), settled()])
        },
      })
    }) as Server
    server.once('error', reject)
  })
}
