/**
 * Logic that must not live in the client: it runs on the executor, in the request's
 * transaction, with its arguments checked by a Standard Schema (valibot here).
 */
import { ExecutorError, procedure } from 'async-orm/executor'
import * as v from 'valibot'
import type { Ctx } from './api.js'
import { Post } from './models.js'

export const procedures = {
  /** Renames one of the caller's posts and answers it, or NOT_FOUND. */
  retitle: procedure({
    args: v.object({ postId: v.number(), title: v.pipe(v.string(), v.minLength(1), v.maxLength(200)) }),
    run: async ({ trx, ctx, args }) => {
      const { userId } = ctx as Ctx
      const post = await Post.query(trx).findById(args.postId).where('authorId', userId)
      if (!post) throw new ExecutorError('NOT_FOUND', 'no such post of yours')
      await Post.query(trx).findById(args.postId).patch({ title: args.title })
      return { id: post.id, title: args.title }
    },
  }),
}
