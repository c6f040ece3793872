/** AWS Lambda (API Gateway v1/v2, function URLs, ALB): the whole executor is one handler. */
import { createExecutor } from 'async-orm/executor'
import { toLambdaHandler } from 'async-orm/executor/lambda'
import knexFactory from 'knex'
import { api } from './api.js'
import { auth } from './auth.js'
import { procedures } from './procedures.js'

// Module scope, so warm invocations reuse the pool: small, short-lived, behind a pooler.
const knex = knexFactory({ client: 'pg', connection: process.env.DATABASE_URL, pool: { min: 0, max: 2, idleTimeoutMillis: 5000 } })

export const handler = toLambdaHandler(createExecutor({ knex, api, auth, procedures }))
