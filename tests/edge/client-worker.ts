/** A worker (an edge function) that queries through the proxy with the unchanged client. */
import { createClient } from '../../client/index.js'
import type { DemoApi } from '../../examples/demo/api.js'

interface Env {
  readonly ORM_URL: string
  readonly PROXY: { fetch: typeof fetch }
}

export default {
  async fetch(_request: Request, env: Env): Promise<Response> {
    const db = createClient<DemoApi>({ url: env.ORM_URL, fetch: (input, init) => env.PROXY.fetch(input, init) })
    const [tags, first] = await Promise.all([db.Tag.query().count(), db.Tag.query().orderBy('id').first()])
    // A stream through the proxy, read with the worker's web streams (its cache hint is ignored).
    const streamed: string[] = []
    for await (const tag of db.Tag.query().orderBy('id').cache({ ttl: 60 }).stream()) streamed.push(tag.name)
    return Response.json({ tags, first: first?.name, idType: typeof first?.id, streamed: streamed.length, streamedFirst: streamed[0] })
  },
}
