/**
 * What the demo exposes. Anyone may read; emails and draft notes never leave the
 * database, and unpublished posts are invisible (except to admins), including through
 * relations. Signed-in authors (a JWT whose `sub` is their id) write their own posts,
 * comments and profile; admins may also delete anyone's posts, comments and tags.
 */
import type { Knex } from 'knex'
import * as v from 'valibot'
import { ExecutorError, expose, procedure } from '../../executor/index.js'
import { Author, Comment, Post, Profile, Tag } from './models.js'

/** The policy context: who is calling (`null` when anonymous). */
export interface DemoCtx {
  readonly authorId: bigint
  readonly role?: 'admin'
}

/** The caller's author id; anonymous callers are refused (the executor answers FORBIDDEN). */
const me = (ctx: DemoCtx | null): bigint => {
  if (!ctx) throw new Error('signed-in authors only')
  return ctx.authorId
}

/** Admins reach every row; authors their own. */
const mine = (ctx: DemoCtx | null) => (ctx?.role === 'admin' ? {} : { authorId: me(ctx) })

export const api = {
  Author: expose(Author, {
    read: { allow: true, columns: '*', hidden: ['email'] },
    update: { columns: ['bio'], where: (ctx: DemoCtx | null) => ({ id: me(ctx) }) },
    relations: ['profile', 'posts', 'comments'],
  }),
  Profile: expose(Profile, {
    read: { allow: true, columns: ['id', 'authorId', 'website', 'location'] },
    insert: { columns: ['website', 'location'], set: (ctx: DemoCtx | null) => ({ authorId: me(ctx) }) },
    update: { columns: ['website', 'location'], where: (ctx: DemoCtx | null) => ({ authorId: me(ctx) }) },
    relations: ['author'],
  }),
  Post: expose(Post, {
    read: {
      allow: true,
      columns: ['id', 'authorId', 'title', 'body', 'published', 'views', 'createdAt'],
      where: (ctx: DemoCtx | null) => (ctx?.role === 'admin' ? {} : { published: true }),
    },
    insert: {
      columns: ['title', 'body', 'published'],
      set: (ctx: DemoCtx | null) => ({ authorId: me(ctx), views: 0, createdAt: new Date() }),
      check: (row) => String(row.title).trim().length > 0,
    },
    update: {
      columns: ['title', 'body', 'published'],
      where: (ctx: DemoCtx | null) => ({ authorId: me(ctx) }),
      check: (row) => String(row.title).trim().length > 0,
    },
    delete: { where: mine },
    relations: ['author', 'comments', 'tags'],
  }),
  Comment: expose(Comment, {
    read: { allow: true, columns: ['id', 'postId', 'authorId', 'body', 'createdAt'] },
    insert: {
      columns: ['postId', 'body'],
      set: (ctx: DemoCtx | null) => ({ authorId: me(ctx), createdAt: new Date() }),
      check: (row) => String(row.body).trim().length > 0,
    },
    delete: { where: mine },
    relations: ['post', 'author'],
  }),
  Tag: expose(Tag, {
    read: { allow: true, columns: ['id', 'name'] },
    insert: { columns: ['name'] },
    delete: { allow: ['admin'] },
    relations: ['posts'],
  }),
}

export type DemoApi = typeof api

export const procedures = {
  /** Moves `views` from one of the caller's posts to another, in the request's transaction. */
  moveViews: procedure({
    args: v.object({ from: v.number(), to: v.number(), views: v.pipe(v.number(), v.integer(), v.minValue(1)) }),
    run: async ({ trx, ctx, args }: { trx: Knex.Transaction; ctx: DemoCtx | null; args: { from: number; to: number; views: number } }) => {
      if (!ctx) throw new ExecutorError('FORBIDDEN', 'sign in to move views')
      const authorId = ctx.authorId
      const taken = await trx('posts').where({ id: args.from, author_id: authorId }).where('views', '>=', args.views).decrement('views', args.views)
      if (taken !== 1) throw new ExecutorError('CONFLICT', 'not enough views on a post of yours')
      const given = await trx('posts').where({ id: args.to, author_id: authorId }).increment('views', args.views)
      if (given !== 1) throw new ExecutorError('FORBIDDEN', 'the target post is not yours')
      return { moved: args.views }
    },
  }),
}

export type DemoProcedures = typeof procedures
