/**
 * What an executor tells a client about its API when the client asks (`describe: true`
 * in a request): the models the caller may read or write and how they connect. A client
 * cache uses it to know which models a query reads through its relations and which a write
 * may change, so that a write invalidates exactly the queries it can change. It names
 * models and relations, never columns, rows or policies, and only what the caller may use.
 */
export interface ApiDescription {
  /** The exposed models the caller may read or holds a write grant for, by the name clients use. */
  readonly models: { readonly [model: string]: ModelDescription }
}

export interface ModelDescription {
  /** Exposed relations into models the caller may read: relation name → related model. */
  readonly relations: { readonly [relation: string]: string }
  /**
   * Described models whose rows this model's rows point at with foreign keys —
   * the database's, directly or through rows of other tables (its own or not exposed), and
   * those objection's relation mappings declare: deleting their rows may delete or change
   * rows of this model too (`on delete cascade`, `set null`).
   */
  readonly references: readonly string[]
  /** Described models over the same table: a write to one is a write to the others. Absent when none. */
  readonly sameTable?: readonly string[]
}
