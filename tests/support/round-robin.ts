/**
 * A load balancer for the tests: an HTTP server that sends each request to the next of
 * its origins in turn, as the platform in front of several executor processes does.
 */
import { serve, type ServerType } from '@hono/node-server'

export interface RoundRobin {
  readonly url: string
  /** The origins the requests went to, in order. */
  readonly sentTo: string[]
  close(): Promise<void>
}

export async function startRoundRobin(origins: readonly string[]): Promise<RoundRobin> {
  const sentTo: string[] = []
  let turn = 0
  const { server, port } = await new Promise<{ server: ServerType; port: number }>((resolve) => {
    const server = serve(
      {
        port: 0,
        hostname: '127.0.0.1',
        fetch: async (request) => {
          const origin = origins[turn++ % origins.length]!
          sentTo.push(origin)
          const url = new URL(request.url)
          const body = request.method === 'GET' || request.method === 'HEAD' ? undefined : await request.arrayBuffer()
          return fetch(`${origin}${url.pathname}${url.search}`, { method: request.method, headers: request.headers, body })
        },
      },
      (info) => resolve({ server, port: info.port }),
    )
  })
  return {
    url: `http://127.0.0.1:${port}`,
    sentTo,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}
