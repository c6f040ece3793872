/**
 * Which models a query reads and a write may change, from their ASTs and the API's
 * description: the rule behind invalidation after writes. Both sides are listed: what a
 * write invalidates, and what it leaves alone.
 */
import { describe, expect, it } from 'vitest'
import { createClient } from '../../client/index.js'
import { asDescription, modelsRead, modelsWritten, overlaps, type ModelSet } from '../../tanstack-query/model-sets.js'
import type { DemoApi, DemoProcedures } from '../../examples/demo/api.js'
import { DEMO_DESCRIPTION } from '../support/demo.js'
import type { Query } from '../../shared/query-ast.js'

const api = DEMO_DESCRIPTION
const db = createClient<DemoApi, DemoProcedures>({ url: 'http://test.local/orm' })
const sorted = (set: ModelSet) => (set === 'all' ? 'all' : [...set].sort())

const reads: Record<string, Query> = {
  posts: db.Post.query().orderBy('id').toJSON(),
  postCount: db.Post.query().where('published', true).resultSize().toJSON(),
  postTitlesByAuthorName: db.Post.query().joinRelated('author').where('author.name', 'Ann').select('id', 'title').toJSON(),
  authorWithPostsAndTheirTags: db.Author.query().withGraphFetched({ posts: { tags: true } }).toJSON(),
  authorsWithCommentCount: db.Author.query().select('id', db.Author.relatedQuery('comments').count().as('n')).toJSON(),
  postsWithComments: db.Post.query().whereExists(db.Post.relatedQuery('comments')).toJSON(),
  tagsOfAnAuthorsPosts: db.Tag.query().whereExists(db.Tag.relatedQuery('posts').where('authorId', 1n)).toJSON(),
  relatedPostsOfAnAuthor: db.Author.relatedQuery('posts').for(1n).toJSON(),
  profiles: db.Profile.query().toJSON(),
  tags: db.Tag.query().toJSON(),
}

describe('the models a read reads', () => {
  it.each([
    ['posts', ['Post']],
    ['postCount', ['Post']],
    ['postTitlesByAuthorName', ['Author', 'Post']],
    ['authorWithPostsAndTheirTags', ['Author', 'Post', 'Tag']],
    ['authorsWithCommentCount', ['Author', 'Comment']],
    ['postsWithComments', ['Comment', 'Post']],
    ['tagsOfAnAuthorsPosts', ['Post', 'Tag']],
    ['relatedPostsOfAnAuthor', ['Author', 'Post']],
    ['profiles', ['Profile']],
    ['tags', ['Tag']],
  ])('%s reads %j', (name, models) => {
    expect(sorted(modelsRead(reads[name]!, api))).toEqual(models)
  })

  it('follows relation filters and aggregates inside loaded relations', () => {
    const query = db.Author.query().withGraphFetched({ posts: (q) => q.whereExists(db.Post.relatedQuery('tags')).select('id', db.Post.relatedQuery('comments').count().as('n')) }).toJSON()
    expect(sorted(modelsRead(query, api))).toEqual(['Author', 'Comment', 'Post', 'Tag'])
  })

  it('is every model when it reads a model the description leaves out (it was asked for as another caller)', () => {
    const anonymous = { models: { Post: { relations: { author: 'Author' }, references: [] }, Author: { relations: {}, references: [] } } }
    expect(modelsRead(db.Comment.query().toJSON(), anonymous)).toBe('all')
    expect(modelsRead(db.Author.query().withGraphFetched({ comments: true }).toJSON(), anonymous)).toBe('all')
    expect(sorted(modelsRead(db.Post.query().joinRelated('author').toJSON(), anonymous))).toEqual(['Author', 'Post'])
  })

  it('is every model when a relation is not in the description, or there is none', () => {
    expect(modelsRead(db.Author.query().withGraphFetched({ secret: true } as never).toJSON(), api)).toBe('all')
    expect(modelsRead(reads.authorWithPostsAndTheirTags!, undefined)).toBe('all')
    expect(sorted(modelsRead(reads.posts!, undefined))).toEqual(['Post'])
  })
})

const writes: Record<string, Query> = {
  insertPost: db.Post.query().insert({ title: 't' }).toJSON(),
  patchProfile: db.Profile.query().where('authorId', 1n).patch({ location: 'x' }).toJSON(),
  insertComment: db.Comment.query().insert({ postId: 1, body: 'b' }).toJSON(),
  deletePost: db.Post.query().deleteById(1).toJSON(),
  insertPostWithTags: db.Post.query().insertGraph({ title: 't', tags: [{ name: 'n' }] } as never).toJSON(),
  relateTag: db.Post.relatedQuery('tags').for(1).relate(2).toJSON(),
  insertTagForPost: db.Post.relatedQuery('tags').for(1).insert({ name: 'n' }).toJSON(),
  call: db.call('moveViews', { from: 1, to: 2, views: 1 }).toJSON(),
}

