/**
 * Types the client derives from an API definition (`import type { api }`), with no code
 * generation: column names, value types, relations and result shapes.
 */
import type { ModelTypes, RelationType } from '../shared/api-types.js'

/** The `~types` an exposed model carries. */
export type TypesOf<Api, K extends keyof Api> = Api[K] extends { readonly '~types'?: infer T }
  ? NonNullable<T> extends ModelTypes
    ? NonNullable<T>
    : never
  : never

export type ModelName<Api> = keyof Api & string

/** A model's readable row. */
export type RowOf<Api, K extends keyof Api> = TypesOf<Api, K>['row']

/** A model's readable column names. */
export type ColumnOf<Api, K extends keyof Api> = keyof RowOf<Api, K> & string

/** A column's value type, without `null`/`undefined`. */
export type ValueOf<Api, K extends keyof Api, C extends ColumnOf<Api, K>> = NonNullable<RowOf<Api, K>[C]>

export type RelationNameOf<Api, K extends keyof Api> = keyof TypesOf<Api, K>['relations'] & string

/** The modifiers the API lets clients call on a model. */
export type ModifierNameOf<Api, K extends keyof Api> = keyof TypesOf<Api, K>['modifiers'] & string

/** A modifier's argument list. */
export type ModifierArgsOf<Api, K extends keyof Api, N extends string> = TypesOf<Api, K>['modifiers'] extends infer M
  ? N extends keyof M
    ? M[N] extends readonly unknown[]
      ? M[N]
      : readonly unknown[]
    : never
  : never

type RelationOf<Api, K extends keyof Api, R extends RelationNameOf<Api, K>> =
  TypesOf<Api, K>['relations'][R] extends RelationType<infer T, infer M> ? { target: T; many: M } : never

/** The exposed model a relation leads to (the one whose instance type is the target's). */
export type TargetOf<Api, K extends keyof Api, R extends RelationNameOf<Api, K>> = {
  [T in ModelName<Api>]: [TypesOf<Api, T>['instance']] extends [RelationOf<Api, K, R>['target']]
    ? [RelationOf<Api, K, R>['target']] extends [TypesOf<Api, T>['instance']]
      ? T
      : never
    : never
}[ModelName<Api>]

export type IsMany<Api, K extends keyof Api, R extends RelationNameOf<Api, K>> = RelationOf<Api, K, R>['many']

/**
 * Columns of a model's to-one relations as a read that joins them names them:
 * `'owner.name'` after `joinRelated('owner')`, `'owner:parent.name'` after
 * `joinRelated('owner.parent')` (typed two levels deep).
 */
export type JoinedColumnOf<Api, K extends keyof Api, Depth extends readonly unknown[] = []> = Depth['length'] extends 2
  ? never
  : {
      [R in RelationNameOf<Api, K>]: IsMany<Api, K, R> extends true
        ? never
        : `${R}.${ColumnOf<Api, TargetOf<Api, K, R>>}` | `${R}:${JoinedColumnOf<Api, TargetOf<Api, K, R>, [...Depth, R]>}`
    }[RelationNameOf<Api, K>]

/** What the `where…` family and `orderBy` take: the model's columns, and joined relations' columns. */
export type RefOf<Api, K extends keyof Api> = ColumnOf<Api, K> | JoinedColumnOf<Api, K>

/** The value type of a column reference, without `null`/`undefined`. */
export type RefValueOf<Api, K extends keyof Api, C extends string> = C extends ColumnOf<Api, K>
  ? ValueOf<Api, K, C>
  : C extends `${infer R}:${infer Rest}`
    ? R extends RelationNameOf<Api, K>
      ? RefValueOf<Api, TargetOf<Api, K, R>, Rest>
      : never
    : C extends `${infer R}.${infer Column}`
      ? R extends RelationNameOf<Api, K>
        ? Column extends ColumnOf<Api, TargetOf<Api, K, R>>
          ? ValueOf<Api, TargetOf<Api, K, R>, Column>
          : never
        : never
      : never

