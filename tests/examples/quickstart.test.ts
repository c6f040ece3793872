/**
 * The README's quick start, run as written: `examples/quickstart/main.ts` started as its
 * own process on PostgreSQL (a schema of its own), and the client code of
 * `examples/quickstart/client.ts` against it over real HTTP with a token from `tokenFor`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient } from '../../client/index.js'
import type { api } from '../../examples/quickstart/api.js'
import { tokenFor } from '../../examples/quickstart/auth.js'
import { connect, exportPosts, queries, rename, withCallback, type Db } from '../../examples/quickstart/client.js'
import type { TestDatabase } from '../support/databases.js'
import { openQuickstartDatabase, startApp } from '../support/quickstart.js'

describe('the quick start (examples/quickstart)', () => {
  let database: TestDatabase
  let stop: () => Promise<void>
  let db: Db
  let executorUrl: string

  beforeAll(async () => {
    const opened = await openQuickstartDatabase(false)
    database = opened.database
    const app = await startApp(['--import', 'tsx', 'examples/quickstart/main.ts'], { DATABASE_URL: opened.url })
    stop = app.stop
    // The schema exists once main.ts has migrated: two people of org 1, one of org 2.
    await database.knex('users').insert([
      { orgId: 1, name: 'Ann', email: 'ann@example.com' },
      { orgId: 1, name: 'Alvar', email: 'alvar@example.com' },
      { orgId: 2, name: 'Anders', email: 'anders@example.com' },
    ])
    executorUrl = `${app.origin}/orm`
    db = connect(executorUrl, () => tokenFor({ userId: 1, orgId: 1 }))
  })
  afterAll(async () => {
    await stop?.()
    await database?.close()
  })

  it('answers the README’s queries, under the policies', async () => {
    const { users, user, same, post } = await queries(db)
    expect(users.map((u) => u.name).sort()).toEqual(['Alvar', 'Ann'])
    expect(Object.keys(users[0]!).sort()).toEqual(['createdAt', 'id', 'name'])
    expect(users[0]!.createdAt).toBeInstanceOf(Date)
    expect(same.map((u) => u.name)).toEqual(users.map((u) => u.name))
    expect(user?.name).toBe('Ann')
    expect(post).toMatchObject({ title: 'Hello', authorId: 1 })
    expect(post).not.toHaveProperty('draftNotes')
    const reread = await db.User.query().findById(1).withGraphFetched({ posts: true })
    expect(reread?.posts?.map((p) => p.title)).toEqual(['Hello'])
  })

  it('calls a procedure, alone and in a transaction, and refuses it on another author’s post', async () => {
    const post = await db.Post.query().where('title', 'Hello').first()
    const { renamed, draft, again } = await rename(db, post!.id)
    expect(renamed).toEqual({ id: post!.id, title: 'Hello again' })
    expect(again).toEqual({ id: post!.id, title: 'Hello, third time' })
    expect(draft).toMatchObject({ title: 'Draft', authorId: 1 })
    const other = connect(executorUrl, () => tokenFor({ userId: 2, orgId: 1 }))
    await expect(other.call('retitle', { postId: post!.id, title: 'Mine now' })).rejects.toMatchObject({ code: 'NOT_FOUND' })
    await expect(db.call('retitle', { postId: post!.id, title: '' })).rejects.toMatchObject({ code: 'BAD_REQUEST' })
    // A transaction whose procedure fails writes nothing.
    await expect(
      other.transaction((t) => [t.Post.query().insert({ title: 'Never', body: 'x' }), t.call('retitle', { postId: post!.id, title: 'No' })]),
    ).rejects.toMatchObject({ code: 'NOT_FOUND', queryIndex: 1 })
    expect(await database.knex('posts').where('title', 'Never').first()).toBeUndefined()
  })

  it('streams the posts as CSV', async () => {
    const lines: string[] = []
    for await (const line of exportPosts(db)) lines.push(line)
    const posts = await db.Post.query().select('id', 'title').orderBy('id')
    expect(posts.length).toBeGreaterThan(0)
    expect(lines).toEqual(['id,title', ...posts.map((p) => `${p.id},"${p.title}"`)])
  })

  it('runs the callback style', async () => {
    const names = await new Promise<string[]>((resolve) => withCallback(db, resolve))
    expect(names).toEqual(['Ann'])
  })

  it('keeps other organisations’ users out, and anonymous callers to what the API opens to them', async () => {
    expect(await db.User.query().where('name', 'Anders')).toEqual([])
    const anonymous = createClient<typeof api>({ url: executorUrl })
    await expect(anonymous.User.query()).rejects.toMatchObject({ code: 'FORBIDDEN' })
    expect((await anonymous.Post.query().orderBy('id')).map((p) => p.title)).toEqual(['Hello, third time', 'Draft'])
    const forged = connect(executorUrl, () => 'not.a.token')
    await expect(forged.Post.query()).rejects.toMatchObject({ code: 'UNAUTHENTICATED', status: 401 })
  })
})
