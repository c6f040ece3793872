/** The client: any runtime with fetch; its types come from the API definition. */
import { createClient } from 'async-orm/client'
import type { api } from './api.js'
import type { procedures } from './procedures.js'

export function connect(url: string, token: () => string | Promise<string>) {
  return createClient<typeof api, typeof procedures>({ url, headers: async () => ({ authorization: `Bearer ${await token()}` }) })
}

export type Db = ReturnType<typeof connect>

export async function queries(db: Db) {
  const users = await db.User.query().where('name', 'like', 'A%').orderBy('createdAt', 'desc').limit(5)
  const user = await db.User.query().findById(1).withGraphFetched({ posts: (p) => p.orderBy('id').limit(3) })
  const same = await db.User.objects.filter({ name__startswith: 'A' }).orderBy('-createdAt').slice(0, 5)
  const post = await db.Post.query().insert({ title: 'Hello', body: 'First post' })
  return { users, user, same, post }
}

/** A procedure call, alone and in a transaction with a write: both applied, or neither. */
export async function rename(db: Db, postId: number) {
  const renamed = await db.call('retitle', { postId, title: 'Hello again' })
  const [draft, again] = await db.transaction((t) => [
    t.Post.query().insert({ title: 'Draft', body: 'to be renamed' }),
    t.call('retitle', { postId, title: 'Hello, third time' }),
  ])
  return { renamed, draft, again }
}

/** django-async-orm's callback style. */
export function withCallback(db: Db, done: (names: string[]) => void): void {
  db.User.query().where('id', 1).execute((error, rows) => done(error ? [] : (rows ?? []).map((u) => u.name)))
}

/** Every post the caller may read as CSV lines, streamed: never one answer in memory. */
export async function* exportPosts(db: Db): AsyncGenerator<string> {
  yield 'id,title'
  for await (const post of db.Post.query().select('id', 'title').orderBy('id').stream()) {
    yield `${post.id},"${post.title.replace(/"/g, '""')}"`
  }
}
