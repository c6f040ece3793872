/**
 * What one request's answer may cost: rows after fan-out and bytes, across all its
 * queries (issue 12: a small request must not make the server build a huge answer).
 * Reads charge each relation level as it loads, before the next level's query runs;
 * a related row shared by several parents is charged once per parent, as it will be
 * repeated in the answer. The final text is checked too (`assertAnswerSize`), since
 * byte figures here are estimates.
 */
import { ExecutorError } from '../executor-error.js'

export class ResultBudget {
  private rows = 0
  private bytes = 0

  constructor(
    readonly maxRows: number,
    readonly maxBytes: number,
  ) {}

  /** Rows the answer may still take. */
  remainingRows(): number {
    return Math.max(0, this.maxRows - this.rows)
  }

  /** Bytes the answer may still take. */
  remainingBytes(): number {
    return Math.max(0, this.maxBytes - this.bytes)
  }

  /** Adds rows and bytes to the answer, or refuses when either passes its limit. */
  charge(rows: number, bytes: number): void {
    this.rows += rows
    this.bytes += bytes
    if (this.rows > this.maxRows) throw tooManyRows(this.maxRows)
    if (this.bytes > this.maxBytes) throw tooManyBytes(this.maxBytes)
  }

  /** Charges rows that each appear once in the answer. */
  chargeRows(rows: readonly object[]): void {
    let bytes = 0
    for (const row of rows) bytes += jsonSize(row)
    this.charge(rows.length, bytes)
  }

  /** The charges so far, to return to if the query that follows fails. */
  mark(): readonly [number, number] {
    return [this.rows, this.bytes]
  }

  reset([rows, bytes]: readonly [number, number]): void {
    this.rows = rows
    this.bytes = bytes
  }
}

export function tooManyRows(max: number): ExecutorError {
  return new ExecutorError('LIMIT_EXCEEDED', `the answer would hold more than ${max} rows (related rows count once per parent); narrow the query or limit its relations`)
}

export function tooManyBytes(max: number): ExecutorError {
  return new ExecutorError('LIMIT_EXCEEDED', `the answer would be larger than ${max} bytes; narrow the query`)
}

/** Refuses an encoded answer over `max` bytes (UTF-8), counting only when it could be. */
export function assertAnswerSize(text: string, max: number): void {
  // A UTF-16 unit is at most 3 bytes of UTF-8.
  if (text.length * 3 <= max) return
  if (text.length > max || Buffer.byteLength(text, 'utf8') > max) throw tooManyBytes(max)
}

function integerDigits(value: number): number {
  let digits = value < 0 ? 2 : 1
  for (let n = Math.abs(value); n >= 10; n = Math.floor(n / 10)) digits++
  return digits
}

/** Printable ASCII but `"` and `\\`: one byte each in the JSON text. */
const PLAIN_TEXT = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/

/** A string's bytes in JSON text: escapes for `"`, `\\` and control characters, UTF-8 for the rest. */
function stringSize(value: string): number {
  let bytes = 2
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i)
    if (code < 0x20) bytes += code === 0x08 || code === 0x09 || code === 0x0a || code === 0x0c || code === 0x0d ? 2 : 6
    else if (code === 0x22 || code === 0x5c) bytes += 2
    else if (code < 0x80) bytes += 1
    else if (code < 0x800) bytes += 2
    else if (code >= 0xd800 && code <= 0xdbff) {
      bytes += 4
      i++
    } else bytes += 3
  }
  return bytes
}

/**
 * Measures the rows of one statement. Every row of a statement has the same keys: their
 * part is counted once.
 */
export function rowMeasure(): (row: Readonly<Record<string, unknown>>) => number {
  let names: string[] | undefined
  let base = 2
  return (row) => {
    if (names === undefined) {
      names = Object.keys(row)
      for (const name of names) base += name.length + 4
    }
    let size = base
    for (let i = 0; i < names.length; i++) size += jsonSize(row[names[i]!])
    return size
  }
}

/** Room for a superjson annotation (`"key":["Date"]` and its path). */
const ANNOTATION = 16

/**
 * About how many bytes `value` takes in the answer's JSON: exact for strings and numbers,
 * a fixed allowance for Dates and bigints (with their annotations).
 */
export function jsonSize(value: unknown): number {
  switch (typeof value) {
    case 'string':
      return PLAIN_TEXT.test(value) ? value.length + 2 : stringSize(value)
    case 'number':
      return Number.isSafeInteger(value) ? integerDigits(value) : String(value).length
    case 'boolean':
      return 5
    case 'bigint':
      return 21 + ANNOTATION
    case 'undefined':
      return 4 + ANNOTATION
    case 'object': {
      if (value === null) return 4
      if (value instanceof Date) return 26 + ANNOTATION
      let size = 2
      if (Array.isArray(value)) {
        for (const item of value) size += jsonSize(item) + 1
        return size
      }
      const record = value as Record<string, unknown>
      for (const key in record) size += key.length + 4 + jsonSize(record[key])
      return size
    }
    default:
      return 4
  }
}
