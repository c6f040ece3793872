/**
 * The wire module: values survive a round trip, and the untrusted decoder accepts only
 * what the protocol uses.
 */
import { Decimal } from 'decimal.js'
import fc from 'fast-check'
import { SuperJSON } from 'superjson'
import { describe, expect, it } from 'vitest'
import { customTypesOf, decode, decodeRequestText, encode, encodeOwned, encodeRequest, WireFormatError } from '../../shared/wire.js'

const LIMITS = { maxDepth: 40, maxNodes: 5000 }

const ROUND_TRIPS: [string, unknown][] = Object.freeze([
  ['a Date', new Date('2024-02-29T12:34:56.789Z')],
  ['a bigint beyond 2^53', 9_007_199_254_740_993n],
  ['a negative bigint', -42n],
  ['undefined in an object', { a: undefined, b: 1 }],
  ['jsonb-like nested data', { tags: ['a', 'b'], nested: { ok: true, n: null } }],
  ['unicode text', 'Grüße, 世界 🚀'],
  ['a row with every type', { id: 1n, at: new Date(0), meta: { x: [1, 2] }, rating: '4.5', missing: undefined }],
  ['keys with dots and backslashes', { 'a.b': new Date(1), 'c\\d': 2n }],
]) as [string, unknown][]

describe('round trips', () => {
  it.each(ROUND_TRIPS)('keeps %s intact', (_name, value) => {
    expect(decode(encode(value))).toEqual(value)
  })

  it.each(ROUND_TRIPS)('the request decoder reads %s as the client wrote it', (_name, value) => {
    // Flat annotation paths, as superjson itself writes them, and the nested tree.
    expect(decodeRequestText(encodeRequest({ value } as never), LIMITS)).toEqual({ value })
    expect(decodeRequestText(encode({ value }), LIMITS)).toEqual({ value })
  })
})

describe('the untrusted request decoder', () => {
  const reject = (text: string, code = 'BAD_REQUEST') => {
    const error = (() => {
      try {
        decodeRequestText(text, LIMITS)
      } catch (e) {
        return e
      }
      return undefined
    })()
    expect(error).toBeInstanceOf(WireFormatError)
    expect((error as WireFormatError).code).toBe(code)
  }

  it('rejects poisonous keys anywhere in the document', () => {
    reject('{"json":{"__proto__":{"polluted":1}}}')
    reject('{"json":{"a":[{"constructor":{"prototype":{"polluted":1}}}]}}')
    reject('{"json":{"prototype":1}}')
    reject('{"json":{"a":"2024-01-01"},"meta":{"values":{"__proto__":["Date"]}}}')
    reject('{"json":{"a":{"b":"1"}},"meta":{"values":{"a.constructor":["Date"]}}}')
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined()
  })

  it('accepts only Date, bigint and undefined annotations at paths inside the document', () => {
    reject('{"json":{"a":"x"},"meta":{"values":{"a":["regexp"]}}}')
    reject('{"json":{"a":"x"},"meta":{"values":{"a":["class","X"]}}}')
    reject('{"json":{"a":["x"]},"meta":{"values":{"a":["set"]}}}')
    reject('{"json":{"a":"x"},"meta":{"values":{"a":["Date","extra"]}}}')
    reject('{"json":{"a":"x"},"meta":{"values":{"b":["Date"]}}}')
    reject('{"json":{"a":{}},"meta":{"values":{"a.toString":["Date"]}}}')
    reject('{"json":{"a":1},"meta":{"values":{"a":["Date"]}}}')
    reject('{"json":{"a":"1.5"},"meta":{"values":{"a":["bigint"]}}}')
    reject('{"json":{"a":"x"},"meta":{"values":{"a":["undefined"]}}}')
    reject('{"json":["x"],"meta":{"values":{"length":["Date"]}}}')
    reject('{"json":"2024-01-01","meta":{"values":["Date"]}}')
    reject('{"json":{"a":"x"},"meta":{"values":{"a\\\\q":["Date"]}}}')
  })

  it('accepts referential equalities superjson writes for shared objects, without applying them', () => {
    const shared = { kind: 'compare', column: 'id', op: '=', value: 1n }
    const body = { v: 1, queries: [{ model: 'A', op: 'select', where: shared }, { model: 'B', op: 'select', where: shared }] }
    const text = SuperJSON.stringify(body)
    expect(JSON.parse(text).meta.referentialEqualities).toBeDefined()
    const decoded = decodeRequestText(text, LIMITS) as typeof body
    expect(decoded).toEqual(body)
    // Each place holds its own copy: nothing in the decoded request is shared.
    expect(decoded.queries[0]!.where).not.toBe(decoded.queries[1]!.where)
  })

  it('refuses annotation paths deeper than the document can be, before building them', () => {
    const long = Array.from({ length: 200_000 }, () => 'a').join('.')
    const children = Object.fromEntries(Array.from({ length: 4990 }, (_, i) => [`k${i}`, {}]))
    // Before the depth check this one was accepted, after a minute of copying paths.
    reject(JSON.stringify({ json: { v: 1, queries: [] }, meta: { values: { [long]: children } } }), 'LIMIT_EXCEEDED')
    reject(JSON.stringify({ json: { a: {} }, meta: { referentialEqualities: { a: [long] } } }), 'LIMIT_EXCEEDED')
  })

  it('refuses referential equalities that leave the document, poison it, or pass the node budget', () => {
    reject('{"json":{"a":{}},"meta":{"referentialEqualities":{"a":["b"]}}}')
    reject('{"json":{"a":{},"b":{}},"meta":{"referentialEqualities":{"a":["b.__proto__"]}}}')
    reject('{"json":{"a":{},"b":{}},"meta":{"referentialEqualities":{"a":"b"}}}')
    reject('{"json":{"a":{}},"meta":{"referentialEqualities":[["a"]]}}')
    reject('{"json":{"a":{}},"meta":{"referentialEqualities":{"a":[]}}}')
    const many = JSON.stringify({ json: { a: {}, b: {} }, meta: { referentialEqualities: { a: Array.from({ length: 6000 }, () => 'b') } } })
    reject(many, 'LIMIT_EXCEEDED')
  })

  it('refuses unknown document keys', () => {
    reject('{"json":{},"meta":{"other":1}}')
    reject('{"json":{},"extra":1}')
    reject('[1,2]')
    reject('not json')
  })

  it('bounds depth and node count before anything else reads the data', () => {
    const deep = '{"json":' + '['.repeat(50) + ']'.repeat(50) + '}'
    reject(deep, 'LIMIT_EXCEEDED')
    const wide = JSON.stringify({ json: Array.from({ length: 6000 }, () => 0) })
    reject(wide, 'LIMIT_EXCEEDED')
  })
})

