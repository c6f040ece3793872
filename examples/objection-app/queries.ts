/**
 * Client code for the app, as the README shows it: objection's query methods, run from
 * any runtime with fetch, typed from api.ts with no code generation. The jsonSchema and
 * the timestamp hooks stay on the server, in the models.
 */
import type { Client } from '../../client/index.js'
import type { AppApi } from './api.js'

/** A person with their parent, children (each with their pets) and movies. */
export function family(db: Client<AppApi>, personId: number) {
  return db.Person.query().findById(personId).withGraphFetched({ parent: true, children: { pets: true }, movies: true })
}

/** People who own a dog, each with only their dogs, by name. */
export function dogOwners(db: Client<AppApi>) {
  return db.Person.query()
    .whereExists('pets', (pets) => pets.where('species', 'dog'))
    .orderBy('lastName')
    .orderBy('firstName')
    .withGraphFetched({ pets: (pets) => pets.where('species', 'dog').orderBy('name') })
}

/** Registers a pet; the API makes the caller its owner. */
export function adopt(db: Client<AppApi>, name: string, species: string) {
  return db.Animal.query().insert({ name, species })
}

/** Patches a person's age; objection's $beforeUpdate sets updatedAt, its jsonSchema checks the age. */
export function birthday(db: Client<AppApi>, personId: number, age: number) {
  return db.Person.query().patchAndFetchById(personId, { age })
}

/** Pets listed with their owner's name, oldest owners first (a join on a to-one relation). */
export function petsWithOwners(db: Client<AppApi>) {
  return db.Animal.query()
    .joinRelated('owner')
    .where('owner.age', '>=', 18)
    .select('id', 'name', 'species', 'owner.firstName as ownerName')
    .orderBy('owner.age', 'desc')
    .orderBy('id')
}

/** Links movies to the caller's own person row (rows of the join table). */
export function starIn(db: Client<AppApi>, personId: number, movieIds: number[]) {
  return db.Person.relatedQuery('movies').for(personId).relate(movieIds)
}

/** Gives one of the caller's pets to another person (its owner key changes). */
export function giveAway(db: Client<AppApi>, petId: number, toPersonId: number) {
  return db.Animal.relatedQuery('owner').for(petId).relate(toPersonId)
}
