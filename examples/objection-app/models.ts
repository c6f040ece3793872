/**
 * The models of objection's own example app (Vincit/objection.js examples/koa-ts and the
 * "Models" guide): people with parents and children, their pets, and the movies they
 * acted in. They are written as objection's docs write them — a jsonSchema, timestamp
 * hooks, static modifiers — and for a knex instance created with `knexSnakeCaseMappers()`
 * (see knex-config.ts): the tables are snake_case, while tables, columns and relation
 * mappings are named in camelCase here, as objection's snake case recipe says.
 *
 * Properties are `declare`d rather than written `firstName!: string`: with ES2022 class
 * fields the latter defines an own property on every instance, which objection would
 * then see as a property set to `undefined`.
 */
import { Model, type JSONSchema, type Modifiers } from 'objection'

export interface Address {
  street?: string
  city?: string
  zipCode?: string
}

export class Person extends Model {
  declare id: number
  declare parentId: number | null
  declare firstName: string
  declare lastName: string | null
  declare age: number | null
  declare address: Address | null
  declare createdAt: Date
  declare updatedAt: Date | null

  declare parent?: Person | null
  declare children?: Person[]
  declare pets?: Animal[]
  declare movies?: Movie[]

  // Table name is the only required property.
  static override tableName = 'persons'

  // Virtual attributes are computed on the model and added to its JSON (`toJSON()`).
  static override get virtualAttributes(): string[] {
    return ['fullName']
  }

  get fullName(): string {
    return [this.firstName, this.lastName].filter(Boolean).join(' ')
  }

  // Optional JSON schema. This is not the database schema! It is only used for
  // validation: whenever a model instance is created (insert, insertGraph, patch,
  // update…) it is checked against this schema. http://json-schema.org/.
  static override jsonSchema: JSONSchema = {
    type: 'object',
    required: ['firstName'],

    properties: {
      id: { type: 'integer' },
      parentId: { type: ['integer', 'null'] },
      firstName: { type: 'string', minLength: 1, maxLength: 255 },
      lastName: { type: ['string', 'null'], minLength: 1, maxLength: 255 },
      age: { type: ['integer', 'null'], minimum: 0, maximum: 200 },

      // Properties defined as objects are written to the database as JSON (a jsonb
      // column here) and read back as objects.
      address: {
        type: ['object', 'null'],
        properties: {
          street: { type: 'string' },
          city: { type: 'string' },
          zipCode: { type: 'string' },
        },
      },
    },
  }

  // Modifiers are reusable query snippets that can be used in various places:
  // `Person.query().modify('searchByName', 'ada')`, `withGraphFetched('children(orderByAge)')`.
  static override modifiers: Modifiers = {
    // A semi-dumb fuzzy name match: each whitespace-separated piece of the name must
    // start either the first or the last name.
    searchByName(query, name: string) {
      // This `where` simply creates parentheses so that other `where` statements
      // don't get mixed with these.
      query.where((query) => {
        for (const namePart of name.trim().split(/\s+/)) {
          for (const column of ['firstName', 'lastName']) {
            query.orWhereRaw('lower(??) like ?', [column, namePart.toLowerCase() + '%'])
          }
        }
      })
    },

    defaultSelects(query) {
      query.select('id', 'firstName', 'lastName')
    },

    orderByAge(query) {
      query.orderBy('age')
    },

    adults(query) {
      query.where('age', '>=', 18)
    },
  }

  // The timestamps recipe: objection calls these on the model being written.
  override $beforeInsert(): void {
    this.createdAt = new Date()
  }

  override $beforeUpdate(): void {
    this.updatedAt = new Date()
  }

  // This object defines the relations to other models. The relationMappings
  // property can be a thunk to prevent circular dependencies.
  static override relationMappings = () => ({
    pets: {
      relation: Model.HasManyRelation,
      modelClass: Animal,
      join: {
        from: 'persons.id',
        to: 'animals.ownerId',
      },
    },

    movies: {
      relation: Model.ManyToManyRelation,
      modelClass: Movie,
      join: {
        from: 'persons.id',
        // ManyToMany relation needs the `through` object to describe the join table.
        through: {
          from: 'personsMovies.personId',
          to: 'personsMovies.movieId',
        },
        to: 'movies.id',
      },
    },

    children: {
      relation: Model.HasManyRelation,
      modelClass: Person,
      join: {
        from: 'persons.id',
        to: 'persons.parentId',
      },
    },

    parent: {
      relation: Model.BelongsToOneRelation,
      modelClass: Person,
      join: {
        from: 'persons.parentId',
        to: 'persons.id',
      },
    },
  })
}

export class Animal extends Model {
  declare id: number
  declare ownerId: number | null
  declare name: string
  declare species: string | null

  declare owner?: Person | null

  static override tableName = 'animals'

  static override jsonSchema: JSONSchema = {
    type: 'object',
    required: ['name'],

    properties: {
      id: { type: 'integer' },
      ownerId: { type: ['integer', 'null'] },
      name: { type: 'string', minLength: 1, maxLength: 255 },
      species: { type: 'string', minLength: 1, maxLength: 255 },
    },
  }

  static override modifiers: Modifiers = {
    onlyDogs(query) {
      query.where('species', 'dog')
    },

    // Note that this modifier takes an argument: `modify('filterSpecies', 'cat')`.
    filterSpecies(query, species: string) {
      query.where('species', species)
    },

    orderByName(query) {
      query.orderBy('name')
    },
  }

  static override relationMappings = () => ({
    owner: {
      relation: Model.BelongsToOneRelation,
      modelClass: Person,
      join: {
        from: 'animals.ownerId',
        to: 'persons.id',
      },
    },
  })
}

export class Movie extends Model {
  declare id: number
  declare name: string

  declare actors?: Person[]

  static override tableName = 'movies'

  static override jsonSchema: JSONSchema = {
    type: 'object',
    required: ['name'],

    properties: {
      id: { type: 'integer' },
      name: { type: 'string', minLength: 1, maxLength: 255 },
    },
  }

  static override modifiers: Modifiers = {
    orderByName(query) {
      query.orderBy('name')
    },
  }

  static override relationMappings = () => ({
    actors: {
      relation: Model.ManyToManyRelation,
      modelClass: Person,
      join: {
        from: 'movies.id',
        through: {
          from: 'personsMovies.movieId',
          to: 'personsMovies.personId',
        },
        to: 'persons.id',
      },
    },
  })
}
