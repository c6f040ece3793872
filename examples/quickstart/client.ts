/** The client: any runtime with fetch; its types come from the API definition. */
import { createClient } from 'async-orm/client'
import type { api } from './api.js'

export function connect(url: string, token: () => string | Promise<string>) {
  return createClient<typeof api>({ url, headers: async () => ({ authorization: `Bearer ${await token()}` }) })
}

export type Db = ReturnType<typeof connect>

export async function queries(db: Db) {
  const users = await db.User.query().where('name', 'like', 'A%').orderBy('createdAt', 'desc').limit(5)
  const user = await db.User.query().findById(1).withGraphFetched({ posts: (p) => p.orderBy('id').limit(3) })
  const same = await db.User.objects.filter({ name__startswith: 'A' }).orderBy('-createdAt').slice(0, 5)
  const post = await db.Post.query().insert({ title: 'Hello', body: 'First post' })
  return { users, user, same, post }
}

/** django-async-orm's callback style. */
export function withCallback(db: Db, done: (names: string[]) => void): void {
  db.User.query().where('id', 1).execute((error, rows) => done(error ? [] : (rows ?? []).map((u) => u.name)))
}
