/**
 * What clients may reach; everything else is denied. No side effects: the client imports
 * its type, the server and the tests import it as well.
 */
import { expose } from 'async-orm/executor'
import { Post, User } from './models.js'

/** Who is calling: what `auth` makes of a verified token. */
export interface Ctx {
  readonly userId: number
  readonly orgId: number
}

export const api = {
  User: expose(User, {
    read: { columns: ['id', 'name', 'createdAt'], where: (ctx: Ctx) => ({ orgId: ctx.orgId }) },
    relations: ['posts'],
  }),
  Post: expose(Post, {
    read: { allow: true, columns: '*', hidden: ['draftNotes'] },
    insert: { columns: ['title', 'body'], set: (ctx: Ctx) => ({ authorId: ctx.userId }) },
    relations: ['author'],
  }),
}
