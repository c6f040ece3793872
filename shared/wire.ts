/**
 * The wire module: it alone owns the document format and the protocol version
 * (STYLE.md #4).
 *
 * Requests and responses are superjson documents (`{ json, meta }`). The client writes and
 * reads them with a `SuperJSON` instance (the app's, with its custom types). The executor
 * reads untrusted requests with `decodeRequestText`, which checks the document before
 * anything is built from it — depth, node count, poisonous keys, annotation paths that
 * must resolve through the document's own properties — and accepts `Date`, `bigint`,
 * `undefined` and the instance's registered custom types, nothing else; referential
 * equalities superjson records for shared objects are checked and left out (the document
 * holds a copy at every place). The executor writes answers with its own encoder of
 * superjson's format (`encodeOwned`): on large results it is an order of magnitude faster
 * than superjson's walk, which keeps an identity map of every value; values of the
 * registered custom types go through the instance. Tests keep its output identical to
 * what superjson reads.
 */
import type { ApiDescription } from './api-description.js'
import type { ErrorCode, WireError } from './error-codes.js'
import type { Query } from './query-ast.js'

export const PROTOCOL_VERSION = 1

/**
 * What the protocol needs of a SuperJSON instance: `new SuperJSON()` with the app's
 * `registerCustom(…)` calls, or the `SuperJSON` class itself (its static methods use
 * superjson's default instance).
 */
export interface SuperJSONCodec {
  stringify(value: any): string
  parse<T = unknown>(text: string): T
}

/** An app's custom types, as its SuperJSON instance registers them (`registerCustom`). */
export interface CustomTypes {
  /** The registered type of `value` (a non-plain object), as its name and JSON form; `undefined` for any other value. */
  encode(value: object): readonly [name: string, json: unknown] | undefined
  /** A value of the registered type `name` from its JSON form; `undefined` when no type has that name. */
  decode(name: string, json: unknown): { readonly value: unknown } | undefined
}

interface Transformer {
  readonly name: string
  isApplicable(value: unknown): boolean
  serialize(value: unknown): unknown
  deserialize(json: unknown): unknown
}

interface TransformerRegistry {
  findApplicable(value: unknown): Transformer | undefined
  findByName(name: string): Transformer | undefined
}

const customTypesCache = new WeakMap<object, CustomTypes | undefined>()

/** The custom types registered on `codec` (on superjson's default instance for the class itself). */
export function customTypesOf(codec: SuperJSONCodec): CustomTypes | undefined {
  if (customTypesCache.has(codec)) return customTypesCache.get(codec)
  const holder = codec as { customTransformerRegistry?: TransformerRegistry; defaultInstance?: { customTransformerRegistry?: TransformerRegistry } }
  const registry = holder.customTransformerRegistry ?? holder.defaultInstance?.customTransformerRegistry
  const types: CustomTypes | undefined = registry && {
    encode(value) {
      const transformer = registry.findApplicable(value)
      return transformer ? [transformer.name, transformer.serialize(value)] : undefined
    },
    decode(name, json) {
      const transformer = registry.findByName(name)
      // The registry is a plain object: only a transformer registered under this very name counts.
      if (transformer === null || typeof transformer !== 'object' || transformer.name !== name || typeof transformer.deserialize !== 'function') return undefined
      return { value: transformer.deserialize(json) }
    },
  }
  customTypesCache.set(codec, types)
  return types
}

export interface RequestBody {
  readonly v: number
  readonly queries: readonly Query[]
  /** All queries in one transaction: all applied, or none. */
  readonly atomic?: boolean
  /** Answer the API's description too (`api`); only in a request without writes, whose `queries` may then be empty. */
  readonly describe?: boolean
}

export type QueryResult = { readonly data: unknown } | { readonly error: WireError }

export interface ResponseBody {
  readonly results: readonly QueryResult[]
  /** In an atomic request that was rolled back: the position of the query that failed. */
  readonly failed?: number
  /** The API as the caller may see it, when the request asked (`describe: true`) and the executor describes it. */
  readonly api?: ApiDescription
}

