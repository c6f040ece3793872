/**
 * The bench schema as Remult entities (declared without decorators), shared by Remult's
 * server and its client as its documentation sets them up.
 */
import { describeEntity, Fields, Relations } from 'remult'

export class RemultAuthor {
  id = 0
  name = ''
  bio: string | null = null
  rating: number | null = null
  meta: unknown = null
  createdAt = new Date()
}

export class RemultPost {
  id = 0
  authorId = 0
  title = ''
  body = ''
  published = false
  views = 0
  createdAt = new Date()
  author?: RemultAuthor
}

describeEntity(
  RemultAuthor,
  'authors',
  {
    id: Fields.integer(),
    name: Fields.string(),
    bio: Fields.string({ allowNull: true }),
    rating: Fields.number({ allowNull: true }),
    meta: Fields.json({ allowNull: true }),
    createdAt: Fields.date({ dbName: 'created_at' }),
  },
  { allowApiRead: true },
)

describeEntity(
  RemultPost,
  'posts',
  {
    id: Fields.integer(),
    authorId: Fields.integer({ dbName: 'author_id' }),
    title: Fields.string(),
    body: Fields.string(),
    published: Fields.boolean(),
    views: Fields.integer(),
    createdAt: Fields.date({ dbName: 'created_at' }),
    author: Relations.toOne<RemultPost, RemultAuthor>(() => RemultAuthor, 'authorId'),
  },
  { allowApiRead: true },
)

export const remultEntities = [RemultAuthor, RemultPost]