describe('request encoding', () => {
  it('writes no referential equalities, even for equal bigints and shared Dates', () => {
    const at = new Date('2024-01-01T00:00:00Z')
    const body = { v: 1, queries: [{ model: 'A', op: 'select', where: { kind: 'in', column: 'id', values: [7n, 7n] } }, { model: 'B', op: 'select', where: { kind: 'between', column: 'at', low: at, high: at } }] }
    const text = encodeRequest(body as never)
    expect(text).not.toContain('referentialEqualities')
    expect(decodeRequestText(text, LIMITS)).toEqual(body)
    expect(decode(text)).toEqual(body)
  })

  it.each(ROUND_TRIPS)('reads back %s as superjson would', (_name, value) => {
    expect(decodeRequestText(encodeRequest({ v: 1, queries: [value] } as never), LIMITS)).toEqual({ v: 1, queries: [value] })
  })
})

describe('compatibility with the superjson library', () => {
  const superjson = new SuperJSON()

  it.each(ROUND_TRIPS)('superjson reads %s as this module writes it', (_name, value) => {
    expect(superjson.parse(encode(value))).toEqual(value)
  })

  it.each(ROUND_TRIPS)('this module reads %s as superjson writes it', (_name, value) => {
    expect(decode(superjson.stringify(value))).toEqual(value)
  })

  it('reads superjson documents with referential equalities, and a Date or bigint at the root', () => {
    const shared = { id: 5n }
    expect(decode(superjson.stringify({ a: shared, b: shared, c: [7n, 7n] }))).toEqual({ a: { id: 5n }, b: { id: 5n }, c: [7n, 7n] })
    expect(decode(encode(new Date(5)))).toEqual(new Date(5))
    expect(superjson.parse(encode(12n))).toBe(12n)
  })
})

