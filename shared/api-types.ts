/**
 * The type-level contract between an API definition (built with the executor's
 * `expose`) and the client. The client reads it through `import type`, so it costs
 * nothing at run time; both sides agree on it here.
 */

/** One relation as the client sees it: the related model instance type and its arity. */
export interface RelationType<Target = unknown, Many extends boolean = boolean> {
  readonly target: Target
  readonly many: Many
}

export interface ModelTypes<
  Instance = unknown,
  Row = unknown,
  Relations = unknown,
  Insert = unknown,
  Update = unknown,
  Delete = unknown,
  Modifiers = unknown,
> {
  /** The objection model instance type, used to find a relation's exposed model. */
  readonly instance: Instance
  /** The readable columns, as returned to clients. */
  readonly row: Row
  /** Exposed relations by name. */
  readonly relations: Relations
  /** The columns a client may insert (`never` when inserting is not granted). */
  readonly insert: Insert
  /** The columns a client may update or patch (`never` when not granted). */
  readonly update: Update
  /** `true` when deleting is granted. */
  readonly delete: Delete
  /** The model's modifiers clients may call, by name, with the arguments each takes. */
  readonly modifiers: Modifiers
}

/**
 * What every exposed model carries for the type checker (phantoms: never set at run
 * time): its types, and the context its policies read (`Ctx` in `where: (ctx: Ctx) => …`).
 */
export interface TypedExposure<T extends ModelTypes = ModelTypes, Ctx = never> {
  readonly '~types'?: T
  readonly '~ctx'?: (ctx: Ctx) => void
}

/** An API definition: exposed models by the name clients use. */
export type ApiShape = { readonly [name: string]: TypedExposure }

type PolicyContext<E> = E extends { readonly '~ctx'?: (ctx: infer C) => void } ? C : unknown

/**
 * The context an API's policies read: what every exposed model's policies take, together
 * (`unknown` where no policy declares its context's type).
 */
export type ContextOf<Api> = { [K in keyof Api]: (ctx: PolicyContext<Api[K]>) => void }[keyof Api] extends (ctx: infer C) => void ? C : unknown
