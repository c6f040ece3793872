/**
 * The demo's objection models: authors with a profile (has-one), posts (has-many /
 * belongs-to), comments, and tags (many-to-many through post_tags). Columns are
 * snake_case in the database and camelCase in JavaScript: the models map them
 * (objection's `snakeCaseMappers()`), or, with `BaseModel.mapsColumns = false`, knex does
 * (`knexSnakeCaseMappers()` in the knex config) — objection documents both setups.
 */
import { Model, snakeCaseMappers } from 'objection'

/**
 * A column in a relation mapping: objection names columns there as knex is given them, so
 * `posts.author_id` when the models map names, `posts.authorId` when knex does.
 */
const c = (reference: string): string => (BaseModel.mapsColumns ? reference : reference.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase()))

export class BaseModel extends Model {
  /**
   * Whether the models map column names (false when knex's config does). objection reads
   * it once per model class: set it before the models are first used.
   */
  static mapsColumns = true

  static override get columnNameMappers() {
    return BaseModel.mapsColumns ? snakeCaseMappers() : Model.columnNameMappers
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
        join: { from: 'authors.id', to: c('profiles.author_id') },
      },
      posts: {
        relation: Model.HasManyRelation,
        modelClass: Post,
        join: { from: 'authors.id', to: c('posts.author_id') },
      },
      comments: {
        relation: Model.HasManyRelation,
        modelClass: Comment,
        join: { from: 'authors.id', to: c('comments.author_id') },
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
        join: { from: c('profiles.author_id'), to: 'authors.id' },
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
        join: { from: c('posts.author_id'), to: 'authors.id' },
      },
      comments: {
        relation: Model.HasManyRelation,
        modelClass: Comment,
        join: { from: 'posts.id', to: c('comments.post_id') },
      },
      tags: {
        relation: Model.ManyToManyRelation,
        modelClass: Tag,
        join: {
          from: 'posts.id',
          through: { from: c('post_tags.post_id'), to: c('post_tags.tag_id') },
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
        join: { from: c('comments.post_id'), to: 'posts.id' },
      },
      author: {
        relation: Model.BelongsToOneRelation,
        modelClass: Author,
        join: { from: c('comments.author_id'), to: 'authors.id' },
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
          through: { from: c('post_tags.tag_id'), to: c('post_tags.post_id') },
          to: 'posts.id',
        },
      },
    }
  }
}