/** A whole-request failure: the HTTP status comes from `ERROR_STATUS`. */
export interface ErrorBody {
  readonly error: WireError
}

/**
 * Writes a superjson document: Dates, bigints, `undefined` and non-finite numbers
 * annotated, nothing shared. Annotations are written as superjson's nested tree
 * (`{ results: { 0: { data: { 7: { createdAt: ['Date'] } } } } }`), which costs one short
 * key per level instead of one full path per value: on large results that is most of
 * the encoding time and a third of the size. (Requests may carry only the first three
 * annotations: the executor refuses the rest.)
 */
export function encode(value: unknown, custom?: CustomTypes): string {
  return toDocument(new Encoder(false, custom), value)
}

/** A request document (the same format, typed), its annotations as flat paths. */
export function encodeRequest(body: RequestBody): string {
  const encoder = new Encoder(false, undefined)
  const json = encoder.walk(body)
  const tree = encoder.note
  if (tree === undefined) return JSON.stringify({ json })
  const values: Record<string, Annotation> = {}
  flatten(tree as AnnotationTree, '', values)
  return JSON.stringify({ json, meta: { values, v: 1 } })
}

/** `['Date']`, or, for a custom type, `[['custom', name]]` (superjson's forms). */
type Annotation = readonly [string] | readonly [readonly ['custom', string]]
interface AnnotationTree {
  [key: string]: AnnotationTree | Annotation
}

const DATE: Annotation = ['Date']
const BIGINT: Annotation = ['bigint']
const UNDEFINED: Annotation = ['undefined']
const NUMBER: Annotation = ['number']

/**
 * `encode` for a value the caller owns and drops afterwards (the executor's freshly read
 * rows): its objects and arrays are converted in place instead of copied, which halves
 * what a large answer allocates. An object reached twice (a row several parents share)
 * is converted once and keeps its annotations.
 */
export function encodeOwned(value: unknown, custom?: CustomTypes): string {
  return toDocument(new Encoder(true, custom), value)
}

/** `value` as a superjson document, its annotations as a nested tree. */
function toDocument(encoder: Encoder, value: unknown): string {
  const json = encoder.walk(value)
  const values = encoder.note
  return JSON.stringify(values === undefined ? { json } : { json, meta: { values, v: 1 } })
}

/** Converts a value to JSON-safe form in one pass, noting the annotations it needs. */
class Encoder {
  /** After `walk`: the walked value's own annotation, the tree of its children's, or none. */
  note: Annotation | AnnotationTree | undefined
  /** In place: the objects converted so far, with their notes. */
  private readonly converted: Map<object, AnnotationTree | undefined> | undefined

  constructor(
    inPlace: boolean,
    private readonly custom: CustomTypes | undefined,
  ) {
    this.converted = inPlace ? new Map() : undefined
  }

  walk(item: unknown): unknown {
    this.note = undefined
    switch (typeof item) {
      case 'string':
      case 'boolean':
        return item
      case 'number':
        // float8 columns can hold NaN, ±Infinity and -0, which JSON cannot.
        if (Number.isFinite(item) && (item !== 0 || 1 / item > 0)) return item
        this.note = NUMBER
        return item === 0 ? '-0' : String(item)
      case 'bigint':
        this.note = BIGINT
        return item.toString()
      case 'undefined':
        this.note = UNDEFINED
        return null
      case 'object': {
        if (item === null) return null
        if (item instanceof Date) {
          this.note = DATE
          return Number.isNaN(item.getTime()) ? 'Invalid Date' : item.toISOString()
        }
        if (this.custom && !Array.isArray(item)) {
          // Rows are plain objects: only other objects can be of a registered type.
          const prototype = Object.getPrototypeOf(item) as unknown
          if (prototype !== Object.prototype && prototype !== null) {
            const found = this.custom.encode(item)
            if (found) {
              this.note = [['custom', found[0]]]
              return found[1]
            }
          }
        }
        const converted = this.converted
        if (converted?.has(item)) {
          this.note = converted.get(item)
          return item
        }
        let tree: AnnotationTree | undefined
        if (Array.isArray(item)) {
          const out = converted ? (item as unknown[]) : new Array<unknown>(item.length)
          for (let i = 0; i < item.length; i++) {
            out[i] = this.walk(item[i])
            if (this.note !== undefined) (tree ??= {})[i] = this.note
          }
          converted?.set(item, tree)
          this.note = tree
          return out
        }
        const out: Record<string, unknown> = converted ? (item as Record<string, unknown>) : {}
        for (const key of Object.keys(item)) {
          const value = this.walk((item as Record<string, unknown>)[key])
          const note = this.note
          // A JSON key "__proto__" is an own property, never the prototype.
          if (key === '__proto__') Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true })
          else out[key] = value
          if (note === undefined) continue
          tree ??= {}
          const escaped = escapeKey(key)
          if (escaped === '__proto__') Object.defineProperty(tree, escaped, { value: note, enumerable: true, writable: true, configurable: true })
          else tree[escaped] = note
        }
        converted?.set(item, tree)
        this.note = tree
        return out
      }
      default:
        return item
    }
  }
}

