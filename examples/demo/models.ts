/**
 * The demo's objection models: authors with a profile (has-one), posts (has-many /
 * belongs-to), comments, and tags (many-to-many through post_tags). Columns are
 * snake_case in the database and camelCase in JavaScript (objection's snakeCaseMappers).
 */
import { Model, snakeCaseMappers } from 'objection'

export class BaseModel extends Model {
  static override get columnNameMappers() {
    return snakeCaseMappers()
  }
}

export class Author extends BaseModel {
  static override tableName = 'authors'
  declare id: bigint
  declare name: string
  declare email: string
  declare bio: string | null
  declare rating: string | null
  declare meta: { languages: string[]; verified: boolean } | null
  declare createdAt: Date
  declare profile?: Profile | null
  declare posts?: Post[]
  declare comments?: Comment[]

  static override get relationMappings() {
    return {
      profile: {
        relation: Model.HasOneRelation,
        modelClass: Profile,
        join: { from: 'authors.id', to: 'profiles.author_id' },
      },
      posts: {
        relation: Model.HasManyRelation,
        modelClass: Post,
        join: { from: 'authors.id', to: 'posts.author_id' },
      },
      comments: {
        relation: Model.HasManyRelation,
        modelClass: Comment,
        join: { from: 'authors.id', to: 'comments.author_id' },
      },
    }
  }
}

export class Profile extends BaseModel {
  static override tableName = 'profiles'
  declare id: number
  declare authorId: bigint
  declare website: string | null
  declare location: string | null
  declare author?: Author

  static override get relationMappings() {
    return {
      author: {
        relation: Model.BelongsToOneRelation,
        modelClass: Author,
        join: { from: 'profiles.author_id', to: 'authors.id' },
      },
    }
  }
}

export class Post extends BaseModel {
  static override tableName = 'posts'
  declare id: number
  declare authorId: bigint
  declare title: string
  declare body: string
  declare published: boolean
  declare views: number
  declare draftNotes: string | null
  declare createdAt: Date
  declare author?: Author
  declare comments?: Comment[]
  declare tags?: Tag[]

  static override get relationMappings() {
    return {
      author: {
        relation: Model.BelongsToOneRelation,
        modelClass: Author,
        join: { from: 'posts.author_id', to: 'authors.id' },
      },
      comments: {
        relation: Model.HasManyRelation,
        modelClass: Comment,
        join: { from: 'posts.id', to: 'comments.post_id' },
      },
      tags: {
        relation: Model.ManyToManyRelation,
        modelClass: Tag,
        join: {
          from: 'posts.id',
          through: { from: 'post_tags.post_id', to: 'post_tags.tag_id' },
          to: 'tags.id',
        },
      },
    }
  }
}

export class Comment extends BaseModel {
  static override tableName = 'comments'
  declare id: number
  declare postId: number
  declare authorId: bigint | null
  declare body: string
  declare createdAt: Date
  declare post?: Post
  declare author?: Author | null

  static override get relationMappings() {
    return {
      post: {
        relation: Model.BelongsToOneRelation,
        modelClass: Post,
        join: { from: 'comments.post_id', to: 'posts.id' },
      },
      author: {
        relation: Model.BelongsToOneRelation,
        modelClass: Author,
        join: { from: 'comments.author_id', to: 'authors.id' },
      },
    }
  }
}

export class Tag extends BaseModel {
  static override tableName = 'tags'
  declare id: number
  declare name: string
  declare posts?: Post[]

  static override get relationMappings() {
    return {
      posts: {
        relation: Model.ManyToManyRelation,
        modelClass: Post,
        join: {
          from: 'tags.id',
          through: { from: 'post_tags.tag_id', to: 'post_tags.post_id' },
          to: 'posts.id',
        },
      },
    }
  }
}
