/** The demo page: every query below is typed from `api.ts` and runs on the executor. */
import { AsyncOrmError, createClient } from '../../client/index.js'
import type { DemoApi } from './api.js'

let token: string | undefined
const db = createClient<DemoApi>({ url: '/orm', headers: (): Record<string, string> => (token ? { authorization: `Bearer ${token}` } : {}) })
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T
const escape = (text: unknown) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
const PAGE_SIZE = 10
let page = 0

function showAst(...queries: { toJSON(): unknown }[]) {
  const asts = queries.map((query) => query.toJSON())
  $('ast').textContent = JSON.stringify(asts.length === 1 ? asts[0] : asts, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v), 2)
}

let writes = 0
function logWrite(text: string) {
  const list = $('writes')
  if (writes++ === 0) list.innerHTML = ''
  list.insertAdjacentHTML('afterbegin', `<li>${escape(text)}</li>`)
}

let tagsListed = false

async function loadStats() {
  // Four querysets in the same tick: one HTTP request.
  const [authors, posts, comments, tags] = await Promise.all([
    db.Author.query().count(),
    db.Post.query().count(),
    db.Comment.query().count(),
    db.Tag.query().orderBy('name').limit(100),
  ])
  $('stats').innerHTML = [
    ['authors', authors],
    ['published posts', posts],
    ['comments', comments],
    ['tags', tags.length],
  ]
    .map(([label, n]) => `<div class="stat" data-stat="${label}"><b>${n}</b>${label}</div>`)
    .join('')
  if (tagsListed) return
  tagsListed = true
  const select = document.querySelector<HTMLSelectElement>('select[name=tag]')!
  for (const tag of tags) select.add(new Option(tag.name, tag.name))
}

function currentQuery() {
  const form = new FormData($<HTMLFormElement>('search'))
  const [column, direction] = String(form.get('order')).split(':') as ['createdAt' | 'views' | 'title', 'asc' | 'desc']
  let query = db.Post.query()
    .select('id', 'title', 'views', 'createdAt', 'authorId')
    .withGraphFetched({ author: (a) => a.select('id', 'name'), tags: (t) => t.orderBy('name') })
    .orderBy(column, direction)
    .orderBy('id')
  const title = String(form.get('title') ?? '').trim()
  if (title) query = query.whereILike('title', `%${title}%`)
  const tag = String(form.get('tag') ?? '')
  if (tag) query = query.whereExists('tags', (t) => t.where('name', tag))
  return query.page(page, PAGE_SIZE)
}

/** Loads the current page; the query panel shows its AST unless a write just went (`show` false). */
async function loadPosts(show = true): Promise<void> {
  const query = currentQuery()
  if (show) showAst(query)
  const { results, total } = await query
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE))
  if (page >= pages) {
    // The last page moved (a filter, or fewer posts): show the last one there is.
    page = pages - 1
    return loadPosts(show)
  }
  $('page').textContent = `page ${page + 1} of ${pages} · ${total} posts`
  $<HTMLButtonElement>('prev').disabled = page === 0
  $<HTMLButtonElement>('next').disabled = page >= pages - 1
  if (results.length === 0) {
    $('posts').innerHTML = '<div class="empty">No posts match.</div>'
    return
  }
  $('posts').innerHTML = results
    .map(
      (post) => `<article class="post" data-post-id="${post.id}">
        <h3>${escape(post.title)}</h3>
        <div class="muted">by <span class="author-link" data-author="${post.author?.id}">${escape(post.author?.name)}</span>
          · ${post.createdAt.toLocaleDateString()} · ${post.views} views</div>
        <div>${post.tags.map((t) => `<span class="tag">${escape(t.name)}</span>`).join('')}</div>
      </article>`,
    )
    .join('')
}

