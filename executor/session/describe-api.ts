/**
 * The API as one caller may see it (`describe: true` in a request): the models it may read
 * or holds a write grant for, their exposed relations into models it may read, and the
 * foreign keys and shared tables between those. Names only: no columns, policies or rows,
 * and nothing about a model the caller may neither read nor write (no grant for it, or a
 * row policy that denies its reads) or a relation into one it may not read.
 */
import type { ApiDescription, ModelDescription } from '../../shared/api-description.js'
import type { ApiMetadata, ModelMeta } from '../api/api-metadata.js'
import { mayReadModel } from './request-scope.js'

export function describeApi(meta: ApiMetadata, ctx: unknown, roles: readonly string[]): ApiDescription {
  const readable = new Set<string>()
  const described = new Set<string>()
  for (const [name, model] of meta) {
    if (mayReadModel(model, ctx, roles)) readable.add(name)
    if (readable.has(name) || mayWrite(model, ctx, roles)) described.add(name)
  }
  const models: Record<string, ModelDescription> = {}
  for (const name of described) {
    const model = meta.get(name)!
    const relations: Record<string, string> = {}
    for (const [relation, { target }] of model.relations) if (readable.has(target.name)) relations[relation] = target.name
    const references = model.pointsAt.filter((target) => described.has(target))
    const sameTable = model.sameTable.filter((other) => described.has(other))
    models[name] = { relations, references, ...(sameTable.length > 0 && { sameTable }) }
  }
  return { models }
}

function mayWrite(model: ModelMeta, ctx: unknown, roles: readonly string[]): boolean {
  return [model.insert, model.update, model.delete].some((grant) => grant?.allowed(ctx, roles) === true)
}
