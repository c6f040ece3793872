import js from '@eslint/js'
import tseslint from 'typescript-eslint'

const serverOnly = ['pg', 'pg-*', 'knex', 'objection', '@electric-sql/*', '@hono/*', 'node:*', 'fs', 'path', 'crypto', 'http', 'https', 'net', 'stream', 'util']

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'test-results/**', '.data/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-empty-object-type': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/no-unused-expressions': ['error', { allowTernary: true, allowShortCircuit: true }],
    },
  },
  {
    // STYLE.md #1: imports flow one way, and the client runs in browsers and at the edge.
    files: ['client/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['../executor/*', '../executor', ...serverOnly], message: 'client/ runs in browsers and workers: no executor, server or Node imports' }] }],
    },
  },
  {
    files: ['shared/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['../client/*', '../executor/*', ...serverOnly], message: 'shared/ imports neither side' }] }],
    },
  },
  {
    files: ['edge/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['../client/*', '../executor/*', ...serverOnly], message: 'the edge proxy imports only shared/' }] }],
    },
  },
  {
    files: ['tanstack-query/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['../executor/*', '../msw/*', ...serverOnly], message: 'the TanStack Query integration runs where the client runs' }] }],
    },
  },
  {
    files: ['msw/stubs.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['../executor/*', ...serverOnly], message: 'the stubs run in browsers too' }] }],
    },
  },
  {
    files: ['executor/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: '(^|/)client(/|$)', message: 'the executor never imports the client' }] }],
    },
  },
  // The executor's folders are the stages of a request, and imports run one way:
  // api (what the app declares) ← validate ← session (SQL, scope, budget) ← run; the
  // runtime adapters and authentication stand apart; create-executor ties them together.
  // route (where a request runs: replicas, poolers, WAL positions) stands on the top-level
  // helpers alone, and run may use it.
  ...Object.entries({
    api: ['validate', 'session', 'run', 'route', 'adapters', 'auth'],
    validate: ['session', 'run', 'route', 'adapters', 'auth'],
    session: ['run', 'route', 'adapters', 'auth'],
    run: ['adapters', 'auth'],
    route: ['api', 'validate', 'session', 'run', 'adapters', 'auth'],
    adapters: ['api', 'validate', 'session', 'run', 'route', 'auth'],
    auth: ['api', 'validate', 'session', 'run', 'route', 'adapters'],
  }).map(([folder, later]) => ({
    files: [`executor/${folder}/**/*.ts`],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { regex: '(^|/)client(/|$)', message: 'the executor never imports the client' },
          { regex: `^\\.\\./(${later.join('|')})/|^\\.\\./(create-executor|index)\\.js$`, message: `executor/${folder}/ imports only ${folder === 'adapters' || folder === 'auth' ? 'the executor\'s top-level helpers' : 'earlier stages'}: see eslint.config.js` },
        ],
      }],
    },
  })),
  {
    // The top-level helpers (errors, limits, outages, request bodies) import no stage.
    files: ['executor/executor-error.ts', 'executor/limits.ts', 'executor/outage.ts', 'executor/request-body.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: '^\\./[a-z-]+/|^\\./(create-executor|index)\\.js$', message: 'top-level helpers import no stage' }, { regex: '(^|/)client(/|$)', message: 'the executor never imports the client' }] }],
    },
  },
)
