/**
 * `expose(Model, policy)`: the only way a model becomes reachable (default deny).
 * The returned value is plain configuration; `createExecutor` compiles it once at
 * startup, and the client reads its phantom `~types` through `import type`.
 */
import type { Model } from 'objection'
import type { ModelTypes, RelationType, TypedExposure } from '../../shared/api-types.js'
import type { Scalar } from '../../shared/query-ast.js'
import type { StandardSchemaV1 } from './procedures.js'

/** Any objection model class. */
export type ModelClassLike = (abstract new (...args: never[]) => Model) & typeof Model

type InstanceOf<M> = M extends abstract new (...args: never[]) => infer I ? I : never

type DataKey<I> = {
  [K in keyof I]-?: K extends `$${string}` | 'QueryBuilderType'
    ? never
    : NonNullable<I[K]> extends (...args: never[]) => unknown
      ? never
      : K
}[keyof I] &
  string

type IsRelation<V> = [NonNullable<V>] extends [never]
  ? false
  : NonNullable<V> extends Model | readonly Model[]
    ? true
    : false

/** The column properties of a model instance (data properties that are not relations). */
export type ColumnKey<I> = { [K in DataKey<I>]: IsRelation<I[K]> extends true ? never : K }[DataKey<I>]

/** The relation properties of a model instance. */
export type RelationKey<I> = { [K in DataKey<I>]: IsRelation<I[K]> extends true ? K : never }[DataKey<I>]

/**
 * A row filter from the request context: every key must equal its value (an array
 * means "one of"). It is ANDed into every read of the model, including relation loads
 * and relation filters that reach it.
 */
export type RowFilter<I> = { readonly [K in ColumnKey<I>]?: Scalar | readonly Scalar[] }

/**
 * Who may use a grant: `true` (everyone, anonymous callers included), a list of roles
 * (see the executor's `roles` option), or a function of the context. Without `allow`, a
 * grant is for authenticated callers only: an anonymous caller may do nothing unless
 * `allow: true` says so.
 */
export type Allow<Ctx> = true | readonly string[] | ((ctx: Ctx) => boolean)

export interface ReadPolicy<I, Ctx, C extends ColumnKey<I>, H extends ColumnKey<I>> {
  readonly allow?: Allow<Ctx>
  /** Who may aggregate (`count('…')`, `sum`, `groupBy`…); default: whoever may read. */
  readonly aggregate?: Allow<Ctx>
  /**
   * Columns that may be returned, filtered on, ordered by, grouped and aggregated.
   * `'*'` means every column of the table except `hidden`.
   */
  readonly columns: readonly C[] | '*'
  /** With `'*'`: columns that never leave the database. */
  readonly hidden?: readonly H[]
  /** Rows this caller may see; `ctx` is what the executor's `auth` returned (or `null`). */
  readonly where?: (ctx: Ctx) => RowFilter<I>
  /** Rows returned when the client gives no limit (default: the executor's `defaultLimit`). */
  readonly defaultLimit?: number
  /** Largest limit a client may ask for (default: the executor's `maxLimit`). */
  readonly maxLimit?: number
}

/** Column values the server sets on written rows, overriding what the client sent. */
export type Presets<I> = { readonly [K in ColumnKey<I>]?: unknown }

export interface InsertPolicy<I, Ctx, IC extends ColumnKey<I>> {
  readonly allow?: Allow<Ctx>
  /** Columns a client may give values for; any other key is refused. */
  readonly columns: readonly IC[]
  /** Values set from the context on every inserted row (e.g. `{ ownerId: ctx.userId }`). */
  readonly set?: (ctx: Ctx) => Presets<I>
  /** Checked on each inserted row (every column); `false` rolls the write back (`FORBIDDEN`). */
  readonly check?: (row: Record<string, unknown>, ctx: Ctx) => boolean | Promise<boolean>
  /**
   * Whether a foreign key the client writes must point at a row of the referenced
   * (exposed) model that the caller may read, checked under that model's read policy.
   * Default `true`; `false` leaves it to the database's own constraints.
   */
  readonly checkReferences?: boolean
}

