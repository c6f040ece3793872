/** drizzle-orm's pg-proxy server, as its documentation writes it (on @hono/node-server + pg). */
import { serve } from '@hono/node-server'
import pg from 'pg'

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 8, options: `-c search_path=${process.env.BENCH_SCHEMA}` })

async function handle(request: Request): Promise<Response> {
  const { sql, params, method } = (await request.json()) as { sql: string; params: unknown[]; method: 'all' | 'execute' }
  const result = method === 'all' ? await pool.query({ text: sql, values: params, rowMode: 'array' }) : await pool.query({ text: sql, values: params })
  return new Response(JSON.stringify(result.rows), { headers: { 'content-type': 'application/json' } })
}

serve({ fetch: handle, port: 0, hostname: '127.0.0.1' }, (info) => console.log(`http://127.0.0.1:${info.port}`))
