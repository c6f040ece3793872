/**
 * Compiles an API definition once, at startup, into the lookup tables the request path
 * uses: per model its table, readable columns (property → database column), id columns,
 * policy and relations with their join columns (read from objection's own relation
 * metadata). Nothing here runs per request.
 */
import type { Knex } from 'knex'
import { Model } from 'objection'
import type { ApiShape } from '../../shared/api-types.js'
import type { Scalar } from '../../shared/query-ast.js'
import type { Allow, Exposure, ExposedModel } from './expose.js'
import type { Limits } from '../limits.js'
import { introspect, modelNaming, type Naming, type TableColumns } from './naming.js'
import type { StandardSchemaV1 } from './procedures.js'

/** A database column's type as introspected once at startup. */
export interface ColumnType {
  /** PostgreSQL's name for it (`integer`, `timestamp with time zone`, `jsonb`, …). */
  readonly type: string
  readonly nullable: boolean
}

type PolicyFilter = (ctx: unknown) => Readonly<Record<string, Scalar | readonly Scalar[]>>
type Presets = (ctx: unknown) => Readonly<Record<string, unknown>>
type Check = (row: Record<string, unknown>, ctx: unknown) => boolean | Promise<boolean>

/** Whether a caller (context and roles) may use a grant. */
export type Allowed = (ctx: unknown, roles: readonly string[]) => boolean

export interface WriteMeta {
  readonly allowed: Allowed
  /** Writable columns: property name → database column. */
  readonly columns: ReadonlyMap<string, string>
  readonly set?: Presets
  readonly check?: Check
  /** Whether written foreign keys must point at rows the caller may read (default true). */
  readonly checkReferences: boolean
}

export interface UpdateMeta extends WriteMeta {
  readonly where?: PolicyFilter
  readonly allowUnfiltered: boolean
}

export interface DeleteMeta {
  readonly allowed: Allowed
  readonly where?: PolicyFilter
  readonly allowUnfiltered: boolean
}

export interface ModelMeta {
  readonly name: string
  /** The objection model: writes go through it (validation, hooks, column mapping). */
  readonly modelClass: typeof Model
  readonly table: string
  /** Every column of the table: database column → type. */
  readonly columnTypes: ReadonlyMap<string, ColumnType>
  /** Every column of the table: database column → property name (for `check` rows). */
  readonly allProps: ReadonlyMap<string, string>
  readonly insert?: WriteMeta
  readonly update?: UpdateMeta
  readonly delete?: DeleteMeta
  /** Readable columns: property name → database column. */
  readonly columns: ReadonlyMap<string, string>
  /** Who may read, and who may aggregate. */
  readonly readAllowed: Allowed
  readonly aggregateAllowed: Allowed
  /** Id properties (`findById`); each is readable. */
  readonly idProps: readonly string[]
  readonly relations: ReadonlyMap<string, RelationMeta>
  /** The model's modifiers clients may call: `true` (scalar arguments) or a schema of the argument list. */
  readonly modifiers: ReadonlyMap<string, true | StandardSchemaV1>
  /** Foreign keys on this model's table to exposed models (from objection's relations, exposed or not). */
  readonly references: readonly Reference[]
  /**
   * Exposed models whose rows this model's rows point at, sorted: with the database's
   * foreign keys, directly or through rows of other tables, and with those objection's
   * relation mappings declare (`references`). Deleting their rows may change this model's.
   */
  readonly pointsAt: readonly string[]
  /** Exposed models over the same table: a write to one is a write to the others. */
  readonly sameTable: readonly string[]
  readonly policy?: PolicyFilter
  /** Any property → database column, for policy keys (which may name unreadable columns). */
  readonly toColumn: (prop: string) => string
  /** The model's naming, its column mappers and knex's together. */
  readonly naming: Naming
  readonly defaultLimit: number
  readonly maxLimit: number
}

/** `columns` of a model's table hold the key `targetColumns` of a row of `target`. */
export interface Reference {
  readonly columns: readonly string[]
  readonly target: ModelMeta
  readonly targetColumns: readonly string[]
}

export type RelationKind = 'belongsTo' | 'hasMany' | 'manyToMany'

