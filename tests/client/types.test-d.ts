/**
 * Types derived from the API definition by `import type`, checked by the compiler
 * (vitest typecheck mode and `npm run typecheck`; each `@ts-expect-error` must fail to compile).
 */
import { describe, expectTypeOf, it } from 'vitest'
import { createClient, type Page } from '../../client/index.js'
import type { DemoApi, DemoProcedures } from '../../examples/demo/api.js'

const db = createClient<DemoApi, DemoProcedures>({ url: 'http://types.test/orm', fetch: async () => new Response() })

type AuthorRow = { id: bigint; name: string; bio: string | null; rating: string | null; meta: { languages: string[]; verified: boolean } | null; createdAt: Date }
type TagRow = { id: number; name: string }

describe('types from the API definition', () => {
  it('types rows by the readable columns, without hidden ones', () => {
    expectTypeOf(db.Author.query()).resolves.toEqualTypeOf<AuthorRow[]>()
    expectTypeOf(db.Tag.query()).resolves.toEqualTypeOf<TagRow[]>()
    // @ts-expect-error email is hidden
    db.Author.query().where('email', 'x')
    // @ts-expect-error draftNotes is not a readable Post column
    db.Post.query().select('draftNotes')
  })

  it('types the rows stream() yields as fetch() types them, and offers it only for rows', () => {
    expectTypeOf(db.Author.query().stream()).toEqualTypeOf<AsyncGenerator<AuthorRow, void, undefined>>()
    expectTypeOf(db.Post.query().select('id', 'title').withGraphFetched({ author: true }).stream()).toEqualTypeOf<
      AsyncGenerator<{ id: number; title: string; author: AuthorRow | null }, void, undefined>
    >()
    expectTypeOf(db.Author.objects.filter({ name__startswith: 'A' }).stream()).toEqualTypeOf<AsyncGenerator<AuthorRow, void, undefined>>()
    // @ts-expect-error first() answers one row at once
    void db.Author.query().first().stream()
    // @ts-expect-error count() answers a number
    void db.Author.query().count().stream()
    // @ts-expect-error page() answers a page
    void db.Author.query().page(0, 10).stream()
  })

  it('checks column names and value types', () => {
    db.Post.query().where('views', '>', 10).where('title', 'x').whereIn('id', [1, 2]).whereNull('title')
    // @ts-expect-error a misspelt column is a type error
    db.Post.query().where('veiws', 1)
    // @ts-expect-error views is a number
    db.Post.query().where('views', 'many')
    // @ts-expect-error an operator outside the list
    db.Post.query().where('views', '~', 1)
    // @ts-expect-error orderBy takes readable columns
    db.Post.query().orderBy('draftNotes')
    // @ts-expect-error whereIn takes values of the column type
    db.Author.query().whereIn('id', ['1'])
    // @ts-expect-error an unknown model
    void db.Nope
  })

  it('narrows rows with select and changes the result with first, page, count and exists', () => {
    expectTypeOf(db.Tag.query().select('name')).resolves.toEqualTypeOf<{ name: string }[]>()
    expectTypeOf(db.Tag.query().first()).resolves.toEqualTypeOf<TagRow | undefined>()
    expectTypeOf(db.Tag.query().findById(1)).resolves.toEqualTypeOf<TagRow | undefined>()
    expectTypeOf(db.Tag.query().page(0, 10)).resolves.toEqualTypeOf<Page<TagRow>>()
    expectTypeOf(db.Tag.query().count()).resolves.toEqualTypeOf<number>()
    expectTypeOf(db.Tag.query().resultSize()).resolves.toEqualTypeOf<number>()
    expectTypeOf(db.Tag.query().exists()).resolves.toEqualTypeOf<boolean>()
    expectTypeOf(db.Tag.query().select('id').fetch()).resolves.toEqualTypeOf<{ id: number }[]>()
  })

  it('adds loaded relations to rows: arrays for many, row or null for one', () => {
    const authors = () => db.Author.query().withGraphFetched({ profile: true, posts: { tags: true } })
    expectTypeOf(authors).toBeFunction()
    type Row = Awaited<ReturnType<typeof authors>>[number]
    expectTypeOf<Row['profile']>().toEqualTypeOf<{ id: number; authorId: bigint; website: string | null; location: string | null } | null>()
    expectTypeOf<Row['posts'][number]['tags']>().toEqualTypeOf<TagRow[]>()
    expectTypeOf<Row['posts'][number]['views']>().toEqualTypeOf<number>()

    const shaped = () => db.Author.query().withGraphFetched({ posts: (p) => p.select('id', 'title').limit(2) })
    expectTypeOf(shaped).toBeFunction()
    expectTypeOf<Awaited<ReturnType<typeof shaped>>[number]['posts']>().toEqualTypeOf<{ id: number; title: string }[]>()
    // @ts-expect-error relations must be exposed
    db.Author.query().withGraphFetched({ secrets: true })
    // @ts-expect-error a relation filter checks the related model's columns
    db.Author.query().whereExists('posts', (p) => p.where('nope', 1))
  })

  it('types aggregates by their aliases', () => {
    const stats = db.Post.query().groupBy('authorId').count('* as posts').max('views as top')
    expectTypeOf(stats).resolves.toEqualTypeOf<{ authorId: bigint; posts: number; top: number | null }[]>()
  })

  it('types the Django facade lookups', () => {
    db.Post.objects.filter({ views__gte: 1, title__icontains: 'x', id__in: [1], createdAt__range: [new Date(), new Date()] }).orderBy('-createdAt')
    expectTypeOf(db.Post.objects.count()).resolves.toEqualTypeOf<number>()
    expectTypeOf(db.Tag.objects.get({ name: 'edge' })).resolves.toEqualTypeOf<TagRow>()
    // @ts-expect-error an unknown lookup
    db.Post.objects.filter({ views__near: 1 })
    // @ts-expect-error isnull takes a boolean
    db.Post.objects.filter({ title__isnull: 'yes' })
    // @ts-expect-error order fields are readable columns
    db.Post.objects.orderBy('-draftNotes')
  })

  it('types writes by the grants of each model', () => {
    type PostRow = Awaited<ReturnType<typeof db.Post.query>>[number]
    expectTypeOf(db.Post.query().insert({ title: 't', body: 'b', published: true })).resolves.toEqualTypeOf<PostRow>()
    expectTypeOf(db.Tag.query().insert([{ name: 'a' }])).resolves.toEqualTypeOf<TagRow[]>()
    expectTypeOf(db.Post.query().where('id', 1).patch({ title: 't' })).resolves.toEqualTypeOf<number>()
    expectTypeOf(db.Post.query().patchAndFetchById(1, { title: 't' })).resolves.toEqualTypeOf<PostRow | undefined>()
    expectTypeOf(db.Comment.query().deleteById(1)).resolves.toEqualTypeOf<number>()
    expectTypeOf(db.Post.query().where('id', 1).patch({ title: 't' }).returning('id')).resolves.toEqualTypeOf<{ id: number }[]>()
    // @ts-expect-error authorId is set by the policy, not by clients
    db.Post.query().insert({ title: 't', authorId: 1n })
    // @ts-expect-error views is not updatable
    db.Post.query().where('id', 1).patch({ views: 1 })
    // @ts-expect-error update must give every updatable column
    db.Post.query().where('id', 1).update({ title: 't' })
    // @ts-expect-error Authors cannot be inserted
    db.Author.query().insert({ name: 'x' })
    // @ts-expect-error Authors cannot be deleted
    db.Author.query().where('id', 1n).delete()
    // @ts-expect-error a string is not an integer column value
    db.Comment.query().insert({ postId: '1', body: 'x' })
  })

  it('types transactions, refs and procedure calls', () => {
    const tx = () =>
      db.transaction((t) => [t.Tag.query().insert({ name: 'a' }), t.Comment.query().insert({ postId: t.ref(0, 'id'), body: 'b' }), t.Tag.query().count()])
    expectTypeOf(tx).returns.resolves.toEqualTypeOf<[TagRow, Awaited<ReturnType<typeof db.Comment.query>>[number], number]>()
    expectTypeOf(db.call('moveViews', { from: 1, to: 2, views: 3 })).resolves.toEqualTypeOf<{ moved: number }>()
    // @ts-expect-error procedure arguments are typed from the schema
    db.call('moveViews', { from: 1 })
    // @ts-expect-error unknown procedure
    db.call('dropEverything', {})
  })
})

describe('relatedQuery in select', () => {
  it('adds each aggregate under its alias, typed by its function', () => {
    const rows = db.Author.query().select('id', 'name', db.Author.relatedQuery('posts').count().as('postCount'), db.Author.relatedQuery('posts').max('views').as('top'))
    expectTypeOf(rows).resolves.toEqualTypeOf<{ id: bigint; name: string; postCount: number; top: number | null }[]>()
    expectTypeOf(db.Author.relatedQuery('posts').for(1n)).resolves.toEqualTypeOf<Awaited<ReturnType<typeof db.Post.query>>>()
  })
})
