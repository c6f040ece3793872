/**
 * The same screen in Vue with `@tanstack/vue-query`: the options are the same objects, the
 * invalidation after the write the same.
 */
import { QueryClient, useMutation, useQuery, VueQueryPlugin } from '@tanstack/vue-query'
import { createApp, defineComponent, h, ref } from 'vue'
import { mutationOptions, queryOptions } from 'async-orm/tanstack-query'
import { latestPosts, postCount, publish, signIn, tags } from '../queries.js'

const Screen = defineComponent(() => {
  const posts = useQuery(queryOptions(latestPosts))
  const count = useQuery(queryOptions(postCount))
  const tagList = useQuery(queryOptions(tags))
  const addPost = useMutation(mutationOptions(publish))
  const title = ref('')
  const who = ref('anonymous')

  return () =>
    h('div', [
      h('p', [
        h('button', { id: 'sign-in', onClick: async () => ((await signIn(1)), (who.value = 'author 1')) }, 'Sign in as author 1'),
        h('span', { id: 'who' }, who.value),
      ]),
      h('form', { id: 'new-post', onSubmit: (event: Event) => (event.preventDefault(), addPost.mutate(title.value)) }, [
        h('input', { name: 'title', value: title.value, onInput: (event: Event) => (title.value = (event.target as HTMLInputElement).value) }),
        h('button', { type: 'submit', disabled: addPost.isPending.value }, 'Publish'),
        h('span', { id: 'status' }, addPost.isSuccess.value ? `published ${addPost.data.value?.id}` : ''),
        h('span', { id: 'error' }, addPost.error.value ? `${addPost.error.value.code}: ${addPost.error.value.message}` : ''),
      ]),
      h('h2', { id: 'count' }, `${count.data.value ?? '…'} posts`),
      h('ul', { id: 'posts' }, (posts.data.value ?? []).map((post) => h('li', { key: post.id, 'data-id': post.id }, post.title))),
      h('ul', { id: 'tags' }, (tagList.data.value ?? []).map((tag) => h('li', { key: tag.id }, tag.name))),
    ])
})

createApp(Screen).use(VueQueryPlugin, { queryClient: new QueryClient({ defaultOptions: { queries: { staleTime: 10_000 } } }) }).mount('#root')
