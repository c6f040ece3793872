export { createExecutor, type CorsOptions, type Executor, type ExecutorOptions } from './create-executor.js'
export {
  expose,
  type ColumnKey,
  type ExposedModel,
  type ExposeOptions,
  type ReadPolicy,
  type InsertPolicy,
  type UpdatePolicy,
  type DeletePolicy,
  type RelationKey,
  type RowFilter,
  type Exposure,
  type Allow,
  type ModelClassLike,
  type ModifierArgs,
  type ModifierGrants,
  type Presets,
} from './api/expose.js'
export { ExecutorError, type Logger } from './executor-error.js'
export { DEFAULT_LIMITS, type Limits } from './limits.js'
export type { IdempotencyOptions } from './run/idempotency.js'
export { ERROR_STATUS, type ErrorCode, type WireError } from '../shared/error-codes.js'
// What `expose` returns is named through these, so an app can emit declarations for its API.
export type { ApiShape, ContextOf, ModelTypes, RelationType, TypedExposure } from '../shared/api-types.js'
export {
  procedure,
  type Procedure,
  type ProcedureContext,
  type StandardSchemaV1,
  type InferInput,
  type InferOutput,
} from './api/procedures.js'
export { jwtAuth, type JwtAuthOptions } from './auth/jwt.js'
export { proxyAuth, type ProxyAuthOptions } from './auth/proxy.js'