/** `tree` as superjson's flat form: one escaped path per annotated value. */
function flatten(tree: AnnotationTree | Annotation, prefix: string, out: Record<string, Annotation>): void {
  if (Array.isArray(tree)) {
    out[prefix] = tree as Annotation
    return
  }
  for (const key of Object.keys(tree)) flatten((tree as AnnotationTree)[key]!, prefix === '' ? key : `${prefix}.${key}`, out)
}

function escapeKey(key: string): string {
  // Most keys need no escaping; skip the regular expressions for them (hot on large results).
  if (!key.includes('.') && !key.includes('\\')) return key
  return key.replace(/\\/g, '\\\\').replace(/\./g, '\\.')
}

/**
 * Reads a document from a trusted peer (the client reading its executor's answer). It
 * understands what superjson itself writes for these values, referential equalities
 * included, and refuses other annotations.
 */
export function decode<T>(text: string, custom?: CustomTypes): T {
  const document = JSON.parse(text) as { json: unknown; meta?: { values?: unknown; referentialEqualities?: unknown } }
  let json = document.json
  const meta = document.meta
  if (!meta) return json as T
  const revive = (value: unknown, type: unknown): unknown => {
    if (Array.isArray(type) && type[0] === 'custom' && typeof type[1] === 'string') {
      const found = custom?.decode(type[1], value)
      if (!found) throw new WireFormatError('INTERNAL', `unknown custom type ${type[1]}`)
      return found.value
    }
    switch (type) {
      case 'Date':
        return new Date(value as string)
      case 'bigint':
        return BigInt(value as string)
      case 'undefined':
        return undefined
      case 'number':
        return Number(value)
      default:
        throw new WireFormatError('INTERNAL', `unsupported annotation ${String(type)}`)
    }
  }
  // superjson writes annotations as flat paths or as a nested tree (or both); nodes are
  // `[type]`, `[type, children]` or `{ key: node }`, keys being paths of their own.
  // `holder[key]` is the value a node annotates (`holder` null: the root).
  const visit = (node: unknown, holder: Record<string, unknown> | null, key: string): void => {
    if (Array.isArray(node)) {
      // `[type]` or `[type, children]`; a custom type's `type` is `['custom', name]`.
      const [type, children] = node as [unknown, Record<string, unknown> | undefined]
      if (children) visitChildren(children, holder, key)
      if (holder === null) json = revive(json, type)
      else holder[key] = revive(holder[key], type)
    } else if (node !== null && typeof node === 'object') {
      visitChildren(node as Record<string, unknown>, holder, key)
    }
  }
  const visitChildren = (children: Record<string, unknown>, holder: Record<string, unknown> | null, key: string): void => {
    const value = holder === null ? json : holder[key]
    for (const path of Object.keys(children)) {
      let parent: Record<string, unknown>
      let last: string
      if (path.includes('.') || path.includes('\\') || FORBIDDEN_KEYS.has(path)) {
        const segments = parsePath(path)
        parent = walkTo(value, segments.slice(0, -1))
        last = segments[segments.length - 1]!
      } else {
        // One plain segment (every key of a nested tree, as a rule): no path to parse.
        parent = walkTo(value, NO_SEGMENTS)
        last = path
      }
      if (!Object.hasOwn(parent, last)) throw new WireFormatError('INTERNAL', 'an annotation points outside the document')
      visit(children[path], parent, last)
    }
  }
  if (meta.values !== undefined) visit(meta.values, null, '')
  if (meta.referentialEqualities && typeof meta.referentialEqualities === 'object') {
    for (const [source, targets] of Object.entries(meta.referentialEqualities as Record<string, string[]>)) {
      const from = parsePath(source)
      const value = walkTo(json, from.slice(0, -1))[from[from.length - 1]!]
      for (const target of targets) {
        const to = parsePath(target)
        walkTo(json, to.slice(0, -1))[to[to.length - 1]!] = value
      }
    }
  }
  return json as T
}

