/**
 * The demo schema and its deterministic seed: the same rows on every database, so the
 * test suite can compare PostgreSQL and PGlite answers with objection's.
 */
import type { Knex } from 'knex'

export async function migrate(knex: Knex): Promise<void> {
  if (await knex.schema.hasTable('authors')) return
  await knex.schema.createTable('authors', (t) => {
    t.bigIncrements('id')
    t.text('name').notNullable()
    t.text('email').notNullable().unique()
    t.text('bio')
    t.decimal('rating', 3, 1)
    t.jsonb('meta')
    t.timestamp('created_at', { useTz: true }).notNullable()
  })
  await knex.schema.createTable('profiles', (t) => {
    t.increments('id')
    t.bigInteger('author_id').notNullable().unique().references('authors.id')
    t.text('website')
    t.text('location')
  })
  await knex.schema.createTable('posts', (t) => {
    t.increments('id')
    t.bigInteger('author_id').notNullable().references('authors.id').index()
    t.text('title').notNullable()
    t.text('body').notNullable()
    t.boolean('published').notNullable()
    t.integer('views').notNullable()
    t.text('draft_notes')
    t.timestamp('created_at', { useTz: true }).notNullable().index()
  })
  await knex.schema.createTable('comments', (t) => {
    t.increments('id')
    t.integer('post_id').notNullable().references('posts.id').index()
    t.bigInteger('author_id').references('authors.id').index()
    t.text('body').notNullable()
    t.timestamp('created_at', { useTz: true }).notNullable()
  })
  await knex.schema.createTable('tags', (t) => {
    t.increments('id')
    t.text('name').notNullable().unique()
  })
  await knex.schema.createTable('post_tags', (t) => {
    t.integer('post_id').notNullable().references('posts.id')
    t.integer('tag_id').notNullable().references('tags.id')
    t.primary(['post_id', 'tag_id'])
    t.index(['tag_id'])
  })
}

export interface SeedSize {
  readonly authors: number
  readonly postsPerAuthor: number
  readonly commentsPerPost: number
}

export const DEMO_SIZE: SeedSize = { authors: 300, postsPerAuthor: 8, commentsPerPost: 3 }

const FIRST = ['Ada', 'Alan', 'Grace', 'Edsger', 'Barbara', 'Donald', 'Frances', 'Ken', 'Margaret', 'Niklaus', 'Radia', 'Tony']
const LAST = ['Lovelace', 'Turing', 'Hopper', 'Dijkstra', 'Liskov', 'Knuth', 'Allen', 'Thompson', 'Hamilton', 'Wirth', 'Perlman', 'Hoare']
const WORDS = ['async', 'query', 'model', 'edge', 'worker', 'postgres', 'index', 'cache', 'batch', 'graph', 'policy', 'types', 'stream', 'proxy', 'schema', 'bigint']
const TAGS = ['databases', 'typescript', 'edge', 'security', 'performance', 'testing', 'design', 'tutorial', 'release', 'opinion', 'howto', 'news']
const CITIES = ['Berlin', 'Lagos', 'Lima', 'Osaka', 'Oslo', 'Pune', null]

/** A small deterministic PRNG (mulberry32), so every database gets the same rows. */
function random(seed: number): () => number {
  let state = seed
  return () => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export async function seed(knex: Knex, size: SeedSize = DEMO_SIZE): Promise<void> {
  const [{ count }] = (await knex('authors').count({ count: '*' })) as [{ count: string | number }]
  if (Number(count) > 0) return
  const rand = random(42)
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!
  const sentence = (n: number) => Array.from({ length: n }, () => pick(WORDS)).join(' ')
  const start = Date.UTC(2024, 0, 1)
  const day = 86_400_000

  const authors = Array.from({ length: size.authors }, (_, i) => ({
    id: i + 1,
    name: `${pick(FIRST)} ${pick(LAST)}`,
    email: `author${i + 1}@example.com`,
    bio: rand() < 0.3 ? null : `Writes about ${sentence(3)}.`,
    rating: rand() < 0.2 ? null : (1 + Math.floor(rand() * 90) / 10).toFixed(1),
    meta: JSON.stringify({ languages: [pick(['en', 'de', 'fr', 'ja'])], verified: rand() < 0.5 }),
    created_at: new Date(start + Math.floor(rand() * 300) * day),
  }))
  const profiles = authors
    .filter((a) => a.id % 3 !== 0)
    .map((a, i) => ({ id: i + 1, author_id: a.id, website: `https://example.com/~${a.id}`, location: pick(CITIES) }))
  const posts = authors.flatMap((a) =>
    Array.from({ length: size.postsPerAuthor }, () => ({
      author_id: a.id,
      title: `${pick(['On', 'Why', 'How', 'Notes on', 'Against'])} ${sentence(2)}`,
      body: sentence(12),
      published: rand() < 0.8,
      views: Math.floor(rand() * 5000),
      draft_notes: rand() < 0.5 ? `private: ${sentence(4)}` : null,
      created_at: new Date(a.created_at.getTime() + Math.floor(rand() * 60) * day + Math.floor(rand() * day)),
    })),
  ).map((p, i) => ({ id: i + 1, ...p }))
  const comments = posts.flatMap((p) =>
    Array.from({ length: Math.floor(rand() * (size.commentsPerPost * 2 + 1)) }, () => ({
      post_id: p.id,
      author_id: rand() < 0.1 ? null : 1 + Math.floor(rand() * size.authors),
      body: sentence(6),
      created_at: new Date(p.created_at.getTime() + Math.floor(rand() * 10 * day)),
    })),
  ).map((c, i) => ({ id: i + 1, ...c }))
  const tags = TAGS.map((name, i) => ({ id: i + 1, name }))
  const postTags = posts.flatMap((p) => {
    const chosen = new Set(Array.from({ length: Math.floor(rand() * 4) }, () => 1 + Math.floor(rand() * tags.length)))
    return [...chosen].map((tagId) => ({ post_id: p.id, tag_id: tagId }))
  })

  await knex.transaction(async (trx) => {
    for (const [table, rows] of [
      ['authors', authors],
      ['profiles', profiles],
      ['posts', posts],
      ['comments', comments],
      ['tags', tags],
      ['post_tags', postTags],
    ] as const) {
      await trx.batchInsert(table, rows as object[], 500)
    }
    for (const table of ['authors', 'profiles', 'posts', 'comments', 'tags']) {
      await trx.raw(`select setval(pg_get_serial_sequence(?, 'id'), (select max(id) from ??))`, [table, table])
    }
  })
}
