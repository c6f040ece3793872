/**
 * HTTP/1.1 over a raw socket, for what fetch cannot express: a request sent in part,
 * several requests on one kept-alive connection, a client that hangs up, and seeing
 * exactly when the server closes the connection.
 */
import { connect, type Socket } from 'node:net'
import { encodeRequest } from '../../shared/wire.js'

export interface RawAnswer {
  readonly status: number
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

export class RawConnection {
  private buffer = Buffer.alloc(0)
  private wake: (() => void) | undefined
  /** Set once the connection has closed, whoever closed it. */
  isClosed = false
  /** Resolves once the connection has closed, whoever closed it. */
  readonly closed: Promise<void>

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk])
      this.wake?.()
    })
    // A server that destroys a connection with unread input resets it: that is a close too.
    socket.on('error', () => undefined)
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.isClosed = true
        this.wake?.()
        resolve()
      }),
    )
  }

  /** Opens a connection; resolves once the server's kernel has accepted it. */
  static open(url: string): Promise<RawConnection> {
    const { hostname, port } = new URL(url)
    const socket = connect(Number(port), hostname)
    const connection = new RawConnection(socket)
    return new Promise((resolve, reject) => {
      socket.once('connect', () => resolve(connection))
      socket.once('error', reject)
    })
  }

  write(text: string): void {
    if (!this.socket.destroyed) this.socket.write(text)
  }

  /** The next answer, or `undefined` if the connection closes before a whole one arrives. */
  async answer(): Promise<RawAnswer | undefined> {
    for (;;) {
      const answer = this.parse()
      if (answer) return answer
      if (this.isClosed) return undefined
      await new Promise<void>((resolve) => (this.wake = resolve))
    }
  }

  /** Sends a request and waits for its answer (`undefined`: the connection closed first). */
  async exchange(request: string): Promise<RawAnswer | undefined> {
    this.write(request)
    return this.answer()
  }

  destroy(): void {
    this.socket.destroy()
  }

  private parse(): RawAnswer | undefined {
    const end = this.buffer.indexOf('\r\n\r\n')
    if (end < 0) return undefined
    const [statusLine, ...lines] = this.buffer.subarray(0, end).toString('latin1').split('\r\n')
    const headers: Record<string, string> = {}
    for (const line of lines) {
      const colon = line.indexOf(':')
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
    }
    if (headers['transfer-encoding']) throw new Error('chunked answers are not supported here')
    const length = headers['content-length'] === undefined ? undefined : Number(headers['content-length'])
    // Without a length, the body runs to the end of the connection.
    if (length === undefined && !this.isClosed) return undefined
    const bodyEnd = length === undefined ? this.buffer.length : end + 4 + length
    if (this.buffer.length < bodyEnd) return undefined
    const body = this.buffer.subarray(end + 4, bodyEnd).toString('utf8')
    this.buffer = this.buffer.subarray(bodyEnd)
    return { status: Number(statusLine!.split(' ')[1]), headers, body }
  }
}

/** A POST to the executor with one procedure call, as raw HTTP/1.1. */
export function callRequest(procedure: string, args: Record<string, unknown> = {}, path = '/orm'): string {
  const body = encodeRequest({ v: 1, queries: [{ op: 'call', procedure, args }] })
  return `POST ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
}

/** Resolves after `ms`; for bounds generous enough that only a hang reaches them. */
export function after(ms: number): Promise<'timeout'> {
  return new Promise((resolve) => setTimeout(() => resolve('timeout'), ms).unref())
}