const NO_SEGMENTS: readonly string[] = []

function walkTo(root: unknown, segments: readonly string[]): Record<string, unknown> {
  let node = root as Record<string, unknown>
  for (const segment of segments) {
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, segment)) {
      throw new WireFormatError('INTERNAL', 'an annotation points outside the document')
    }
    node = node[segment] as Record<string, unknown>
  }
  if (node === null || typeof node !== 'object') throw new WireFormatError('INTERNAL', 'an annotation points outside the document')
  return node
}

/** Thrown by `decodeRequestText` on any malformed or hostile document. */
export class WireFormatError extends Error {
  override readonly name = 'WireFormatError'
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message)
  }
}

export interface DecodeLimits {
  /** Deepest nesting of arrays and objects. */
  readonly maxDepth: number
  /** Most arrays, objects and values in the document, annotations included. */
  readonly maxNodes: number
  /** Longest string a custom type's JSON form may be (default: no bound here). */
  readonly maxStringLength?: number
}

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype'])
const ANNOTATIONS = new Set(['Date', 'bigint', 'undefined', 'number'])
/** The one number JSON cannot hold that a request may carry (superjson writes it for a computed -0); NaN and ±Infinity are refused. */
const SPECIAL_NUMBERS = new Set(['-0'])

/**
 * Decodes an untrusted request document. Throws `WireFormatError` (`BAD_REQUEST` or
 * `LIMIT_EXCEEDED`) and never returns a value holding a forbidden key.
 */
export function decodeRequestText(text: string, limits: DecodeLimits, custom?: CustomTypes): unknown {
  prescan(text, limits)
  let document: unknown
  try {
    document = JSON.parse(text)
  } catch {
    throw new WireFormatError('BAD_REQUEST', 'request body is not valid JSON')
  }
  if (!isPlainRecord(document)) throw bad('request body must be a superjson document { json, meta }')
  for (const key of Object.keys(document)) {
    if (key !== 'json' && key !== 'meta') throw bad(`unexpected key "${clip(key)}" in the request document`)
  }
  const nodes = checkTree(document.json, limits)
  if (document.meta !== undefined) return applyAnnotations(document.json, document.meta, limits.maxNodes - nodes, limits, custom)
  return document.json
}

/**
 * Nesting and size, read off the text before `JSON.parse` builds anything: parsing a
 * megabyte of `[[[[…` costs far more than counting it. Generous bounds (the document and
 * its annotations wrap the query), checked exactly after parsing.
 */
function prescan(text: string, limits: DecodeLimits): void {
  const maxDepth = limits.maxDepth + 4
  const maxValues = limits.maxNodes * 4 + 16
  let depth = 0
  let values = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++
      else if (c === 0x22) inString = false
      continue
    }
    if (c === 0x22) inString = true
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) throw new WireFormatError('LIMIT_EXCEEDED', `request is nested deeper than ${limits.maxDepth} levels`)
      values++
    } else if (c === 0x5d || c === 0x7d) depth--
    else if (c === 0x2c && ++values > maxValues) {
      throw new WireFormatError('LIMIT_EXCEEDED', `request has more than ${limits.maxNodes} nodes`)
    }
  }
}

