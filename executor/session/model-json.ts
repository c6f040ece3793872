/**
 * Rows as objection's `toJSON()` gives them, for models that shape their JSON: a model
 * that overrides `$parseDatabaseJson` or `$formatJson`, or declares `virtualAttributes`,
 * has each row it answers made into an instance from the database row
 * (`fromDatabaseJson`, with the row's columns under the names knex gives them) and back
 * (`toJSON()`: `$formatJson` and the virtual attributes). Other models' rows stay as read:
 * plain models pay nothing.
 */
import { Model } from 'objection'
import type { ModelMeta } from '../api/api-metadata.js'
import type { Row } from './db-session.js'
import type { Column } from '../validate/validate-query.js'

const shapes = new WeakMap<ModelMeta, boolean>()

/** Whether the model shapes its JSON (looked at once per model). */
export function shapesJson(model: ModelMeta): boolean {
  let shaped = shapes.get(model)
  if (shaped === undefined) {
    const modelClass = model.modelClass as typeof Model & { getVirtualAttributes(): string[] }
    const prototype = modelClass.prototype
    shaped =
      prototype.$formatJson !== Model.prototype.$formatJson ||
      prototype.$parseDatabaseJson !== Model.prototype.$parseDatabaseJson ||
      modelClass.getVirtualAttributes().length > 0
    shapes.set(model, shaped)
  }
  return shaped
}

/**
 * Reshapes `rows` of `model` in place, as `toJSON()` would give them: the `columns` go
 * through the model; every other key (aggregates, joined columns, the executor's own keys)
 * is kept as it is.
 */
export function shapeRows(model: ModelMeta, rows: Row[], columns: readonly Column[]): void {
  if (rows.length === 0 || !shapesJson(model)) return
  const modelClass = model.modelClass
  const own = new Set(columns.map((c) => c.prop))
  for (const row of rows) {
    const database: Record<string, unknown> = {}
    const rest: Row = {}
    for (const key of Object.keys(row)) {
      if (own.has(key)) database[model.naming.toKnex(key)] = row[key]
      else rest[key] = row[key]
      delete row[key]
    }
    Object.assign(row, modelClass.fromDatabaseJson(database).toJSON(), rest)
  }
}

/** A written row (its properties as the model parsed them), as `toJSON()` gives it. */
export function shapeWritten(model: ModelMeta, row: Row): Row {
  if (!shapesJson(model)) return row
  const instance = new (model.modelClass as unknown as new () => Model)()
  instance.$set(row)
  return instance.toJSON() as Row
}
