/**
 * objection's relation expression strings (`'[posts(published).[tags, comments], org]'`),
 * parsed on the client into the object form: the executor only ever receives validated
 * graph nodes. Modifiers in parentheses are called without arguments (the API must list
 * them); recursion (`^`), wildcards (`*`) and aliases are not supported.
 */
export interface RelationTree {
  [relation: string]: true | RelationTree | ModifiedRelation
}

/** A relation with modifiers: a `withGraphFetched` callback that applies them. */
export type ModifiedRelation = (q: Modifiable) => Modifiable

interface Modifiable {
  modify(name: string): Modifiable
  withGraphFetched(tree: RelationTree): Modifiable
}

export function parseRelationExpression(expression: string): RelationTree {
  let position = 0
  const fail = (what: string): never => {
    throw new TypeError(`relation expression "${expression}": ${what} at position ${position}`)
  }
  const skipSpace = () => {
    while (position < expression.length && /\s/.test(expression[position]!)) position++
  }
  const name = (): string => {
    skipSpace()
    const match = /^[A-Za-z_$][A-Za-z0-9_$]*/.exec(expression.slice(position))
    if (!match) return fail('expected a relation name')
    if (match[0] === '__proto__' || match[0] === 'constructor' || match[0] === 'prototype') fail('forbidden name')
    position += match[0].length
    return match[0]
  }
  const modifiers = (): string[] => {
    const names: string[] = []
    if (expression[position] !== '(') return names
    position++
    do names.push(name())
    while ((skipSpace(), expression[position] === ',') && ++position)
    if (expression[position] !== ')') fail('expected ")"')
    position++
    skipSpace()
    return names
  }
  const item = (into: RelationTree): void => {
    const relation = name()
    skipSpace()
    const modify = modifiers()
    let child: true | RelationTree = true
    if (expression[position] === '.') {
      position++
      child = list()
    }
    if (modify.length > 0) {
      const nested = child
      into[relation] = (q) => {
        let built = modify.reduce((r, modifier) => r.modify(modifier), q)
        if (nested !== true) built = built.withGraphFetched(nested)
        return built
      }
      return
    }
    const existing = into[relation]
    into[relation] =
      existing && typeof existing === 'object' && child !== true ? merge(existing, child) : child === true && existing ? existing : child
  }
  const list = (): RelationTree => {
    skipSpace()
    const tree: RelationTree = {}
    if (expression[position] !== '[') {
      item(tree)
      return tree
    }
    position++
    do {
      item(tree)
      skipSpace()
    } while (expression[position] === ',' && ++position)
    if (expression[position] !== ']') fail('expected "]"')
    position++
    return tree
  }
  const tree = list()
  skipSpace()
  if (position < expression.length) fail('unexpected text')
  return tree
}

function merge(a: RelationTree, b: RelationTree): RelationTree {
  const out: RelationTree = { ...a }
  for (const key of Object.keys(b)) {
    const left = out[key]
    const right = b[key]!
    out[key] = left && typeof left === 'object' && typeof right === 'object' ? merge(left, right) : right === true && left ? left : right
  }
  return out
}
