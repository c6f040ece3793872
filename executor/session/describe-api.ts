/**
 * The API as one caller may see it (`describe: true` in a request): the models it may
 * read, their exposed relations into models it may read, and the foreign keys between
 * them. Names only: no columns, policies or rows, and nothing about models the caller may
 * not read (no read grant for it, or a row policy that denies it: the model is left out,
 * with every relation to it).
 */
import type { ApiDescription, ModelDescription } from '../../shared/api-description.js'
import type { ApiMetadata } from '../api/api-metadata.js'
import { mayReadModel } from './request-scope.js'

export function describeApi(meta: ApiMetadata, ctx: unknown, roles: readonly string[]): ApiDescription {
  const readable = new Set<string>()
  for (const [name, model] of meta) if (mayReadModel(model, ctx, roles)) readable.add(name)
  const models: Record<string, ModelDescription> = {}
  for (const name of readable) {
    const model = meta.get(name)!
    const relations: Record<string, string> = {}
    for (const [relation, { target }] of model.relations) if (readable.has(target.name)) relations[relation] = target.name
    // The database's foreign keys, and those objection's relation mappings declare.
    const references = [...new Set([...model.pointsAt, ...model.references.map((reference) => reference.target.name)])].filter((target) => readable.has(target)).sort()
    models[name] = { relations, references }
  }
  return { models }
}
