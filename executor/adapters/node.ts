/**
 * Node adapter. `toNodeHandler` converts Node I/O to `Request`/`Response` (with
 * @hono/node-server) and does nothing else (STYLE.md, "tRPC"); `serve()` owns the
 * server's policy: timeouts for slow clients, a connection cap and a bounded shutdown.
 */
import { createServer, IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { getRequestListener } from '@hono/node-server'
import { ExecutorError } from '../executor-error.js'

type FetchHandler = ((request: Request) => Promise<Response>) & { ready?: () => Promise<void> }

/** A Node `(req, res)` handler (Express, Connect, Vercel's Node runtime, `http.createServer`). */
export function toNodeHandler(handler: FetchHandler): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const listener = getRequestListener((request) => handler(request))
  return (req, res) => {
    quietHangUp(req)
    return listener(req, res)
  }
}

/**
 * A connection that closes before its request has fully arrived (the client hung up, or
 * `requestTimeoutMs` ran out mid-body) makes Node destroy the request stream with a bare
 * `Error('aborted')` (ECONNRESET), which a body read then throws: the executor would log
 * it as an unexpected error, or take it for a lost database connection. It is the
 * client's doing, so the read fails with a client error, answered without a log line.
 * A request that did fully arrive keeps Node's error: @hono/node-server recognizes it and
 * still hands the handler the whole body. Either way `request.signal` aborts
 * (@hono/node-server aborts it when the response closes early).
 */
function quietHangUp(incoming: IncomingMessage): void {
  incoming.destroy = (error?: Error) =>
    IncomingMessage.prototype.destroy.call(
      incoming,
      !incoming.complete && (error as NodeJS.ErrnoException | undefined)?.code === 'ECONNRESET'
        ? new ExecutorError('BAD_REQUEST', 'the connection closed before the whole request arrived', { cause: error })
        : error,
    )
}

export interface ServeOptions {
  /** Default 3000; 0 picks a free port. */
  readonly port?: number
  /** Default `127.0.0.1`. */
  readonly host?: string
  /**
   * Signals that shut the server down gracefully (see `RunningServer.close`), then run
   * `onShutdown` (say, `knex.destroy()`) and exit: with code 0, or 1 if the shutdown
   * deadline passed first (requests still running, or `onShutdown` unfinished).
   * Default none; `['SIGTERM', 'SIGINT']` for a standalone server.
   */
  readonly shutdownOn?: readonly NodeJS.Signals[]
  readonly onShutdown?: () => void | Promise<void>
  /**
   * How long a shutdown may take, `onShutdown` included, before the remaining connections
   * are destroyed and the process exits anyway. Default 10 000.
   */
  readonly shutdownTimeoutMs?: number
  /** Time a client has to send a request's headers, from its first byte or from connecting. Default 10 000. */
  readonly headersTimeoutMs?: number
  /**
   * Time a client has to send a whole request, body included. Default 30 000. (The time
   * the executor may take to answer is its own `limits.transactionTimeoutMs`.)
   */
  readonly requestTimeoutMs?: number
  /** How long an idle keep-alive connection stays open. Default 5 000. */
  readonly keepAliveTimeoutMs?: number
  /** Open connections at most; further ones are closed as they arrive. Default 1 000. */
  readonly maxConnections?: number
}

export interface RunningServer {
  /** `http://host:port`, the address it listens on. */
  readonly url: string
  readonly server: Server
  /**
   * Shuts the server down gracefully: new connections are refused, idle ones closed at
   * once; requests in flight finish (those whose client hung up too) and their answers
   * carry `connection: close`, and their connections close after them. Resolves once
   * every connection is closed and every request has been handled. At the deadline
   * (`timeoutMs`, default `shutdownTimeoutMs`) the remaining connections are destroyed,
   * which aborts the `signal` of the requests still running, and the promise rejects if
   * there were any. Later calls return the first call's promise.
   */
  close(options?: { readonly timeoutMs?: number }): Promise<void>
}

/** `serve()`'s defaults, tight enough that slow or idle clients cannot hold the server. */
const SERVE_DEFAULTS = {
  shutdownTimeoutMs: 10_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 1_000,
} as const

/** Starts an HTTP server for `handler` once its API is compiled. */
export async function serve(handler: FetchHandler, options: ServeOptions = {}): Promise<RunningServer> {
  await handler.ready?.()
  const running = await listen(handler, options)
  for (const signal of options.shutdownOn ?? []) process.once(signal, () => shutdown(running, options))
  return running
}

