/**
 * The value rules every validator shares: shapes of untrusted input, scalars, strings,
 * counts, references to earlier results, and column values checked against the
 * column's PostgreSQL type.
 */
import type { Scalar } from '../../shared/query-ast.js'
import type { CustomTypes } from '../../shared/wire.js'
import type { ColumnType } from '../api/api-metadata.js'
import { ExecutorError } from '../executor-error.js'
import type { Limits } from '../limits.js'

/** A checked `$ref`: the value of `column` in the result of query `query` of this request. */
export class Ref {
  constructor(
    readonly query: number,
    readonly column: string,
  ) {}
}

export type CheckedValue = Scalar | Ref

/**
 * A JSON value for a json/jsonb column, with its serialized text (pg would turn a bare
 * array into an SQL array: unless the model serializes the column itself, the text is
 * what is written).
 */
export class JsonText {
  constructor(
    readonly value: unknown,
    readonly text: string,
  ) {}
}

export type CheckedWriteValue = CheckedValue | JsonText

const INTEGER_RANGES: Record<string, readonly [bigint, bigint]> = {
  smallint: [-32768n, 32767n],
  integer: [-2147483648n, 2147483647n],
  bigint: [-9223372036854775808n, 9223372036854775807n],
}
const TEXT_TYPES = new Set(['text', 'character varying', 'character', 'citext', 'name'])
const TIME_TYPES = new Set(['timestamp with time zone', 'timestamp without time zone', 'date', 'time with time zone', 'time without time zone'])
const FLOAT_TYPES = new Set(['real', 'double precision'])
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const DECIMAL = /^-?\d{1,131072}(\.\d{1,16383})?$/

export class ValueRules {
  constructor(
    private readonly limits: Limits,
    /** The app's custom types (its SuperJSON instance's): a value of one is compared and written as its JSON form. */
    private readonly custom?: CustomTypes,
  ) {}

  scalar(input: unknown): Scalar {
    switch (typeof input) {
      case 'string':
        return this.string(input, 'value')
      case 'number':
        if (!Number.isFinite(input)) throw bad('numbers must be finite')
        return input
      case 'boolean':
      case 'bigint':
        return input
      case 'object':
        if (input === null) return null
        if (input instanceof Date) {
          if (Number.isNaN(input.getTime())) throw bad('Invalid Date')
          return input
        }
        return this.customScalar(input)
      default:
        throw bad('values must be strings, numbers, booleans, null, Dates or bigints')
    }
  }

  /**
   * A value of one of the app's custom types (a Decimal, say), as the scalar its type
   * serializes it to (`'12.50'`): what SQL compares and writes. Its type is the app's:
   * its JSON form must be a string, number or boolean.
   */
  private customScalar(input: object): Scalar {
    const found = Object.getPrototypeOf(input) === Object.prototype ? undefined : this.custom?.encode(input)
    if (found === undefined) throw bad('values must be strings, numbers, booleans, null, Dates or bigints')
    const json = found[1]
    if (typeof json === 'string') return this.string(json, 'value')
    if ((typeof json === 'number' && Number.isFinite(json)) || typeof json === 'boolean') return json
    throw bad(`a ${found[0]} value must serialize to a string, a number or a boolean to be compared or written`)
  }

  /** A scalar, or `{ $ref: { query, column } }` pointing at an earlier query of the request. */
  value(input: unknown, index: number): CheckedValue {
    if (input !== null && typeof input === 'object' && Object.getPrototypeOf(input) === Object.prototype) {
      return this.ref(input as Record<string, unknown>, index)
    }
    return this.scalar(input)
  }

  private ref(input: Record<string, unknown>, index: number): Ref {
    const keys = Object.keys(input)
    if (keys.length !== 1 || keys[0] !== '$ref') throw bad('values must be strings, numbers, booleans, null, Dates, bigints or refs')
    const ref = record(input.$ref, '$ref')
    checkKeys(ref, REF_KEYS, '$ref')
    const query = ref.query
    if (typeof query !== 'number' || !Number.isSafeInteger(query) || query < 0 || query >= index) {
      throw bad('a ref must point at an earlier query of the same request')
    }
    return new Ref(query, string(ref.column, '$ref column'))
  }

