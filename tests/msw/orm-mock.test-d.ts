/**
 * `createOrmMock` types `as` from the context the API's policies read (checked by the
 * compiler: each `@ts-expect-error` must fail to compile).
 */
import { describe, expectTypeOf, it } from 'vitest'
import type { ContextOf } from '../../executor/index.js'
import { createOrmMock } from '../../msw/index.js'
import { api as quickstart, type Ctx } from '../../examples/quickstart/api.js'
import { migrate } from '../../examples/quickstart/migrations.js'
import { api as objectionApp, type AppCtx } from '../../examples/objection-app/api.js'
import { Tag } from '../../examples/demo/models.js'
import type { expose } from '../../executor/index.js'

const url = 'http://types.test/orm'

describe('createOrmMock’s `as`', () => {
  it('is the context the policies read', () => {
    expectTypeOf<ContextOf<typeof quickstart>>().toEqualTypeOf<Ctx>()
    void createOrmMock({ url, api: quickstart, migrate, as: { userId: 1, orgId: 1 } })
    void createOrmMock({ url, api: quickstart, migrate, as: null })
    // @ts-expect-error -- the User policy reads ctx.orgId
    void createOrmMock({ url, api: quickstart, migrate, as: { userId: 1 } })
    // @ts-expect-error -- orgId is a number
    void createOrmMock({ url, api: quickstart, migrate, as: { userId: 1, orgId: '1' } })
  })

  it('takes the policies’ contexts together when models declare different ones', () => {
    type Both = ContextOf<{ A: { '~ctx'?: (ctx: { userId: number }) => void }; B: { '~ctx'?: (ctx: { orgId: number }) => void } }>
    expectTypeOf<Both>().toEqualTypeOf<{ userId: number } & { orgId: number }>()
  })

  it('keeps `null` where the policies take it, and is anything where no policy declares its context', () => {
    expectTypeOf<ContextOf<typeof objectionApp>>().toEqualTypeOf<AppCtx | null>()
    expectTypeOf<ContextOf<{ Tag: ReturnType<typeof expose<typeof Tag>> }>>().toBeUnknown()
  })
})
