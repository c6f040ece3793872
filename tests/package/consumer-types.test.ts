/**
 * The package as a consumer's TypeScript sees it: an app that imports `async-orm/client`,
 * `async-orm/executor`, `async-orm/executor/node`, `async-orm/msw/stubs` and
 * `async-orm/tanstack-query` (with its own `@tanstack/query-core`) type-checks
 * under `moduleResolution` NodeNext, Node16 and Bundler, from the built declarations
 * (`dist/`, which `npm ci` builds through `prepare`) without compiling the package's
 * TypeScript sources.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const TSC = join(ROOT, 'node_modules/.bin/tsc')

const APP = `import { createClient, type Client } from 'async-orm/client'
import { createExecutor, expose } from 'async-orm/executor'
import { serve } from 'async-orm/executor/node'
import { ormStubs } from 'async-orm/msw/stubs'
import { queryOptions } from 'async-orm/tanstack-query'
import { QueryClient } from '@tanstack/query-core'
import { Model } from 'objection'

class Tag extends Model {
  static override tableName = 'tags'
  declare id: number
  declare name: string
}
export const api = { Tag: expose(Tag, { read: { allow: true, columns: '*' } }) }
const db: Client<typeof api> = createClient<typeof api>({ url: 'http://localhost/orm' })
export const names: Promise<string[]> = db.Tag.query().where('name', 'like', 'a%').then((rows) => rows.map((row) => row.name))
// @ts-expect-error -- not a column of Tag
export const typo = db.Tag.query().where('nmae', 'x')
// The cache is typed by the key, with the app's own query-core.
export const cached: { id: number; name: string }[] | undefined = new QueryClient().getQueryData(queryOptions(db.Tag.query()).queryKey)
export { createExecutor, serve, ormStubs }
`

describe('the package for a consumer’s TypeScript', () => {
  let dir: string
  beforeAll(() => {
    expect(existsSync(join(ROOT, 'dist/client/index.d.ts')), 'dist/ is built (npm ci runs prepare; or npm run build)').toBe(true)
    dir = mkdtempSync(join(tmpdir(), 'async-orm-consumer-'))
    mkdirSync(join(dir, 'node_modules'))
    // As npm installs it: the package, and the app's own objection (a peer dependency).
    symlinkSync(ROOT, join(dir, 'node_modules/async-orm'), 'dir')
    symlinkSync(join(ROOT, 'node_modules/objection'), join(dir, 'node_modules/objection'), 'dir')
    mkdirSync(join(dir, 'node_modules/@tanstack'))
    symlinkSync(join(ROOT, 'node_modules/@tanstack/query-core'), join(dir, 'node_modules/@tanstack/query-core'), 'dir')
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }')
    writeFileSync(join(dir, 'app.ts'), APP)
  })
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it.each(['NodeNext', 'Node16', 'Bundler'])('type-checks under moduleResolution %s from the declarations', (resolution) => {
    const compilerOptions = {
      target: 'ES2022',
      module: resolution === 'Bundler' ? 'ESNext' : resolution,
      moduleResolution: resolution,
      strict: true,
      noImplicitOverride: true,
      noEmit: true,
      skipLibCheck: true,
      types: [],
    }
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['app.ts'] }))
    const run = (...args: string[]) => {
      try {
        return execFileSync(process.execPath, [TSC, '-p', dir, ...args], { encoding: 'utf8' })
      } catch (error) {
        throw new Error(`tsc failed under ${resolution}: ${(error as { stdout?: string }).stdout ?? String(error)}`)
      }
    }
    run()
    // An app that publishes its API's types (a monorepo package, a library) emits declarations for it.
    run('--noEmit', 'false', '--declaration', '--emitDeclarationOnly', '--outDir', join(dir, 'types'))
    expect(readFileSync(join(dir, 'types/app.d.ts'), 'utf8')).toMatch(/export declare const api: \{/)
    const sources = run('--listFilesOnly')
      .split('\n')
      .filter((file) => file.startsWith(ROOT) && !file.includes('/node_modules/') && !file.endsWith('.d.ts'))
    expect(sources).toEqual([])
  })
})
