/** A page whose client code runs against msw/browser stubs (a service worker), as a front-end test would. */
import { setupWorker } from 'msw/browser'
import { createClient } from '../../../client/index.js'
import type { DemoApi } from '../../../examples/demo/api.js'
import { ormStubs } from '../../../msw/stubs.js'

const stubs = ormStubs({ url: '/orm' })
  .answer('Tag', 'select', [{ id: 1, name: 'from the service worker' }])
  .answer('Author', 'first', { id: 12345678901234567890n, name: 'Big Id', createdAt: new Date('2024-01-02T03:04:05Z') })
  .fail('Post', 'insert', 'FORBIDDEN', 'inserting Post is not allowed')

const out = document.getElementById('out')!
const show = (key: string, value: string) => {
  const li = document.createElement('li')
  li.dataset.key = key
  li.textContent = value
  out.append(li)
}

await setupWorker(stubs.handler).start({ quiet: true, onUnhandledRequest: 'bypass' })
const db = createClient<DemoApi>({ url: '/orm', retry: 0 })
const [tags, author] = await Promise.all([db.Tag.query(), db.Author.query().findById(1n)])
show('tags', tags.map((t) => t.name).join(','))
show('author', `${typeof author!.id}:${author!.id}:${author!.createdAt instanceof Date ? author!.createdAt.toISOString() : 'not a date'}`)
try {
  await db.Post.query().insert({ title: 't', body: 'b', published: true })
} catch (error) {
  show('error', `${(error as { code: string }).code}`)
}
show('requests', String(stubs.requests.length))
document.body.dataset.done = 'true'