export interface RelationMeta {
  readonly name: string
  /** Who holds the key: the owner (belongsTo), the related rows (hasMany, hasOne), a join table. */
  readonly kind: RelationKind
  readonly many: boolean
  readonly target: ModelMeta
  /** Columns on the owner's table. */
  readonly ownerColumns: readonly string[]
  /** Columns on the related table (for many-to-many: the ones the join table points at). */
  readonly relatedColumns: readonly string[]
  readonly join?: {
    readonly table: string
    /** Join-table columns equal to `ownerColumns`. */
    readonly ownerColumns: readonly string[]
    /** Join-table columns equal to `relatedColumns`. */
    readonly relatedColumns: readonly string[]
  }
}

export type ApiMetadata = ReadonlyMap<string, ModelMeta>

interface ObjectionRelation {
  name: string
  relatedModelClass: typeof Model
  ownerProp: { cols: string[] }
  relatedProp: { cols: string[] }
  joinTable: string | null
  joinTableOwnerProp?: { cols: string[] } | null
  joinTableRelatedProp?: { cols: string[] } | null
  modify: unknown
  isOneToOne(): boolean
}

export async function buildApiMetadata(api: ApiShape, knex: Knex, limits: Limits): Promise<ApiMetadata> {
  const exposures = new Map<string, Exposure>()
  for (const name of Object.keys(api)) {
    const exposure = (api[name] as ExposedModel<never> | undefined)?.exposure
    if (!exposure?.modelClass) throw new TypeError(`api.${name} is not made with expose()`)
    exposures.set(name, exposure)
  }
  const byClass = new Map<typeof Model, string>()
  for (const [name, exposure] of exposures) {
    if (byClass.has(exposure.modelClass)) {
      throw new TypeError(`${exposure.modelClass.name} is exposed twice (${byClass.get(exposure.modelClass)} and ${name})`)
    }
    byClass.set(exposure.modelClass, name)
  }

  // Every model's naming and table first, so that one catalog query reads all the tables.
  const named = new Map([...exposures].map(([name, exposure]) => {
    const naming = modelNaming(exposure.modelClass, knex)
    return [name, { naming, table: naming.table((exposure.modelClass as typeof Model & ModelStatics).getTableName()) }] as const
  }))
  const { columns: catalog, keys } = await introspect(knex, [...new Set([...named.values()].map((n) => n.table))])
  const metas = new Map<string, ModelMeta & { relations: Map<string, RelationMeta>; references: Reference[] }>()
  for (const [name, exposure] of exposures) {
    const { naming, table } = named.get(name)!
    const reached = keys.pointsAt(table)
    const others = [...named].filter(([other]) => other !== name)
    const tableKeys = {
      pointsAt: others.filter(([, n]) => reached.has(n.table)).map(([other]) => other),
      sameTable: others.filter(([, n]) => keys.same(table, n.table)).map(([other]) => other),
    }
    metas.set(name, buildModel(name, exposure, naming, table, catalog.get(table)!, limits, tableKeys))
  }
  for (const [name, exposure] of exposures) {
    const meta = metas.get(name)!
    const relations = exposure.modelClass.getRelations() as unknown as Record<string, ObjectionRelation>
    for (const relationName of exposure.relations ?? []) {
      const relation = Object.hasOwn(relations, relationName) ? relations[relationName] : undefined
      if (!relation) throw new TypeError(`${name}: "${relationName}" is not a relation of ${exposure.modelClass.name}`)
      if (relation.modify) {
        throw new TypeError(`${name}.${relationName}: relations with a modify/filter mapping cannot be exposed`)
      }
      const targetName = byClass.get(relation.relatedModelClass)
      if (targetName === undefined) {
        throw new TypeError(`${name}.${relationName}: ${relation.relatedModelClass.name} must be exposed too`)
      }
      const join =
        relation.joinTable && relation.joinTableOwnerProp && relation.joinTableRelatedProp
          ? {
              table: meta.naming.table(relation.joinTable),
              ownerColumns: relation.joinTableOwnerProp.cols.map(meta.naming.knexToDb),
              relatedColumns: relation.joinTableRelatedProp.cols.map(meta.naming.knexToDb),
            }
          : undefined
      meta.relations.set(relationName, {
        name: relationName,
        kind: join ? 'manyToMany' : relation instanceof Model.BelongsToOneRelation ? 'belongsTo' : 'hasMany',
        many: !relation.isOneToOne(),
        target: metas.get(targetName)!,
        ownerColumns: relation.ownerProp.cols.map(meta.naming.knexToDb),
        relatedColumns: relation.relatedProp.cols.map(meta.naming.knexToDb),
        ...(join && { join }),
      })
    }
  }
  addReferences(exposures, metas, byClass)
  // The database's keys and the mappings' together, once: the API's description lists them.
  // (In place: relations hold these very objects as their targets.)
  for (const meta of metas.values()) {
    ;(meta as { pointsAt: readonly string[] }).pointsAt = [...new Set([...meta.pointsAt, ...meta.references.map((reference) => reference.target.name)])].sort()
  }
  return metas
}

