/**
 * `npm start`: the demo on http://127.0.0.1:3000. PGlite keeps its data in `.data/demo`
 * (migrated and seeded on first run); DATABASE_URL switches to PostgreSQL. PORT and
 * HOST change where it listens.
 */
import { fileURLToPath } from 'node:url'
import { startDemo } from './demo-server.js'

const demo = await startDemo({
  port: Number(process.env.PORT ?? 3000),
  host: process.env.HOST ?? '127.0.0.1',
  ...(process.env.DATABASE_URL
    ? { databaseUrl: process.env.DATABASE_URL }
    : { dataDir: fileURLToPath(new URL('../../.data/demo', import.meta.url)) }),
})
console.log(`async-orm demo on ${demo.database}`)
console.log(`  open ${demo.url}/   (the executor answers POST ${demo.url}/orm)`)

const stop = async () => {
  await demo.close()
  process.exit(0)
}
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
