/**
 * The integration's types as React and Vue adapters see them (checked by the compiler):
 * data typed as awaiting the queryset, the cache typed by the key, errors as
 * `AsyncOrmError`, pages as `Page` rows, callbacks typed by the write's result.
 */
import { QueryClient, useInfiniteQuery, useMutation, useQuery } from '@tanstack/react-query'
import { useQuery as useVueQuery } from '@tanstack/vue-query'
import { describe, expectTypeOf, it } from 'vitest'
import { createClient, type AsyncOrmError, type Page } from '../../client/index.js'
import type { DemoApi, DemoProcedures } from '../../examples/demo/api.js'
import { infiniteQueryOptions, mutationOptions, queryOptions } from '../../tanstack-query/index.js'

const db = createClient<DemoApi, DemoProcedures>({ url: 'http://types.test/orm' })
type Row = { id: number; title: string }

describe('TanStack Query types', () => {
  it('types a query’s data and error by the queryset', () => {
    const posts = useQuery(queryOptions(db.Post.query().select('id', 'title')))
    expectTypeOf(posts.data).toEqualTypeOf<Row[] | undefined>()
    expectTypeOf(posts.error).toEqualTypeOf<AsyncOrmError | null>()
    expectTypeOf(useQuery(queryOptions(db.Post.query().resultSize())).data).toEqualTypeOf<number | undefined>()
    expectTypeOf(useQuery(queryOptions(db.Post.query().select('id', 'title').findById(1))).data).toEqualTypeOf<Row | undefined>()
    expectTypeOf(useVueQuery(queryOptions(db.Post.query().select('id', 'title'))).data.value).toEqualTypeOf<Row[] | undefined>()
  })

  it('types the cache by the key', () => {
    const client = new QueryClient()
    const { queryKey } = queryOptions(db.Post.query().select('id', 'title'))
    expectTypeOf(client.getQueryData(queryKey)).toEqualTypeOf<Row[] | undefined>()
    client.setQueryData(queryKey, (rows) => [...(rows ?? []), { id: 1, title: 't' }])
    // @ts-expect-error a row of another shape
    client.setQueryData(queryKey, [{ id: 'x' }])
  })

  it('types pages', () => {
    const feed = useInfiniteQuery(infiniteQueryOptions(db.Post.query().select('id', 'title'), { pageSize: 10 }))
    expectTypeOf(feed.data!.pages).toEqualTypeOf<Page<Row>[]>()
    // @ts-expect-error first() is one row, not pages
    infiniteQueryOptions(db.Post.query().first(), { pageSize: 10 })
  })

  it('types a mutation by its write, and its callbacks', () => {
    const add = useMutation(
      mutationOptions((title: string) => db.Post.query().insert({ title }).returning('id', 'title'), {
        onMutate: () => ({ saved: 1 }),
        onError: (error, title, result) => {
          expectTypeOf(error.code).toEqualTypeOf<AsyncOrmError['code']>()
          expectTypeOf(title).toEqualTypeOf<string>()
          expectTypeOf(result).toEqualTypeOf<{ saved: number } | undefined>()
        },
      }),
    )
    expectTypeOf(add.mutate).parameter(0).toEqualTypeOf<string>()
    expectTypeOf(add.data).toEqualTypeOf<Row | undefined>()
    expectTypeOf(add.error).toEqualTypeOf<AsyncOrmError | null>()
    const move = useMutation(mutationOptions((views: number) => db.call('moveViews', { from: 1, to: 2, views })))
    expectTypeOf(move.mutate).parameter(0).toEqualTypeOf<number>()
    const both = useMutation(mutationOptions(() => db.transaction((t) => [t.Tag.query().insert({ name: 'a' }), t.Post.query().resultSize()])))
    expectTypeOf(both.data).toEqualTypeOf<[{ id: number; name: string }, number] | undefined>()
  })

  it('refuses writes as queries', () => {
    // @ts-expect-error an insert is not a read
    queryOptions(db.Post.query().insert({ title: 'x' }))
  })
})