/**
 * Every foreign key between exposed models that objection's relation mappings declare,
 * exposed relations or not: a belongs-to on the model itself, or a has-many / has-one on
 * the model it points at. Written values of these columns are checked against the
 * target's read policy.
 */
function addReferences(
  exposures: ReadonlyMap<string, Exposure>,
  metas: ReadonlyMap<string, ModelMeta & { references: Reference[] }>,
  byClass: ReadonlyMap<typeof Model, string>,
): void {
  const seen = new Set<string>()
  const add = (owner: string, columns: readonly string[], target: string, targetColumns: readonly string[]) => {
    const key = JSON.stringify([owner, columns, target, targetColumns])
    if (seen.has(key)) return
    seen.add(key)
    metas.get(owner)!.references.push({ columns, target: metas.get(target)!, targetColumns })
  }
  for (const [name, exposure] of exposures) {
    const relations = exposure.modelClass.getRelations() as unknown as Record<string, ObjectionRelation>
    for (const relation of Object.values(relations)) {
      const related = byClass.get(relation.relatedModelClass)
      if (related === undefined || relation.joinTable) continue
      const db = metas.get(name)!.naming.knexToDb
      const owner = relation.ownerProp.cols.map(db)
      const target = relation.relatedProp.cols.map(db)
      if (relation instanceof Model.BelongsToOneRelation) add(name, owner, related, target)
      else if (relation instanceof Model.HasManyRelation) add(related, target, name, owner)
    }
  }
}

/** The static methods of objection's Model that its typings leave out. */
interface ModelStatics {
  getTableName(): string
  getIdPropertyArray(): string[]
}