describe('non-finite floats (float8 columns hold NaN and ±Infinity)', () => {
  const floats = Object.freeze({ nan: Number.NaN, up: Number.POSITIVE_INFINITY, down: Number.NEGATIVE_INFINITY })

  it('survive a response round trip, readable by superjson too', () => {
    expect(decode(encode(floats))).toEqual(floats)
    expect(new SuperJSON().parse(encode(floats))).toEqual(floats)
    expect(Object.is(decode<{ z: number }>(encode({ z: -0 })).z, -0)).toBe(true)
    expect(Object.is(new SuperJSON().parse<{ z: number }>(encode({ z: -0 })).z, -0)).toBe(true)
  })

  it('are refused in requests, all but -0 (which superjson writes for a computed -0)', () => {
    expect(() => decodeRequestText(encode({ v: 1, queries: [floats] }), LIMITS)).toThrow('numbers must be finite')
    expect(() => decodeRequestText(SuperJSON.stringify({ args: { amount: Infinity } }), LIMITS)).toThrow(WireFormatError)
    expect(Object.is((decodeRequestText(SuperJSON.stringify({ x: -0 }), LIMITS) as { x: number }).x, -0)).toBe(true)
    expect(() => decodeRequestText('{"json":{"a":"1"},"meta":{"values":{"a":["number"]}}}', LIMITS)).toThrow(WireFormatError)
    expect(() => decodeRequestText('{"json":{"a":5},"meta":{"values":{"a":["number"]}}}', LIMITS)).toThrow(WireFormatError)
  })
})

describe('annotation layout', () => {
  it('writes responses as a nested annotation tree and requests as flat paths, both read by superjson', () => {
    const rows = { results: [{ data: [{ id: 1n, at: new Date(0) }, { id: 2n, at: new Date(1) }] }] }
    const response = JSON.parse(encode(rows)) as { meta: { values: unknown } }
    expect(response.meta.values).toEqual({ results: { 0: { data: { 0: { id: ['bigint'], at: ['Date'] }, 1: { id: ['bigint'], at: ['Date'] } } } } })
    expect(SuperJSON.parse(encode(rows))).toEqual(rows)
    const request = JSON.parse(encodeRequest({ v: 1, queries: [{ model: 'Author', op: 'first', where: { kind: 'id', ids: [42n] } }] })) as { meta: { values: unknown } }
    expect(request.meta.values).toEqual({ 'queries.0.where.ids.0': ['bigint'] })
  })

  it('writes a "__proto__" key as an own property in data and in annotations', () => {
    const value = JSON.parse('{"__proto__": null, "x": 1}') as Record<string, unknown>
    Object.defineProperty(value, '__proto__', { value: 5n, enumerable: true })
    const text = encode({ value })
    expect(JSON.parse(text).meta.values).toEqual(JSON.parse('{"value": {"__proto__": ["bigint"]}}'))
    expect(JSON.parse(text).json.value).toEqual(JSON.parse('{"__proto__": "5", "x": 1}'))
    // Reading one back, the client refuses the path rather than touch a prototype.
    expect(() => decode(text)).toThrow(/forbidden key/)
  })

  it('bounds a nested annotation tree like the document, and refuses poisonous keys in it', () => {
    const deep = (n: number): unknown => (n === 0 ? ['bigint'] : { a: deep(n - 1) })
    const nest = (n: number): unknown => (n === 0 ? '1' : { a: nest(n - 1) })
    const tooDeep = JSON.stringify({ json: nest(45), meta: { values: deep(45) } })
    expect(() => decodeRequestText(tooDeep, LIMITS)).toThrow(/nested deeper|more than/)
    const poisoned = JSON.stringify({ json: { a: '1' }, meta: { values: JSON.parse('{"__proto__": {"a": ["bigint"]}}') } })
    expect(() => decodeRequestText(poisoned, LIMITS)).toThrow(/forbidden key/)
    const wide = JSON.stringify({ json: { a: '1' }, meta: { values: { a: Object.fromEntries(Array.from({ length: 6000 }, (_, i) => [String(i), ['bigint']])) } } })
    expect(() => decodeRequestText(wide, LIMITS)).toThrow(WireFormatError)
  })
})

describe('encoding values the caller owns', () => {
  const build = () => {
    const author = { id: 7n, createdAt: new Date('2024-01-02T03:04:05.678Z'), meta: { tags: ['a'] } }
    const rows = [1, 2, 3].map((id) => ({ id, authorId: 7n, author, at: new Date(Date.UTC(2024, 0, id)), none: undefined, ratio: Number.NaN }))
    return { results: [{ data: rows }, { data: { results: rows.slice(0, 1), total: 3 } }, { data: null }] }
  }

  it('writes what encode writes, shared objects included, and superjson reads it the same', () => {
    const text = encodeOwned(build())
    expect(text).toBe(encode(build()))
    expect(decode(text)).toEqual(build())
    expect(SuperJSON.parse(text)).toEqual(build())
  })

  it('converts in place, so the value is spent afterwards', () => {
    const body = build()
    encodeOwned(body)
    expect(typeof (body.results[0]!.data as { id: unknown; authorId: unknown }[])[0]!.authorId).toBe('string')
  })
})

