/**
 * The querysets and the client the React and Vue examples share: the client is the demo's
 * (`/orm`, signed in with a bearer token once `signIn` ran), the querysets are plain values,
 * made once and used as the key of their data.
 */
import { createClient } from 'async-orm/client'
import type { DemoApi } from '../demo/api.js'

let token: string | undefined

export const db = createClient<DemoApi>({ url: '/orm', headers: (): Record<string, string> => (token ? { authorization: `Bearer ${token}` } : {}) })

/** Signs in as a demo author (the demo server's sign-in: anyone may be any author). */
export async function signIn(author: number): Promise<void> {
  const response = await fetch(`/demo/token?author=${author}`, { method: 'POST' })
  if (!response.ok) throw new Error(`cannot sign in as author ${author}`)
  token = ((await response.json()) as { token: string }).token
}

export const latestPosts = db.Post.query().select('id', 'title', 'createdAt').orderBy('id', 'desc').limit(5)
export const postCount = db.Post.query().resultSize()
export const tags = db.Tag.query().select('id', 'name').orderBy('name')

/** Publishes a post as the signed-in author. */
export const publish = (title: string) => db.Post.query().insert({ title, body: '', published: true }).returning('id', 'title', 'createdAt')
