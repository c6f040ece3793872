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

/**
 * How long a written position is handed to reads that fill the cache. A replica that
 * serves reads is at most its executor's `replication.maxLagMs` (seconds) behind, so an
 * older position has been replayed by every replica that serves; it also lets a position
 * of a database since replaced (lower positions) stop mattering.
 */
const POSITION_TTL_MS = 60_000

export class CacheVersion {
  private version = 0
  private position: string | undefined
  private positionAt = 0

  constructor(private readonly state: DurableObjectStateLike) {
    void state.blockConcurrencyWhile(async () => {
      this.version = (await state.storage.get<number>('version')) ?? 0
      this.position = await state.storage.get<string>('position')
      this.positionAt = (await state.storage.get<number>('positionAt')) ?? 0
    })
  }

  /** GET: the version and the recent position; POST `{ position? }`: bumps the version, keeps the newer position. */
  async fetch(request: Request): Promise<Response> {
    if (request.method === 'POST') {
      const { position } = (await request.json().catch(() => ({}))) as { position?: unknown }
      this.version++
      if (typeof position === 'string') {
        const expired = Date.now() - this.positionAt > POSITION_TTL_MS
        const newer = newerPosition(expired ? undefined : this.position, position)
        if (newer !== undefined) {
          this.position = newer
          this.positionAt = Date.now()
          await this.state.storage.put('position', this.position)
          await this.state.storage.put('positionAt', this.positionAt)
        }
      }
      await this.state.storage.put('version', this.version)
    }
    const recent = this.position !== undefined && Date.now() - this.positionAt <= POSITION_TTL_MS
    return Response.json({ version: this.version, ...(recent && { position: this.position }) })
  }
}