/** `'owner.name'` or `'owner.name as ownerName'` in `select(…)`. */
export type JoinedSelectOf<Api, K extends keyof Api> = JoinedColumnOf<Api, K> | `${JoinedColumnOf<Api, K>} as ${string}`

/** The keys and values joined columns in a select list add to each row (null without a related row). */
export type JoinedRowOf<Api, K extends keyof Api, Items> = {
  [I in Items & string as I extends `${string} as ${infer A}` ? A : I extends `${string}.${infer C}` ? C : never]:
    | RefValueOf<Api, K, I extends `${infer Ref} as ${string}` ? Ref : I>
    | null
}

/**
 * What `sum` and `avg` of a column answer: PostgreSQL's `numeric` (a string, exact) or a
 * float for number columns, `bigint` for int8 sums; for a column the model types as an
 * object (an app type the executor's `types` maps `numeric` to, such as a Decimal), that type.
 */
export type SumValue<V> = [V] extends [number | bigint] ? number | bigint | string | null : [V] extends [string] ? string | null : V extends object ? V | null : number | string | null
export type AvgValue<V> = [V] extends [number | bigint | string] ? number | string | null : V extends object ? V | null : number | string | null

/** `{ name: 'Ann' }`: equality on each key (an array value means "one of"). */
export type WhereObject<Api, K extends keyof Api> = {
  readonly [C in ColumnOf<Api, K>]?: ValueOf<Api, K, C> | null | readonly ValueOf<Api, K, C>[]
}

export interface Page<Row> {
  readonly results: Row[]
  /** Rows matching the filter, ignoring limit and offset. */
  readonly total: number
}

/** What a queryset resolves to, by the kind of read it is. */
export type ReadMode = 'many' | 'first' | 'page' | 'count' | 'exists'

export type ResultOf<Row, M extends ReadMode> = M extends 'many'
  ? Row[]
  : M extends 'first'
    ? Row | undefined
    : M extends 'page'
      ? Page<Row>
      : M extends 'count'
        ? number
        : M extends 'exists'
          ? boolean
          : never

/** Flattens intersections in hovers. */
export type Simplify<T> = { [K in keyof T]: T[K] } & {}

/**
 * An id value: a scalar, or a value of a custom type registered on the client's
 * SuperJSON instance (a key column the executor's `types` reads as an app type).
 */
export type IdValue = import('../shared/query-ast.js').Scalar | object

/** A value from an earlier query of the same transaction (`t.ref(0, 'id')`). */
export interface Ref {
  readonly $ref: { readonly query: number; readonly column: string }
}

type Writable<T> = { [C in keyof T]: T[C] | Ref }

/** Columns a client may insert (all optional: defaults and presets fill the rest). */
export type InsertRowOf<Api, K extends keyof Api> = [TypesOf<Api, K>['insert']] extends [never]
  ? never
  : Partial<Writable<TypesOf<Api, K>['insert']>>

/** Columns `patch` may change. */
export type PatchOf<Api, K extends keyof Api> = [TypesOf<Api, K>['update']] extends [never]
  ? never
  : Partial<Writable<TypesOf<Api, K>['update']>>

/** `update` replaces every updatable column. */
export type UpdateOf<Api, K extends keyof Api> = [TypesOf<Api, K>['update']] extends [never]
  ? never
  : Writable<TypesOf<Api, K>['update']>

/** Whether deleting is granted. */
export type CanDelete<Api, K extends keyof Api> = TypesOf<Api, K>['delete'] extends true ? true : false

/** A row with related rows to insert through exposed relations (objection's `insertGraph`). */
export type InsertGraphOf<Api, K extends keyof Api & string> = InsertRowOf<Api, K> & {
  readonly [R in RelationNameOf<Api, K>]?: IsMany<Api, K, R> extends true
    ? InsertGraphOf<Api, TargetOf<Api, K, R>>[]
    : InsertGraphOf<Api, TargetOf<Api, K, R>>
}