describe('custom types, as the app registers them on its SuperJSON instance', () => {
  const superjson = new SuperJSON()
  superjson.registerCustom<Decimal, string>(
    { isApplicable: (value): value is Decimal => Decimal.isDecimal(value), serialize: (value) => value.toJSON(), deserialize: (text) => new Decimal(text) },
    'decimal.js',
  )
  const custom = customTypesOf(superjson)!
  const reject = (text: string, code = 'BAD_REQUEST') => {
    expect(() => decodeRequestText(text, { ...LIMITS, maxStringLength: 100 }, custom)).toThrow(WireFormatError)
    try {
      decodeRequestText(text, { ...LIMITS, maxStringLength: 100 }, custom)
    } catch (error) {
      expect((error as WireFormatError).code).toBe(code)
    }
  }

  /** Rows as the executor answers them: scalars, Dates, bigints, Decimals, JSON, nested relations. */
  const scalar = fc.oneof(
    fc.string(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.constant(null),
    fc.date({ noInvalidDate: true }),
    fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
    fc.stringMatching(/^-?\d{1,20}(\.\d{1,10})?$/).map((text) => new Decimal(text)),
  )
  const key = fc.stringMatching(/^[a-zA-Z_.\\][a-zA-Z0-9_.\\]{0,8}$/).filter((k) => !['__proto__', 'constructor', 'prototype'].includes(k))
  const row = fc.dictionary(key, fc.oneof(scalar, fc.array(scalar, { maxLength: 3 }), fc.dictionary(key, scalar, { maxKeys: 3 })), { maxKeys: 6 })
  const answer = fc.record({ results: fc.array(fc.record({ data: fc.array(row, { maxLength: 4 }) }), { minLength: 1, maxLength: 3 }) })

  it('writes answers superjson reads as the same values, copying or converting in place', () => {
    fc.assert(
      fc.property(answer, (value) => {
        expect(superjson.parse(encode(value, custom))).toEqual(value)
        expect(superjson.parse(encodeOwned(structuredCloneWithDecimals(value), custom))).toEqual(value)
        expect(decode(encode(value, custom), custom)).toEqual(value)
      }),
      { numRuns: 200 },
    )
  })

  it('reads requests as superjson writes them', () => {
    fc.assert(
      fc.property(answer, (value) => {
        expect(decodeRequestText(superjson.stringify(value), { maxDepth: 40, maxNodes: 100_000 }, custom)).toEqual(value)
      }),
      { numRuns: 200 },
    )
  })

  it('refuses unregistered names, payloads that fail their type, poisonous keys and long payloads', () => {
    reject('{"json":{"a":"1.5"},"meta":{"values":{"a":[["custom","money"]]}}}')
    reject('{"json":{"a":"1.5"},"meta":{"values":{"a":[["custom","__proto__"]]}}}')
    reject('{"json":{"a":"1.5"},"meta":{"values":{"a":[["custom","toString"]]}}}')
    reject('{"json":{"a":"1.5"},"meta":{"values":{"a":[["custom","constructor"]]}}}')
    reject('{"json":{"a":"not a number"},"meta":{"values":{"a":[["custom","decimal.js"]]}}}')
    reject('{"json":{"a":{"__proto__":{"x":1}}},"meta":{"values":{"a":[["custom","decimal.js"]]}}}')
    reject('{"json":{"a":"1.5"},"meta":{"values":{"b":[["custom","decimal.js"]]}}}')
    reject('{"json":{"a":"1.5"},"meta":{"values":{"a":[["custom"]]}}}')
    reject('{"json":{"a":"1.5"},"meta":{"values":{"a":["custom","decimal.js"]}}}')
    reject(JSON.stringify({ json: { a: '1'.repeat(101) }, meta: { values: { a: [['custom', 'decimal.js']] } } }), 'LIMIT_EXCEEDED')
    expect(decodeRequestText('{"json":{"a":"1.5"},"meta":{"values":{"a":[["custom","decimal.js"]]}}}', LIMITS, custom)).toEqual({ a: new Decimal('1.5') })
    // Without the app's instance, no custom type is known.
    expect(() => decodeRequestText('{"json":{"a":"1.5"},"meta":{"values":{"a":[["custom","decimal.js"]]}}}', LIMITS)).toThrow('unknown custom type "decimal.js"')
  })
})

/** A deep copy that keeps Decimals, Dates and bigints as they are (encodeOwned converts its input in place). */
function structuredCloneWithDecimals<T>(value: T): T {
  if (Array.isArray(value)) return value.map(structuredCloneWithDecimals) as T
  if (value !== null && typeof value === 'object' && [Object.prototype, null].includes(Object.getPrototypeOf(value))) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, structuredCloneWithDecimals(v)])) as T
  }
  return value
}