function checkTree(root: unknown, limits: DecodeLimits): number {
  let nodes = 0
  const stack: [unknown, number][] = [[root, 1]]
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!
    if (++nodes > limits.maxNodes) {
      throw new WireFormatError('LIMIT_EXCEEDED', `request has more than ${limits.maxNodes} nodes`)
    }
    if (value === null || typeof value !== 'object') continue
    if (depth > limits.maxDepth) {
      throw new WireFormatError('LIMIT_EXCEEDED', `request is nested deeper than ${limits.maxDepth} levels`)
    }
    if (Array.isArray(value)) {
      for (const item of value) stack.push([item, depth + 1])
    } else {
      for (const key of Object.keys(value)) {
        if (FORBIDDEN_KEYS.has(key)) throw bad(`forbidden key "${key}" in the request`)
        stack.push([(value as Record<string, unknown>)[key], depth + 1])
      }
    }
  }
  return nodes
}

/** Applies the annotations of `meta` to `json`; the annotated document (a root annotation replaces the root). */
function applyAnnotations(json: unknown, meta: unknown, budget: number, limits: DecodeLimits, custom: CustomTypes | undefined): unknown {
  if (!isPlainRecord(meta)) throw bad('superjson meta must be an object')
  for (const key of Object.keys(meta)) {
    if (key !== 'values' && key !== 'v' && key !== 'referentialEqualities') throw bad(`unexpected key "${clip(key)}" in superjson meta`)
  }
  let remaining = budget
  if (meta.referentialEqualities !== undefined) remaining = checkEqualities(json, meta.referentialEqualities, remaining, limits.maxDepth)
  if (meta.values === undefined) return json
  if (!isPlainRecord(meta.values)) throw bad('superjson meta.values must map paths to annotations')
  // Flat paths (as superjson writes them) or a nested tree of paths (as it also reads):
  // every node counts against the document's node budget, and nesting against its depth.
  const visit = (node: Record<string, unknown>, prefix: readonly string[], depth: number): void => {
    if (depth > limits.maxDepth) throw new WireFormatError('LIMIT_EXCEEDED', `request is nested deeper than ${limits.maxDepth} levels`)
    for (const key of Object.keys(node)) {
      if (--remaining < 0) throw new WireFormatError('LIMIT_EXCEEDED', 'request has too many type annotations')
      const segments = parsePath(key)
      // A path deeper than the document can be cannot point into it: refuse it before
      // building anything from it (a long dotted key under many children would cost).
      if (prefix.length + segments.length > limits.maxDepth) {
        throw new WireFormatError('LIMIT_EXCEEDED', `an annotation path is deeper than ${limits.maxDepth} levels`)
      }
      const path = [...prefix, ...segments]
      const child = node[key]
      if (isPlainRecord(child)) {
        visit(child, path, depth + 1)
        continue
      }
      const type: unknown = Array.isArray(child) && child.length === 1 ? child[0] : undefined
      if (Array.isArray(type) && type.length === 2 && type[0] === 'custom' && typeof type[1] === 'string') {
        applyCustom(json, path, type[1], custom, limits)
        continue
      }
      if (!Array.isArray(child) || child.length !== 1 || !ANNOTATIONS.has(child[0])) {
        throw bad(`unsupported superjson annotation at "${clip(path.join('.'))}"`)
      }
      applyAnnotation(json, path, child[0] as string)
    }
  }
  visit(meta.values, [], 1)
  return json
}

/**
 * superjson's record of shared objects (`{ 'queries.0.where': ['queries.1.where'] }`):
 * every path must resolve through the document's own properties, and each counts against
 * the node budget. They are not applied: superjson writes every occurrence in full, so
 * the document already holds what they would share, and nothing is expanded or linked.
 */
