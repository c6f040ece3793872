/**
 * What the demo exposes. Emails and draft notes never leave the database; unpublished
 * posts are invisible, including through relations.
 */
import { expose } from '../../executor/index.js'
import { Author, Comment, Post, Profile, Tag } from './models.js'

export const api = {
  Author: expose(Author, {
    read: { columns: '*', hidden: ['email'] },
    relations: ['profile', 'posts', 'comments'],
  }),
  Profile: expose(Profile, {
    read: { columns: ['id', 'authorId', 'website', 'location'] },
    relations: ['author'],
  }),
  Post: expose(Post, {
    read: {
      columns: ['id', 'authorId', 'title', 'body', 'published', 'views', 'createdAt'],
      where: () => ({ published: true }),
    },
    relations: ['author', 'comments', 'tags'],
  }),
  Comment: expose(Comment, {
    read: { columns: ['id', 'postId', 'authorId', 'body', 'createdAt'] },
    relations: ['post', 'author'],
  }),
  Tag: expose(Tag, {
    read: { columns: ['id', 'name'] },
    relations: ['posts'],
  }),
}

export type DemoApi = typeof api
