/**
 * `createClient<typeof api>({ url })`: one handle per exposed model, typed from the API
 * definition. The model names exist only in types, so handles are made on first use.
 */
import { DjangoQuerySet } from './django.js'
import { QuerySet } from './queryset.js'
import { initialState } from './query-state.js'
import { Transport, type ClientOptions } from './transport.js'
import type { ModelName } from './types.js'

export interface ModelHandle<Api, K extends ModelName<Api>> {
  /** A new, empty queryset over the model (objection's `Model.query()`). */
  query(): QuerySet<Api, K>
  /** The Django-style manager: `objects.filter({...}).orderBy('-id').slice(0, 5)`. */
  readonly objects: DjangoQuerySet<Api, K>
}

export type Client<Api> = { readonly [K in ModelName<Api>]: ModelHandle<Api, K> }

export function createClient<Api>(options: ClientOptions): Client<Api> {
  if (typeof options?.url !== 'string' || options.url === '') throw new TypeError('createClient() needs a url')
  const transport = new Transport(options)
  const run = (query: Parameters<Transport['send']>[0], signal?: AbortSignal) => transport.send(query, signal)
  const handles = new Map<string, ModelHandle<Api, never>>()
  return new Proxy({} as Client<Api>, {
    get(_target, name) {
      // Not a thenable, and no symbol or inherited key becomes a model name.
      if (typeof name !== 'string' || name === 'then' || name in Object.prototype) return undefined
      let handle = handles.get(name)
      if (!handle) {
        const query = () => new QuerySet(initialState(name), run) as QuerySet<Api, never>
        handle = { query, objects: new DjangoQuerySet(name as never, query()) }
        handles.set(name, handle)
      }
      return handle
    },
  })
}