function checkEqualities(json: unknown, equalities: unknown, budget: number, maxDepth: number): number {
  if (!isPlainRecord(equalities)) throw bad('superjson referential equalities must map a path to the paths sharing its value')
  let remaining = budget
  for (const source of Object.keys(equalities)) {
    const targets = equalities[source]
    if (!Array.isArray(targets) || targets.length === 0) throw bad('superjson referential equalities must map a path to the paths sharing its value')
    for (const path of [source, ...targets]) {
      if (--remaining < 0) throw new WireFormatError('LIMIT_EXCEEDED', 'request has too many type annotations')
      if (typeof path !== 'string') throw bad('a superjson referential equality path must be a string')
      const segments = parsePath(path)
      if (segments.length > maxDepth) throw new WireFormatError('LIMIT_EXCEEDED', `a referential equality path is deeper than ${maxDepth} levels`)
      resolvePath(json, segments)
    }
  }
  return remaining
}

function resolvePath(json: unknown, path: readonly string[]): unknown {
  let node = json
  for (const segment of path) node = ownChild(node, segment)
  return node
}

/** A value of the app's custom type `name`, from the JSON at `path`, by the type's own `deserialize`. */
function applyCustom(json: unknown, path: string[], name: string, custom: CustomTypes | undefined, limits: DecodeLimits): void {
  let parent: unknown = json
  for (let i = 0; i < path.length - 1; i++) parent = ownChild(parent, path[i]!)
  const key = path[path.length - 1]!
  const leaf = ownChild(parent, key)
  if (typeof leaf === 'string' && limits.maxStringLength !== undefined && leaf.length > limits.maxStringLength) {
    throw new WireFormatError('LIMIT_EXCEEDED', `a string is longer than ${limits.maxStringLength} characters`)
  }
  let found: { readonly value: unknown } | undefined
  try {
    found = custom?.decode(name, leaf)
  } catch {
    throw bad(`a value of custom type "${clip(name)}" is malformed`)
  }
  if (!found) throw bad(`unknown custom type "${clip(name)}"`)
  ;(parent as Record<string, unknown>)[key] = found.value
}

function applyAnnotation(json: unknown, path: string[], type: string): void {
  let parent: unknown = json
  for (let i = 0; i < path.length - 1; i++) parent = ownChild(parent, path[i]!)
  const key = path[path.length - 1]!
  const leaf = ownChild(parent, key)
  const target = parent as Record<string, unknown>
  switch (type) {
    case 'Date': {
      if (typeof leaf !== 'string') throw bad('a Date annotation must point at a string')
      target[key] = new Date(leaf)
      return
    }
    case 'bigint': {
      if (typeof leaf !== 'string' || !/^-?\d{1,40}$/.test(leaf)) throw bad('a bigint annotation must point at an integer string')
      target[key] = BigInt(leaf)
      return
    }
    case 'undefined': {
      if (leaf !== null) throw bad('an undefined annotation must point at null')
      target[key] = undefined
      return
    }
    case 'number': {
      if (typeof leaf !== 'string' || !SPECIAL_NUMBERS.has(leaf)) throw bad('numbers must be finite (a number annotation may only stand for -0)')
      target[key] = Number(leaf)
      return
    }
  }
}

function ownChild(parent: unknown, key: string): unknown {
  if (parent === null || typeof parent !== 'object' || !Object.hasOwn(parent, key)) {
    throw bad('a superjson annotation points outside the document')
  }
  if (Array.isArray(parent) && !/^(0|[1-9]\d*)$/.test(key)) throw bad('a superjson annotation has a bad array index')
  return (parent as Record<string, unknown>)[key]
}

/** superjson's path syntax: segments joined by `.`, with `\.` and `\\` as escapes. */
function parsePath(path: string): string[] {
  const segments: string[] = []
  let segment = ''
  for (let i = 0; i < path.length; i++) {
    const char = path[i]
    if (char === '\\') {
      const next = path[i + 1]
      if (next !== '.' && next !== '\\') throw bad('a superjson annotation path is malformed')
      segment += next
      i++
    } else if (char === '.') {
      segments.push(segment)
      segment = ''
    } else {
      segment += char
    }
  }
  segments.push(segment)
  for (const s of segments) if (FORBIDDEN_KEYS.has(s)) throw bad(`forbidden key "${s}" in the request`)
  return segments
}

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function bad(message: string): WireFormatError {
  return new WireFormatError('BAD_REQUEST', message)
}

function clip(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text
}
