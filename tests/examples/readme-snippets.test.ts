/**
 * README code blocks that name a file on their first line (`// examples/quickstart/api.ts
 * — …`) show that file: the rest of the block must appear in it, verbatim. So the README
 * shows code the suite compiles (NodeNext and Bundler) and runs.
 */
import { existsSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
const BLOCKS = [...README.matchAll(/```tsx?\n\/\/ (examples\/\S+\.tsx?)[^\n]*\n([\s\S]*?)```/g)].map((m) => ({ file: m[1]!, code: m[2]!.replace(/\n$/, '') }))

describe('README code blocks that name a file', () => {
  it('exist, for the quick start at least', () => {
    expect(BLOCKS.map((b) => b.file)).toEqual(
      expect.arrayContaining(['examples/quickstart/api.ts', 'examples/quickstart/main.ts', 'examples/quickstart/client.ts', 'examples/quickstart/posts.test.ts']),
    )
  })

  it.each(BLOCKS.map((b) => [b.file, b.code] as const))('%s holds what the README shows', (file, code) => {
    const path = new URL(`../../${file}`, import.meta.url)
    expect(existsSync(path), `${file} exists`).toBe(true)
    expect(readFileSync(path, 'utf8')).toContain(code)
  })
})