async function loadAuthor(id: bigint) {
  const query = db.Author.query()
    .findById(id)
    .withGraphFetched({ profile: true, posts: (p) => p.select('id', 'title', 'createdAt').orderBy('createdAt', 'desc').limit(5) })
  showAst(query)
  const author = await query
  if (!author) return
  $('author').innerHTML = `<h3 data-author-name>${escape(author.name)}</h3>
    <div class="muted">${escape(author.bio ?? 'No bio.')}</div>
    <div class="muted">${author.profile ? escape(author.profile.location ?? 'somewhere') + ' · ' + escape(author.profile.website) : 'no profile'}</div>
    <div class="muted">id ${typeof author.id} ${author.id} · rating ${escape(author.rating ?? '–')} · joined ${author.createdAt.toISOString().slice(0, 10)}</div>
    <ol>${author.posts.map((p) => `<li>${escape(p.title)}</li>`).join('')}</ol>`
}

$<HTMLFormElement>('search').addEventListener('submit', (event) => {
  event.preventDefault()
  page = 0
  void loadPosts()
})
$('prev').addEventListener('click', () => {
  page = Math.max(0, page - 1)
  void loadPosts()
})
$('next').addEventListener('click', () => {
  page++
  void loadPosts()
})
$('posts').addEventListener('click', (event) => {
  const id = (event.target as HTMLElement).dataset.author
  if (id) void loadAuthor(BigInt(id))
})
$('export').addEventListener('click', async () => {
  // Every post the caller may read, however many: streamed 1,000 rows at a time, never
  // held as one answer.
  const posts = db.Post.query().select('id', 'title', 'views', 'createdAt').orderBy('id')
  showAst(posts)
  const lines = ['id,title,views,created_at']
  const csv = (text: string) => `"${text.replace(/"/g, '""')}"`
  try {
    for await (const post of posts.stream()) {
      lines.push([post.id, csv(post.title), post.views, post.createdAt.toISOString()].join(','))
      if (lines.length % 1000 === 1) $('exported').textContent = `${lines.length - 1} posts so far…`
    }
  } catch (error) {
    $('exported').textContent = error instanceof AsyncOrmError ? `${error.code}: ${error.message}` : String(error)
    return
  }
  const link = document.createElement('a')
  link.href = URL.createObjectURL(new Blob([lines.join('\n')], { type: 'text/csv' }))
  link.download = 'posts.csv'
  link.textContent = 'posts.csv'
  $('exported').replaceChildren(`${lines.length - 1} posts streamed: `, link)
})

$('forbidden').addEventListener('click', async () => {
  try {
    // Not a column the API exposes: the compiler rejects it, and so does the executor.
    await db.Author.query().where('email' as 'name', 'author1@example.com')
  } catch (error) {
    if (error instanceof AsyncOrmError) $('error').textContent = `${error.code} (${error.status}): ${error.message}`
  }
})

$('sign-in').addEventListener('click', async () => {
  const author = $<HTMLInputElement>('author-id').value.trim()
  const response = await fetch(`/demo/token?author=${encodeURIComponent(author)}`, { method: 'POST' })
  if (!response.ok) {
    $('who').textContent = `Cannot sign in as "${author}": give an author id (1, 2, 3…).`
    return
  }
  token = ((await response.json()) as { token: string }).token
  const me = await db.Author.query().findById(BigInt(author)).select('id', 'name')
  if (!me) {
    token = undefined
    $('who').textContent = `There is no author ${author}. Reading anonymously.`
    return
  }
  $('who').textContent = `Signed in as ${me.name} (author ${me.id}).`
})

$<HTMLFormElement>('new-post').addEventListener('submit', async (event) => {
  event.preventDefault()
  const title = String(new FormData(event.target as HTMLFormElement).get('title'))
  try {
    // One request, one transaction: the comment points at the post through a ref.
    const [post, comment] = await db.transaction((t) => {
      const queries = [
        t.Post.query().insert({ title, body: 'Written in the demo.', published: true }),
        t.Comment.query().insert({ postId: t.ref(0, 'id'), body: 'First!' }),
      ] as const
      showAst(...queries)
      return queries
    })
    $('created').textContent = `Created post #${post.id} by author ${post.authorId} with comment #${comment.id}.`
    $('publish-error').textContent = ''
    logWrite(`post #${post.id} "${post.title}" with comment #${comment.id}, in one transaction`)
    page = 0
    await Promise.all([loadPosts(false), loadStats()])
  } catch (error) {
    if (error instanceof AsyncOrmError) $('publish-error').textContent = `${error.code} (${error.status}): ${error.message}`
  }
})

void loadStats().then(() => loadPosts())