function shutdown(running: RunningServer, options: ServeOptions): void {
  const timeoutMs = options.shutdownTimeoutMs ?? SERVE_DEFAULTS.shutdownTimeoutMs
  const deadline = performance.now() + timeoutMs
  const fail = (error: unknown) => {
    console.error('async-orm: shutdown did not complete;', error instanceof Error ? error.message : error)
    process.exit(1)
  }
  running
    .close()
    .then(() => {
      // onShutdown gets what is left of the deadline: a pool that never closes must not
      // keep the process alive.
      const overdue = setTimeout(() => fail(new Error(`onShutdown did not finish within ${timeoutMs} ms`)), Math.max(0, deadline - performance.now()))
      overdue.unref()
      return options.onShutdown?.()
    })
    .then(() => process.exit(0), fail)
}

function listen(handler: FetchHandler, options: ServeOptions): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1'
  const headersTimeout = options.headersTimeoutMs ?? SERVE_DEFAULTS.headersTimeoutMs
  const requestTimeout = options.requestTimeoutMs ?? SERVE_DEFAULTS.requestTimeoutMs
  const convert = toNodeHandler(handler)
  // Requests in flight: from arrival until the handler has settled and the answer is out
  // (or its connection gone). Counted apart from connections: a client that hangs up
  // closes its connection, but its handler runs on until it has stopped its database work.
  let inFlight = 0
  // Responses whose headers may not be written yet, to mark `connection: close` at shutdown.
  const open = new Set<ServerResponse>()
  let draining = false
  let onIdle: (() => void) | undefined
  const server = createServer(
    {
      headersTimeout,
      requestTimeout,
      keepAliveTimeout: options.keepAliveTimeoutMs ?? SERVE_DEFAULTS.keepAliveTimeoutMs,
      // Node checks both timeouts every 30 s by default, which would let a slow client
      // stay up to 30 s past them.
      connectionsCheckingInterval: Math.min(1000, ...[headersTimeout, requestTimeout].filter((t) => t > 0).map((t) => Math.ceil(t / 4))),
    },
    (req, res) => {
      inFlight++
      open.add(res)
      if (draining) res.setHeader('connection', 'close')
      let pending = 2
      const settle = () => {
        if (--pending === 0 && --inFlight === 0) onIdle?.()
      }
      res.once('close', () => {
        open.delete(res)
        settle()
      })
      void convert(req, res).then(settle, settle)
    },
  )
  server.maxConnections = options.maxConnections ?? SERVE_DEFAULTS.maxConnections

  const drain = (timeoutMs: number) =>
    new Promise<void>((resolve, reject) => {
      draining = true
      for (const res of open) if (!res.headersSent) res.setHeader('connection', 'close')
      let serverClosed = false
      const finish = () => {
        if (!serverClosed || inFlight > 0) return
        clearTimeout(deadline)
        resolve()
      }
      const deadline = setTimeout(() => {
        const running = inFlight
        server.closeAllConnections()
        if (running > 0) reject(new Error(`${running} request(s) still running at the shutdown deadline (${timeoutMs} ms)`))
      }, timeoutMs)
      // With nothing in flight, the connections left are idle or still sending headers:
      // none has an answer coming, so they close at once.
      onIdle = () => {
        server.closeAllConnections()
        finish()
      }
      // Stops listening; calls back once every connection is closed. http.Server.close()
      // would close idle connections first: a client seeing its idle connection close can
      // reconnect before the listener closes, be accepted, then reset (its request maybe
      // half sent) instead of refused. So idle connections close just after.
      server.closeIdleConnections = () => undefined
      server.close((error) => {
        if (error) return reject(error)
        serverClosed = true
        finish()
      })
      delete (server as Partial<Server>).closeIdleConnections
      server.closeIdleConnections()
      if (inFlight === 0) onIdle()
    })

  let closing: Promise<void> | undefined
  return new Promise((resolve, reject) => {
    // Once listening, this only swallows failed accepts (EMFILE): each costs just the
    // connection it refused.
    server.on('error', reject)
    server.listen(options.port ?? 3000, host, () => {
      const info = server.address() as AddressInfo
      const shownHost = info.family === 'IPv6' ? `[${info.address}]` : info.address
      resolve({
        url: `http://${shownHost}:${info.port}`,
        server,
        close: (closeOptions) => (closing ??= drain(closeOptions?.timeoutMs ?? options.shutdownTimeoutMs ?? SERVE_DEFAULTS.shutdownTimeoutMs)),
      })
    })
  })
}
