/** The floor: a hand-written @hono/node-server + pg handler running the workloads' SQL. */
import { serve } from '@hono/node-server'
import pg from 'pg'
import { updatedPost } from '../workloads.js'

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 8, options: `-c search_path=${process.env.BENCH_SCHEMA}` })
const POST = 'id, author_id, title, body, published, views, created_at'

async function handle(request: Request): Promise<Response> {
  const { pathname } = new URL(request.url)
  const { id, ids } = (await request.json()) as { id: number; ids: number[] }
  let rows: unknown
  switch (pathname) {
    case '/point':
      rows = (await pool.query('select id, name, bio, rating, meta, created_at from authors where id = $1', [id])).rows[0]
      break
    case '/twenty':
      rows = (await pool.query(`select ${POST} from posts where author_id = $1 and published = true order by created_at desc limit 20`, [id])).rows
      break
    case '/eager': {
      const posts = (await pool.query(`select ${POST} from posts where author_id = $1 and published = true order by created_at desc limit 20`, [id])).rows
      const authors = (await pool.query('select id, name, bio, rating, meta, created_at from authors where id = any($1)', [[...new Set(posts.map((p) => p.author_id))]])).rows
      const byId = new Map(authors.map((a) => [a.id, a]))
      rows = posts.map((p) => ({ ...p, author: byId.get(p.author_id) ?? null }))
      break
    }
    case '/thousand':
      rows = (await pool.query(`select ${POST} from posts where published = true and id > $1 order by id limit 1000`, [id])).rows
      break
    case '/batch':
      // The floor's own batch endpoint: one request, one statement per id.
      rows = await Promise.all(ids.map(async (one) => (await pool.query('select id, name, bio, rating, meta, created_at from authors where id = $1', [one])).rows[0]))
      break
    case '/insert': {
      // What the executor writes for the same post: the author's, with the server's presets.
      const text = `insert into posts (author_id, title, body, published, views, created_at) values ($1, $2, $3, $4, 0, now()) returning ${POST}`
      rows = (await pool.query(text, [1, `post ${id}`, 'inserted by the bench', true])).rows[0]
      break
    }
    case '/update': {
      // What the executor writes for the same patch: the author's own post, under the read policy.
      const post = updatedPost(id)
      const text = `update posts set title = $1 where id = $2 and author_id = $3 and published = true returning ${POST}`
      rows = (await pool.query(text, [post.title, post.id, id])).rows[0] ?? null
      break
    }
    case '/large':
      rows = (await pool.query(`select ${POST} from posts where published = true and id > $1 order by id limit 10000`, [id])).rows
      break
    default:
      return new Response('not found', { status: 404 })
  }
  return new Response(JSON.stringify(rows), { headers: { 'content-type': 'application/json' } })
}

serve({ fetch: handle, port: 0, hostname: '127.0.0.1' }, (info) => console.log(`http://127.0.0.1:${info.port}`))
