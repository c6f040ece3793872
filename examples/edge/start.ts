/**
 * `npm run start:edge`: the demo behind the edge proxy, all local. The browser talks to
 * the demo page (port 3000), whose `/orm` goes through the Worker in `wrangler dev`
 * (port 8787), which signs the hop to the executor (port 3001). Development secrets
 * only: set HOP_SECRET and JWT_SECRET in real deployments.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { startDemo } from '../demo/demo-server.js'

const hopSecret = process.env.HOP_SECRET ?? 'development hop secret, not for production use'
const jwtSecret = process.env.JWT_SECRET ?? 'development jwt secret, not for production use'
const proxyPort = Number(process.env.PROXY_PORT ?? 8787)
const executorPort = Number(process.env.EXECUTOR_PORT ?? 3001)

const wrangler = spawn(
  'npx',
  [
    'wrangler', 'dev', '--ip', '127.0.0.1', '--port', String(proxyPort),
    '--var', `EXECUTOR_URL:http://127.0.0.1:${executorPort}/orm`,
    '--var', `HOP_SECRET:${hopSecret}`,
    '--var', `JWT_SECRET:${jwtSecret}`,
    '--var', 'JWT_AUDIENCE:async-orm-demo',
  ],
  // Its own process group: stopping the demo stops npx, wrangler and workerd together.
  { cwd: fileURLToPath(new URL('../..', import.meta.url)), stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false' }, detached: true },
)

const demo = await startDemo({
  port: Number(process.env.PORT ?? 3000),
  dataDir: fileURLToPath(new URL('../../.data/demo', import.meta.url)),
  edge: { proxyUrl: `http://127.0.0.1:${proxyPort}/orm`, executorPort, hopSecret },
  jwtSecret,
})
console.log(`async-orm demo behind the edge proxy on ${demo.database}`)
console.log(`  open ${demo.url}/  → edge proxy http://127.0.0.1:${proxyPort}/orm → executor http://127.0.0.1:${executorPort}/orm`)

const stop = async () => {
  try {
    process.kill(-wrangler.pid!, 'SIGTERM')
  } catch {
    // Already gone.
  }
  await demo.close()
  process.exit(0)
}
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
