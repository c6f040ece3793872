/**
 * A React screen on TanStack Query: a list, a count and the tags load in one request; the
 * form publishes a post with an optimistic update, after which the list and the count
 * (the queries that read posts) refetch together, and the tags (which do not) stay.
 */
import { QueryClient, QueryClientProvider, useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useState, type FormEvent } from 'react'
import { createRoot } from 'react-dom/client'
import { mutationOptions, queryOptions } from 'async-orm/tanstack-query'
import { latestPosts, postCount, publish, signIn, tags } from '../queries.js'

function Posts() {
  const posts = useQuery(queryOptions(latestPosts))
  const count = useQuery(queryOptions(postCount))
  if (posts.isPending) return <p>Loading…</p>
  if (posts.isError) return <p className="error">{posts.error.code}</p>
  return (
    <section>
      <h2 id="count">{count.data ?? '…'} posts</h2>
      <ul id="posts">
        {posts.data.map((post) => (
          <li key={post.id} data-id={post.id}>
            {post.title} <small>{post.createdAt.toISOString().slice(0, 10)}</small>
          </li>
        ))}
      </ul>
    </section>
  )
}

function Tags() {
  const { data } = useQuery(queryOptions(tags))
  return <ul id="tags">{data?.map((tag) => <li key={tag.id}>{tag.name}</li>)}</ul>
}

function NewPost() {
  const queryClient = useQueryClient()
  const [title, setTitle] = useState('')
  const { queryKey } = queryOptions(latestPosts)
  const addPost = useMutation(
    mutationOptions(publish, {
      // Shown at once, replaced by the refetched list when the write settles.
      onMutate: async (newTitle) => {
        await queryClient.cancelQueries({ queryKey })
        const before = queryClient.getQueryData(queryKey)
        queryClient.setQueryData(queryKey, (posts = []) => [{ id: -1, title: newTitle, createdAt: new Date() }, ...posts].slice(0, 5))
        return { before }
      },
      onError: (_error, _title, saved) => queryClient.setQueryData(queryKey, saved?.before),
    }),
  )
  const submit = (event: FormEvent) => {
    event.preventDefault()
    addPost.mutate(title)
  }
  return (
    <form id="new-post" onSubmit={submit}>
      <input name="title" value={title} onChange={(event) => setTitle(event.target.value)} />
      <button type="submit" disabled={addPost.isPending}>Publish</button>
      <span id="status">{addPost.isPending ? 'publishing' : addPost.isSuccess ? `published ${addPost.data?.id}` : ''}</span>
      <span id="error">{addPost.error ? `${addPost.error.code}: ${addPost.error.message}` : ''}</span>
    </form>
  )
}

function SignIn() {
  const [who, setWho] = useState('anonymous')
  const click = async () => {
    await signIn(1)
    setWho('author 1')
  }
  return (
    <p>
      <button id="sign-in" onClick={click}>Sign in as author 1</button> <span id="who">{who}</span>
    </p>
  )
}

// Fresh for ten seconds: data is refetched when a write invalidates it, not on every focus.
const queryClient = new QueryClient({ defaultOptions: { queries: { staleTime: 10_000 } } })

createRoot(document.getElementById('root')!).render(
  <QueryClientProvider client={queryClient}>
    <SignIn />
    <NewPost />
    <Posts />
    <Tags />
  </QueryClientProvider>,
)
