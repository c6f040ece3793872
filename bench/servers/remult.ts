/** Remult's REST API (its Hono adapter on @hono/node-server, PostgreSQL data provider). */
import { serve } from '@hono/node-server'
import { Hono } from 'hono'
import { createPostgresDataProvider } from 'remult/postgres'
import { remultApi } from 'remult/remult-hono'
import { remultEntities } from '../remult-entities.js'

const api = remultApi({
  entities: remultEntities,
  ensureSchema: false,
  logApiEndPoints: false,
  dataProvider: createPostgresDataProvider({
    connectionString: process.env.DATABASE_URL,
    configuration: { max: 8, options: `-c search_path=${process.env.BENCH_SCHEMA}` },
  }),
})
const app = new Hono()
app.route('', api)

serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => console.log(`http://127.0.0.1:${info.port}`))