function buildModel(
  name: string,
  exposure: Exposure,
  naming: Naming,
  table: string,
  info: TableColumns,
  limits: Limits,
  tableKeys: { readonly pointsAt: readonly string[]; readonly sameTable: readonly string[] },
) {
  const modelClass = exposure.modelClass as typeof Model & ModelStatics
  if (info.size === 0) throw new TypeError(`${name}: table ${table} does not exist (or is not on the search path)`)
  const columnTypes = new Map<string, ColumnType>()
  const allProps = new Map<string, string>()
  for (const [column, type] of info) {
    columnTypes.set(column, type)
    allProps.set(column, naming.toProp(column))
  }
  const columnsFor = (props: readonly string[], what: string) => {
    const map = new Map<string, string>()
    for (const prop of props) {
      const column = naming.toDb(prop)
      if (!columnTypes.has(column)) throw new TypeError(`${name}: ${what} column ${prop} is not a column of table ${table} (it maps to "${column}")`)
      if (naming.toProp(column) !== prop) {
        throw new TypeError(`${name}: property ${prop} maps to column "${column}", which maps back to ${naming.toProp(column)}; the column name mappers must be each other's inverse`)
      }
      map.set(prop, column)
    }
    return map
  }

  const read = exposure.read
  let columns = new Map<string, string>()
  if (read) {
    const hidden = new Set(read.hidden ?? [])
    const props = read.columns === '*' ? [...allProps.values()] : read.columns
    columns = columnsFor(props.filter((prop) => !hidden.has(prop)), 'read')
  }
  const { insert, update } = exposure
  const readAllowed = allowed(read?.allow)
  const deletion = exposure.delete === true ? {} : exposure.delete
  const idProps = modelClass.getIdPropertyArray()
  const defaultLimit = read?.defaultLimit ?? limits.defaultLimit
  const maxLimit = read?.maxLimit ?? limits.maxLimit
  return {
    name,
    modelClass: exposure.modelClass,
    table,
    ...tableKeys,
    columnTypes,
    allProps,
    columns,
    readAllowed,
    aggregateAllowed: read?.aggregate === undefined ? readAllowed : allowed(read.aggregate),
    idProps: idProps.every((prop) => columns.has(prop)) ? idProps : [],
    relations: new Map<string, RelationMeta>(),
    references: [] as Reference[],
    modifiers: modifierGrants(name, modelClass, exposure.modifiers ?? {}),
    ...(read?.where && { policy: read.where as PolicyFilter }),
    ...(insert && {
      insert: {
        allowed: allowed(insert.allow),
        columns: columnsFor(insert.columns, 'insert'),
        ...(insert.set && { set: insert.set as Presets }),
        ...(insert.check && { check: insert.check as Check }),
        checkReferences: insert.checkReferences !== false,
      },
    }),
    ...(update && {
      update: {
        allowed: allowed(update.allow),
        columns: columnsFor(update.columns, 'update'),
        ...(update.set && { set: update.set as Presets }),
        ...(update.check && { check: update.check as Check }),
        ...(update.where && { where: update.where as PolicyFilter }),
        allowUnfiltered: update.allowUnfiltered === true,
        checkReferences: update.checkReferences !== false,
      },
    }),
    ...(deletion && {
      delete: {
        allowed: allowed((deletion as { allow?: Allow<never> }).allow),
        ...(deletion.where && { where: deletion.where as PolicyFilter }),
        allowUnfiltered: deletion.allowUnfiltered === true,
      },
    }),
    toColumn: naming.toDb,
    naming,
    defaultLimit: Math.min(defaultLimit, maxLimit),
    maxLimit,
  }
}

/** The modifiers the API lists, each checked to be one of the model's own. */
function modifierGrants(name: string, modelClass: typeof Model, grants: Readonly<Record<string, true | StandardSchemaV1>>) {
  const own = (modelClass as { modifiers?: Record<string, unknown> }).modifiers ?? {}
  const map = new Map<string, true | StandardSchemaV1>()
  for (const modifier of Object.keys(grants)) {
    const grant = grants[modifier]!
    if (!Object.hasOwn(own, modifier) || typeof own[modifier] !== 'function') {
      throw new TypeError(`${name}: "${modifier}" is not one of ${modelClass.name}'s modifiers`)
    }
    if (grant !== true && typeof (grant as StandardSchemaV1)?.['~standard']?.validate !== 'function') {
      throw new TypeError(`${name}.modifiers.${modifier} must be true or a Standard Schema of its arguments`)
    }
    map.set(modifier, grant)
  }
  return map
}

/**
 * `allow` as a function. Absent: authenticated callers only. A function that throws
 * denies; so does anything but `true` from it.
 */
export function allowed(allow: Allow<never> | undefined): Allowed {
  if (allow === undefined) return (ctx) => ctx !== null && ctx !== undefined
  if (allow === true) return () => true
  if (Array.isArray(allow)) {
    const granted = new Set(allow as readonly string[])
    return (_ctx, roles) => roles.some((role) => granted.has(role))
  }
  if (typeof allow === 'function') {
    const check = allow as (ctx: unknown) => boolean
    return (ctx) => {
      try {
        return check(ctx) === true
      } catch {
        return false
      }
    }
  }
  throw new TypeError('allow must be true, a list of roles or a function of the context')
}

/** The property a database column has in rows (the column itself when the model does not map it). */
export function propOf(model: ModelMeta, column: string): string {
  return model.allProps.get(column) ?? column
}

/** Whether a write grant lists the database column `column`. */
export function grantsColumn(grant: { readonly columns: ReadonlyMap<string, string> }, column: string): boolean {
  for (const granted of grant.columns.values()) if (granted === column) return true
  return false
}
