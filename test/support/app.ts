import type { TestContext } from 'node:test'
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyUsers, { memoryStore, type FastifyUsersOptions } from '../../index.js'

export const ISSUER = 'http://localhost:3000'

export type BuildOptions = Partial<FastifyUsersOptions> & {
  /** Registers routes of the app under test after the plugin, as an app would. */
  routes?: (app: FastifyInstance) => void | Promise<void>
}

/** The app as production builds it, closed when the test ends. */
export async function build (t: TestContext, options: BuildOptions = {}): Promise<FastifyInstance> {
  const { routes, ...pluginOptions } = options
  const app = Fastify()
  t.after(() => app.close())
  await app.register(fastifyUsers, {
    issuer: ISSUER,
    store: memoryStore(),
    scopes: { 'items:read': 'Read items', 'items:write': 'Write items' },
    docs: { path: '/docs' },
    ...pluginOptions,
    // Refusals answered at once, so that tests that meet a limit do not wait a second for each.
    rateLimit: pluginOptions.rateLimit === false ? false : { refusalDelay: 0, ...pluginOptions.rateLimit }
  })
  await routes?.(app)
  await app.ready()
  return app
}

export const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString()

export const FORM = { 'content-type': 'application/x-www-form-urlencoded' }

export async function register (app: FastifyInstance, email: string, password = 'correct horse battery') {
  const res = await app.inject({ method: 'POST', url: '/auth/register', payload: { email, password } })
  if (res.statusCode !== 201) throw new Error(`register failed: ${res.statusCode} ${res.body}`)
  return res.json<{ id: string, email: string }>()
}

export async function passwordToken (app: FastifyInstance, email: string, password = 'correct horse battery', scope?: string) {
  const fields: Record<string, string> = { grant_type: 'password', username: email, password, client_id: 'swagger-ui' }
  if (scope !== undefined) fields.scope = scope
  const res = await app.inject({ method: 'POST', url: '/oauth/token', headers: FORM, payload: form(fields) })
  if (res.statusCode !== 200) throw new Error(`token failed: ${res.statusCode} ${res.body}`)
  return res.json<{ access_token: string, scope: string, expires_in: number, token_type: string }>()
}
