import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import fastifyUsers, { memoryStore, mongoStore, StoreUnavailableError } from '../index.js'
import { build, FORM, form, ISSUER, register } from './support/app.js'
import { assertOAuthError, authorizeCode, exchange, PASSWORD, refresh } from './support/oauth.js'
import { startMongoWireServer, type MongoWireServer } from './support/mongo-wire-server.js'

// MongoDB goes away in the middle of the flows and comes back: clients get 503 with
// Retry-After meanwhile, nothing is half-written, and the same requests succeed afterwards
// without restarting the app.

let server: MongoWireServer
before(async () => { server = await startMongoWireServer() })
after(async () => { await server.close() })

async function app (): Promise<FastifyInstance> {
  const instance = Fastify()
  // A short server selection, so that an outage is answered in a second rather than thirty.
  const url = `${server.url}&serverSelectionTimeoutMS=1000`
  await instance.register(fastifyUsers, { issuer: ISSUER, store: mongoStore({ url, dbName: `outage_${randomUUID().replace(/-/g, '')}` }), docs: { path: '/docs' }, scopes: { 'items:read': 'Read items' } })
  await instance.ready()
  return instance
}

function assertUnavailable (res: LightMyRequestResponse, oauth: boolean, context: string) {
  assert.equal(res.statusCode, 503, `${context}: ${res.statusCode} ${res.body}`)
  assert.equal(res.headers['retry-after'], '5', context)
  if (oauth) assert.deepEqual(res.json(), { error: 'temporarily_unavailable', error_description: 'The user store is unavailable for a moment; try again shortly' }, context)
  else assert.equal(res.json().code, 'STORE_UNAVAILABLE', context)
}

test('MongoDB away mid-flow: 503 with Retry-After, nothing half-written; back: the same requests succeed, no restart', async (t) => {
  const a = await app()
  t.after(() => a.close())
  await a.users.manager.register({ email: 'ada@example.com', password: PASSWORD })
  const tokenRes = await a.inject({ method: 'POST', url: '/oauth/token', headers: FORM, payload: form({ grant_type: 'password', client_id: 'swagger-ui', username: 'ada@example.com', password: PASSWORD }) })
  const headers = { authorization: `Bearer ${tokenRes.json().access_token as string}` }
  const refreshToken = (await exchange(a, await authorizeCode(a))).json().refresh_token as string
  const code = await authorizeCode(a)

  assert.deepEqual(await a.users.ready(), { store: 'up' })
  await server.interrupt()
  assert.deepEqual(await a.users.ready(), { store: 'down' })
  const register = () => a.inject({ method: 'POST', url: '/auth/register', payload: { email: 'bob@example.com', password: PASSWORD } })
  assertUnavailable(await register(), false, 'register')
  assertUnavailable(await a.inject({ url: '/users/me', headers }), false, 'guarded request')
  assertUnavailable(await refresh(a, refreshToken), true, 'refresh')
  assertUnavailable(await exchange(a, code), true, 'code exchange')
  assertUnavailable(await a.inject({ method: 'POST', url: '/oauth/token', headers: FORM, payload: form({ grant_type: 'password', client_id: 'swagger-ui', username: 'ada@example.com', password: PASSWORD }) }), true, 'password grant')

  await server.resume()
  assert.deepEqual(await a.users.ready(), { store: 'up' })
  // The same requests, as a client retrying after Retry-After would send them.
  const registered = await register()
  assert.equal(registered.statusCode, 201, `register after: ${registered.body}`)
  assert.equal((await a.inject({ url: '/users/me', headers })).statusCode, 200)
  const refreshed = await refresh(a, refreshToken)
  assert.equal(refreshed.statusCode, 200, `the refresh token was not spent by the failed attempt: ${refreshed.body}`)
  const exchanged = await exchange(a, code)
  assert.equal(exchanged.statusCode, 200, `the code was not spent by the failed attempt: ${exchanged.body}`)
})

for (const failing of ['createGrant', 'consumeGrant'] as const) {
  test(`the store gone at ${failing} during an exchange: the code or refresh token is not spent, and the retry succeeds`, async (t) => {
    // An exchange writes the new refresh token, then spends what was presented; the store fails
    // once at one of those writes, as when MongoDB goes away in the middle of the exchange.
    const store = memoryStore()
    let failNext = false
    const original = store[failing].bind(store) as (...args: unknown[]) => Promise<unknown>
    ;(store as unknown as Record<string, unknown>)[failing] = async (...args: unknown[]) => {
      // Codes are created by /oauth/authorize, before the exchange: only refresh tokens count there.
      const duringExchange = failing === 'consumeGrant' || (args[0] as { kind: string }).kind === 'refresh_token'
      if (failNext && duringExchange) {
        failNext = false
        throw new StoreUnavailableError()
      }
      return original(...args)
    }
    const a = await build(t, { store })
    await register(a, 'ada@example.com')

    const code = await authorizeCode(a)
    failNext = true
    assertUnavailable(await exchange(a, code), true, 'code exchange')
    const tokens = await exchange(a, code)
    assert.equal(tokens.statusCode, 200, `the code was not spent: ${tokens.body}`)
    assertOAuthError(await exchange(a, code), 'invalid_grant')

    const first = (await exchange(a, await authorizeCode(a))).json().refresh_token as string
    failNext = true
    assertUnavailable(await refresh(a, first), true, 'refresh')
    const second = await refresh(a, first)
    assert.equal(second.statusCode, 200, `the refresh token was not spent: ${second.body}`)
    // Rotation holds: the old one is spent now, and the family lives on with the new one.
    assertOAuthError(await refresh(a, first), 'invalid_grant')
  })
}
