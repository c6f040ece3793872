/**
 * What the app exposes to clients. Everyone may read people, movies and the pets the
 * public listing shows; signed-in people (a JWT whose `sub` is their id) change their own
 * row and register, rename and give away their own pets; admins may do anything the
 * grants allow, for anyone. Validation and timestamps stay where objection puts them: in
 * the models' jsonSchema and hooks.
 */
import * as v from 'valibot'
import { expose } from '../../executor/index.js'
import { Animal, Movie, Person } from './models.js'

/** The policy context: who is calling (`null` when anonymous). */
export interface AppCtx {
  readonly personId: number
  readonly role?: 'admin'
}

/** Species the public listing shows; other animals (snakes, spiders…) only admins see. */
export const LISTED_SPECIES = ['dog', 'cat', 'bird', 'rabbit', 'fish']

/** The caller's person id; anonymous callers are refused (the executor answers FORBIDDEN). */
const me = (ctx: AppCtx | null): number => {
  if (!ctx) throw new Error('signed-in people only')
  return ctx.personId
}

const isAdmin = (ctx: AppCtx | null) => ctx?.role === 'admin'

/** Admins reach every pet; people their own. */
const ownPets = (ctx: AppCtx | null) => (isAdmin(ctx) ? {} : { ownerId: me(ctx) })

export const api = {
  Person: expose(Person, {
    read: { allow: true, columns: '*' },
    insert: { columns: ['firstName', 'lastName', 'age', 'address', 'parentId'] },
    update: {
      columns: ['firstName', 'lastName', 'age', 'address'],
      where: (ctx: AppCtx | null) => (isAdmin(ctx) ? {} : { id: me(ctx) }),
    },
    delete: { allow: ['admin'] },
    relations: ['parent', 'children', 'pets', 'movies'],
    // The models' own modifiers clients may call: `true` takes scalar arguments, a schema checks them.
    modifiers: { searchByName: v.tuple([v.pipe(v.string(), v.maxLength(100))]), adults: true },
  }),
  Animal: expose(Animal, {
    read: {
      allow: true,
      columns: '*',
      where: (ctx: AppCtx | null) => (isAdmin(ctx) ? {} : { species: LISTED_SPECIES }),
    },
    // People register pets as theirs; admins register anyone's (and pets in a graph).
    insert: { columns: ['name', 'species', 'ownerId'], set: (ctx: AppCtx | null) => (isAdmin(ctx) ? {} : { ownerId: me(ctx) }) },
    update: { columns: ['name', 'species', 'ownerId'], where: ownPets },
    delete: { where: ownPets },
    relations: ['owner'],
    modifiers: { onlyDogs: true, filterSpecies: v.tuple([v.picklist(LISTED_SPECIES)]) },
  }),
  Movie: expose(Movie, {
    read: { allow: true, columns: '*' },
    insert: { columns: ['name'] },
    update: { allow: ['admin'], columns: ['name'] },
    relations: ['actors'],
  }),
}

export type AppApi = typeof api
