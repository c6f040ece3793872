/**
 * The quick start's objection models: users of an organisation, and their posts. Plain
 * objection: the executor exposes them as they are.
 */
import { Model } from 'objection'

export class User extends Model {
  static override tableName = 'users'
  declare id: number
  declare orgId: number
  declare name: string
  declare email: string
  declare createdAt: Date
  declare posts?: Post[]

  static override relationMappings = () => ({
    posts: { relation: Model.HasManyRelation, modelClass: Post, join: { from: 'users.id', to: 'posts.authorId' } },
  })
}

export class Post extends Model {
  static override tableName = 'posts'
  declare id: number
  declare authorId: number
  declare title: string
  declare body: string
  declare draftNotes: string | null
  declare createdAt: Date
  declare author?: User

  static override relationMappings = () => ({
    author: { relation: Model.BelongsToOneRelation, modelClass: User, join: { from: 'posts.authorId', to: 'users.id' } },
  })
}
