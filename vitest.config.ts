import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
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
