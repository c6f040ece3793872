/**
 * Durable Objects the edge proxy shares across every isolate and location:
 * `RateLimiter` (one instance per caller, a fixed-window counter) and `CacheVersion`
 * (one instance, bumped by every write so cached reads everywhere go stale; with the
 * newest WAL position those writes reached, which reads that fill the cache carry).
 */
import { newerPosition } from '../shared/headers.js'

interface DurableObjectStateLike {
  readonly storage: { get<T>(key: string): Promise<T | undefined>; put(key: string, value: unknown): Promise<void> }
  blockConcurrencyWhile<T>(callback: () => Promise<T>): Promise<T>
}

export class RateLimiter {
  private windowStart = 0
  private count = 0

  async fetch(request: Request): Promise<Response> {
    const { limit, windowSeconds } = (await request.json()) as { limit: number; windowSeconds: number }
    const now = Date.now()
    const windowMs = windowSeconds * 1000
    if (now - this.windowStart >= windowMs) {
      this.windowStart = now - (now % windowMs)
      this.count = 0
    }
    this.count++
    const allowed = this.count <= limit
    const retryAfter = Math.max(1, Math.ceil((this.windowStart + windowMs - now) / 1000))
    return Response.json({ allowed, retryAfter })
  }
}

export class CacheVersion {
  private version = 0
  private position: string | undefined

  constructor(private readonly state: DurableObjectStateLike) {
    void state.blockConcurrencyWhile(async () => {
      this.version = (await state.storage.get<number>('version')) ?? 0
      this.position = await state.storage.get<string>('position')
    })
  }

  /** GET: the version and position; POST `{ position? }`: bumps the version, keeps the newer position. */
  async fetch(request: Request): Promise<Response> {
    if (request.method === 'POST') {
      const { position } = (await request.json().catch(() => ({}))) as { position?: unknown }
      this.version++
      if (typeof position === 'string') this.position = newerPosition(this.position, position)
      await this.state.storage.put('version', this.version)
      if (this.position !== undefined) await this.state.storage.put('position', this.position)
    }
    return Response.json({ version: this.version, ...(this.position !== undefined && { position: this.position }) })
  }
}