  /** A value for a column of type `type`, refused with a message naming the column. */
  columnValue(input: unknown, prop: string, type: ColumnType, index: number): CheckedWriteValue {
    if (type.type === 'json' || type.type === 'jsonb') return new JsonText(input, this.json(input, prop))
    const value = this.value(input, index)
    if (value === null || value instanceof Ref) return value
    const wrong = () => bad(`column "${prop}" expects ${describe(type.type)}`)
    const range = INTEGER_RANGES[type.type]
    if (range) {
      if (typeof value === 'number' ? !Number.isSafeInteger(value) : typeof value !== 'bigint') throw wrong()
      const big = BigInt(value as number | bigint)
      if (big < range[0] || big > range[1]) throw bad(`column "${prop}" is out of range`)
      return value
    }
    if (type.type === 'numeric') {
      if (typeof value === 'number' || typeof value === 'bigint') return value
      if (typeof value === 'string' && DECIMAL.test(value)) return value
      throw wrong()
    }
    if (FLOAT_TYPES.has(type.type)) {
      if (typeof value !== 'number') throw wrong()
      return value
    }
    if (type.type === 'boolean') {
      if (typeof value !== 'boolean') throw wrong()
      return value
    }
    if (TEXT_TYPES.has(type.type)) {
      if (typeof value !== 'string') throw wrong()
      return value
    }
    if (type.type === 'uuid') {
      if (typeof value !== 'string' || !UUID.test(value)) throw wrong()
      return value
    }
    if (TIME_TYPES.has(type.type)) {
      if (value instanceof Date) return value
      if (typeof value === 'string' && !Number.isNaN(Date.parse(value))) return value
      throw wrong()
    }
    // Other types (enums, arrays, ranges…): scalars only; PostgreSQL checks the rest.
    if (value instanceof Date || typeof value === 'bigint') return value
    return value
  }

  private json(input: unknown, prop: string): string {
    if (input === undefined) throw bad(`column "${prop}" has no value`)
    const check = (value: unknown): void => {
      if (value === null || typeof value === 'boolean') return
      if (typeof value === 'number') {
        if (!Number.isFinite(value)) throw bad(`column "${prop}" holds a non-finite number`)
        return
      }
      if (typeof value === 'string') return void this.string(value, prop)
      if (Array.isArray(value)) return value.forEach(check)
      if (typeof value === 'object' && !(value instanceof Date)) return Object.values(value as object).forEach(check)
      throw bad(`column "${prop}" expects JSON (no Dates or bigints inside)`)
    }
    check(input)
    return JSON.stringify(input)
  }

  string(input: unknown, what: string): string {
    const value = string(input, what)
    if (value.length > this.limits.maxStringLength) {
      throw new ExecutorError('LIMIT_EXCEEDED', `a string is longer than ${this.limits.maxStringLength} characters`)
    }
    if (value.includes('\u0000')) throw bad('strings cannot contain NUL characters')
    return value
  }

  count(input: unknown, what: string, max: number): number {
    if (typeof input !== 'number' || !Number.isSafeInteger(input) || input < 0) {
      throw bad(`${what} must be a non-negative integer`)
    }
    if (input > max) throw new ExecutorError('LIMIT_EXCEEDED', `${what} is above the maximum of ${max}`)
    return input
  }
}

const REF_KEYS = new Set(['query', 'column'])

function describe(type: string): string {
  if (INTEGER_RANGES[type]) return 'an integer'
  if (type === 'numeric' || FLOAT_TYPES.has(type)) return 'a number'
  if (TIME_TYPES.has(type)) return 'a Date'
  if (type === 'boolean') return 'a boolean'
  return `a ${type} value`
}

export function record(input: unknown, what: string): Record<string, unknown> {
  if (input === null || typeof input !== 'object' || Array.isArray(input) || input instanceof Date) {
    throw bad(`${what} must be an object`)
  }
  return input as Record<string, unknown>
}

export function array(input: unknown, what: string): readonly unknown[] {
  if (!Array.isArray(input)) throw bad(`${what} must be an array`)
  return input
}

export function string(input: unknown, what: string): string {
  if (typeof input !== 'string') throw bad(`${what} must be a string`)
  return input
}

export function optionalBoolean(input: unknown, what: string): boolean {
  if (input === undefined) return false
  if (typeof input !== 'boolean') throw bad(`${what} must be a boolean`)
  return input
}

export function checkKeys(node: Record<string, unknown>, allowed: ReadonlySet<string>, what: string): void {
  for (const key of Object.keys(node)) {
    if (!allowed.has(key)) throw bad(`unknown field "${clip(key)}" in ${what}`)
  }
}

/** A key telling tuples of values apart (bigints kept apart from numeric strings): for de-duplicating ids and keys. */
export function valuesKey(values: readonly unknown[]): string {
  return JSON.stringify(values, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))
}

export function keys(...names: string[]): ReadonlySet<string> {
  return new Set(names)
}

export function bad(message: string): ExecutorError {
  return new ExecutorError('BAD_REQUEST', message)
}

export function clip(text: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are what it removes
  const safe = text.replace(/[\u0000-\u001f]/g, '?')
  return safe.length > 40 ? `${safe.slice(0, 40)}…` : safe
}