describe('the models a write may change', () => {
  it.each([
    ['insertPost', ['Post']],
    ['patchProfile', ['Profile']],
    ['insertComment', ['Comment']],
    // Comments point at posts: deleting posts may delete or change them.
    ['deletePost', ['Comment', 'Post']],
    ['insertPostWithTags', ['Post', 'Tag']],
    ['relateTag', ['Post', 'Tag']],
    ['insertTagForPost', ['Post', 'Tag']],
    ['call', 'all'],
  ])('%s changes %j', (name, models) => {
    expect(sorted(modelsWritten(writes[name]!, api))).toEqual(models)
  })

  it('is every model where the description is missing and the AST cannot tell', () => {
    expect(modelsWritten(writes.deletePost!, undefined)).toBe('all')
    expect(modelsWritten(writes.insertPostWithTags!, undefined)).toBe('all')
    expect(modelsWritten(writes.relateTag!, undefined)).toBe('all')
    expect(sorted(modelsWritten(writes.insertPost!, undefined))).toEqual(['Post'])
  })

  it('is every model for any write of a model the description leaves out (what points at it, what shares its table)', () => {
    const withoutAuthor = { models: { Post: { relations: {}, references: [] } } }
    expect(modelsWritten({ model: 'Author', op: 'delete', returning: 'count' }, withoutAuthor)).toBe('all')
    expect(modelsWritten(db.Author.query().patch({ bio: 'x' }).toJSON(), withoutAuthor)).toBe('all')
  })

  it('writes every model over the same table, and follows what points at any of them', () => {
    const shared = {
      models: {
        Member: { relations: {}, references: [], sameTable: ['Crew'] },
        Crew: { relations: {}, references: [], sameTable: ['Member'] },
        Badge: { relations: {}, references: ['Member'] },
      },
    }
    expect(sorted(modelsWritten({ model: 'Crew', op: 'insert', rows: [{}], returning: 'rows' }, shared))).toEqual(['Crew', 'Member'])
    expect(sorted(modelsWritten({ model: 'Crew', op: 'delete', returning: 'count' }, shared))).toEqual(['Badge', 'Crew', 'Member'])
  })

  it('is every model for a graph insert into a model the description leaves out', () => {
    expect(modelsWritten({ model: 'Secret', op: 'insert', rows: [{ name: 'x', posts: [{ title: 't' }] }], returning: 'rows', graph: true }, api)).toBe('all')
  })

  it('reads a json column’s object as a column, not as related rows', () => {
    const query = db.Author.query().insertGraph({ name: 'a', meta: { languages: ['en'], verified: true } } as never).toJSON()
    expect(sorted(modelsWritten(query, api))).toEqual(['Author'])
  })
})

describe('which reads a write invalidates, and which it leaves alone', () => {
  const invalidated = (write: string) => Object.keys(reads).filter((read) => overlaps(modelsRead(reads[read]!, api), modelsWritten(writes[write]!, api)))

  it.each([
    ['insertPost', ['posts', 'postCount', 'postTitlesByAuthorName', 'authorWithPostsAndTheirTags', 'postsWithComments', 'tagsOfAnAuthorsPosts', 'relatedPostsOfAnAuthor']],
    ['patchProfile', ['profiles']],
    ['insertComment', ['authorsWithCommentCount', 'postsWithComments']],
    ['deletePost', ['posts', 'postCount', 'postTitlesByAuthorName', 'authorWithPostsAndTheirTags', 'authorsWithCommentCount', 'postsWithComments', 'tagsOfAnAuthorsPosts', 'relatedPostsOfAnAuthor']],
    ['relateTag', ['posts', 'postCount', 'postTitlesByAuthorName', 'authorWithPostsAndTheirTags', 'postsWithComments', 'tagsOfAnAuthorsPosts', 'relatedPostsOfAnAuthor', 'tags']],
    ['call', Object.keys(reads)],
  ])('%s', (write, expected) => {
    const hit = invalidated(write)
    expect(hit).toEqual(expected)
    // The other side: every read not listed is left alone.
    expect(Object.keys(reads).filter((read) => !hit.includes(read))).toEqual(Object.keys(reads).filter((read) => !expected.includes(read)))
  })
})

describe('a description from the wire', () => {
  it.each([
    ['nothing', undefined],
    ['no models', {}],
    ['models that is a list', { models: [] }],
    ['a model without relations', { models: { Post: { references: [] } } }],
    ['a relation to something other than a name', { models: { Post: { relations: { author: 1 }, references: [] } } }],
    ['references that are not a list of names', { models: { Post: { relations: {}, references: 'Author' } } }],
    ['a model that is null', { models: { Post: null } }],
  ])('is refused when it has %s: invalidation is then conservative', (_name, value) => {
    expect(asDescription(value)).toBeUndefined()
  })

  it('is taken as it is when it is well formed', () => {
    expect(asDescription(api)).toBe(api)
  })
})