export interface UpdatePolicy<I, Ctx, UC extends ColumnKey<I>> {
  readonly allow?: Allow<Ctx>
  /** Columns a client may change. `update` must give all of them, `patch` any of them. */
  readonly columns: readonly UC[]
  /** Rows this caller may change, ANDed with the read policy's `where`. */
  readonly where?: (ctx: Ctx) => RowFilter<I>
  /** Values set from the context on every updated row. */
  readonly set?: (ctx: Ctx) => Presets<I>
  /** Checked on each updated row (every column); `false` rolls the write back (`FORBIDDEN`). */
  readonly check?: (row: Record<string, unknown>, ctx: Ctx) => boolean | Promise<boolean>
  /** Allow updates with no filter at all (default: refused). */
  readonly allowUnfiltered?: boolean
  /** As for inserts: written foreign keys must point at rows the caller may read (default `true`). */
  readonly checkReferences?: boolean
}

export interface DeletePolicy<I, Ctx> {
  readonly allow?: Allow<Ctx>
  /** Rows this caller may delete, ANDed with the read policy's `where`. */
  readonly where?: (ctx: Ctx) => RowFilter<I>
  /** Allow deletes with no filter at all (default: refused). */
  readonly allowUnfiltered?: boolean
}

export interface ExposeOptions<
  I,
  Ctx,
  C extends ColumnKey<I>,
  H extends ColumnKey<I>,
  R extends RelationKey<I>,
  IC extends ColumnKey<I> = never,
  UC extends ColumnKey<I> = never,
> {
  /** Reading is denied unless granted. */
  readonly read?: ReadPolicy<I, Ctx, C, H>
  /** Inserting is denied unless granted. */
  readonly insert?: InsertPolicy<I, Ctx, IC>
  /** Updating and patching are denied unless granted. */
  readonly update?: UpdatePolicy<I, Ctx, UC>
  /** Deleting is denied unless granted; `true` grants it (to authenticated callers) with no extra row filter. */
  readonly delete?: DeletePolicy<I, Ctx> | true
  /** Relations clients may load and filter through; the related model must be exposed too. */
  readonly relations?: readonly R[]
  /**
   * The model's own modifiers (objection's `static modifiers`) clients may call with
   * `.modify(name, ...args)`, always under the read policy: `true` for modifiers whose
   * arguments are scalars (strings, numbers, booleans, null, Dates, bigints), or a
   * Standard Schema (valibot, zod, arktype…) that checks the argument list.
   */
  readonly modifiers?: ModifierGrants
}

/** Modifier grants: `true` (scalar arguments) or a Standard Schema of the argument list. */
export type ModifierGrants = { readonly [name: string]: true | StandardSchemaV1 }

/** The argument list a client passes to each granted modifier. */
export type ModifierArgs<M> = {
  readonly [N in keyof M]: M[N] extends StandardSchemaV1<infer I, unknown> ? (I extends readonly unknown[] ? I : [I]) : readonly Scalar[]
}

type IfEquals<X, Y, A, B> = (<T>() => T extends X ? 1 : 2) extends <T>() => T extends Y ? 1 : 2 ? A : B

/** Read-only properties (getters without a setter): computed by the model, not read from a column. */
type ReadonlyKey<I> = { [K in ColumnKey<I>]-?: IfEquals<Pick<I, K>, { -readonly [P in K]: I[P] }, never, K> }[ColumnKey<I>]

/** The names a model's `virtualAttributes` lists, when they are literal (`['fullName'] as const`); else `string`. */
type VirtualName<M> = M extends { readonly virtualAttributes?: infer V } ? (V extends readonly (infer N extends string)[] ? N : string) : string

/**
 * What an answer carries besides columns: the virtual attributes (a getter's value, or a
 * method's result) when the model lists them literally; otherwise every getter, as
 * possibly present.
 */
type Computed<I, M, Shown extends ColumnKey<I>> = string extends VirtualName<M>
  ? [Exclude<ReadonlyKey<I>, Shown>] extends [never]
    ? unknown
    : Partial<Pick<I, Exclude<ReadonlyKey<I>, Shown>>>
  : [VirtualName<M> & keyof I] extends [never]
    ? unknown
    : { [K in VirtualName<M> & keyof I]: I[K] extends (...args: never[]) => infer R ? R : I[K] }

