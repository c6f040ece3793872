/**
 * Durable Objects the edge proxy shares across every isolate and location:
 * `RateLimiter` (one instance per caller, a fixed-window counter) and `CacheVersion`
 * (one instance, bumped by every write so cached reads everywhere go stale).
 */

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

  constructor(private readonly state: DurableObjectStateLike) {
    void state.blockConcurrencyWhile(async () => {
      this.version = (await state.storage.get<number>('version')) ?? 0
    })
  }

  async fetch(request: Request): Promise<Response> {
    if (request.method === 'POST') {
      this.version++
      await this.state.storage.put('version', this.version)
    }
    return Response.json({ version: this.version })
  }
}