/**
 * `columns: '*'` leaves `C` as `never`: every column but the hidden ones. Getters are not
 * columns: answers carry them as the model's `virtualAttributes` (what `toJSON()` adds).
 */
type RowOf<I, C extends ColumnKey<I>, H extends ColumnKey<I>, M = unknown> = [C] extends [never]
  ? Omit<Pick<I, Exclude<ColumnKey<I>, ReadonlyKey<I>>>, H> & Computed<I, M, H>
  : Pick<I, C> & Computed<I, M, C>

type RelationsOf<I, R extends RelationKey<I>> = {
  [K in R]: NonNullable<I[K]> extends readonly (infer T)[] ? RelationType<T, true> : RelationType<NonNullable<I[K]>, false>
}

/** Runtime form of an exposure, read by `createExecutor`. */
export interface Exposure {
  readonly modelClass: typeof Model
  readonly read?: {
    readonly allow?: Allow<never>
    readonly aggregate?: Allow<never>
    readonly columns: readonly string[] | '*'
    readonly hidden?: readonly string[]
    readonly where?: (ctx: never) => Readonly<Record<string, Scalar | readonly Scalar[]>>
    readonly defaultLimit?: number
    readonly maxLimit?: number
  }
  readonly insert?: {
    readonly allow?: Allow<never>
    readonly columns: readonly string[]
    readonly set?: (ctx: never) => Readonly<Record<string, unknown>>
    readonly check?: (row: Record<string, unknown>, ctx: never) => boolean | Promise<boolean>
    readonly checkReferences?: boolean
  }
  readonly update?: {
    readonly allow?: Allow<never>
    readonly columns: readonly string[]
    readonly where?: (ctx: never) => Readonly<Record<string, Scalar | readonly Scalar[]>>
    readonly set?: (ctx: never) => Readonly<Record<string, unknown>>
    readonly check?: (row: Record<string, unknown>, ctx: never) => boolean | Promise<boolean>
    readonly allowUnfiltered?: boolean
    readonly checkReferences?: boolean
  }
  readonly delete?:
    | true
    | {
        readonly allow?: Allow<never>
        readonly where?: (ctx: never) => Readonly<Record<string, Scalar | readonly Scalar[]>>
        readonly allowUnfiltered?: boolean
      }
  readonly relations?: readonly string[]
  readonly modifiers?: ModifierGrants
}

export interface ExposedModel<T extends ModelTypes, Ctx = never> extends TypedExposure<T, Ctx> {
  readonly exposure: Exposure
}

/**
 * Makes a model reachable by clients, with exactly the access the options grant.
 *
 * @example
 * expose(User, {
 *   read: { columns: ['id', 'name'], where: (ctx: Ctx) => ({ orgId: ctx.orgId }) },
 *   relations: ['posts'],
 * })
 */
export function expose<
  M extends ModelClassLike,
  Ctx = unknown,
  const C extends ColumnKey<InstanceOf<M>> = never,
  const H extends ColumnKey<InstanceOf<M>> = never,
  const R extends RelationKey<InstanceOf<M>> = never,
  const IC extends ColumnKey<InstanceOf<M>> = never,
  const UC extends ColumnKey<InstanceOf<M>> = never,
  const D extends DeletePolicy<InstanceOf<M>, Ctx> | true | undefined = undefined,
  const Mods extends ModifierGrants = {},
>(
  model: M,
  options: ExposeOptions<InstanceOf<M>, Ctx, C, H, R, IC, UC> & { readonly delete?: D; readonly modifiers?: Mods },
): ExposedModel<
  ModelTypes<
    InstanceOf<M>,
    RowOf<InstanceOf<M>, C, H, M>,
    RelationsOf<InstanceOf<M>, R>,
    [IC] extends [never] ? never : Pick<InstanceOf<M>, IC>,
    [UC] extends [never] ? never : Pick<InstanceOf<M>, UC>,
    [D] extends [undefined] ? false : true,
    ModifierArgs<Mods>
  >,
  Ctx
> {
  return { exposure: { modelClass: model, ...(options as Omit<Exposure, 'modelClass'>) } }
}
