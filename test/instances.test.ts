import { after, before, test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyUsers, { mongoStore } from '../index.js'
import { FORM, form, ISSUER } from './support/app.js'
import { authorizeCode, Browser, exchange, PASSWORD, redirectParams, refresh, SWAGGER_REDIRECT, authorizePath, pkce, assertOAuthError } from './support/oauth.js'
import { startMongoWireServer, type MongoWireServer } from './support/mongo-wire-server.js'

// Two instances of the app on one store, each with its own connection, as two processes
// behind a load balancer would be: they must behave as one server.

let server: MongoWireServer
before(async () => { server = await startMongoWireServer() })
after(async () => { await server.close() })

/** Instances A and B on a fresh database of the wire server. */
async function twoInstances (t: TestContext): Promise<[FastifyInstance, FastifyInstance]> {
  const dbName = `fastify_users_instances_${randomUUID().replace(/-/g, '')}`
  const start = async () => {
    const app = Fastify()
    t.after(() => app.close())
    await app.register(fastifyUsers, { issuer: ISSUER, store: mongoStore({ url: server.url, dbName }), docs: { path: '/docs' }, scopes: { 'items:read': 'Read items' } })
    await app.ready()
    return app
  }
  const a = await start()
  const b = await start()
  await a.users.manager.register({ email: 'ada@example.com', password: PASSWORD })
  return [a, b]
}

const passwordToken = async (app: FastifyInstance) => {
  const res = await app.inject({ method: 'POST', url: '/oauth/token', headers: FORM, payload: form({ grant_type: 'password', client_id: 'swagger-ui', username: 'ada@example.com', password: PASSWORD }) })
  assert.equal(res.statusCode, 200, res.body)
  return res.json().access_token as string
}

const me = (app: FastifyInstance, token: string) => app.inject({ url: '/users/me', headers: { authorization: `Bearer ${token}` } })

test('a token from A works on B, and B publishes the same keys', async (t) => {
  const [a, b] = await twoInstances(t)
  const token = await passwordToken(a)
  assert.equal((await me(b, token)).statusCode, 200)
  assert.deepEqual((await b.inject('/.well-known/jwks.json')).json(), (await a.inject('/.well-known/jwks.json')).json())
})

test('a refresh race across A and B has one winner, and the family is revoked', async (t) => {
  const [a, b] = await twoInstances(t)
  const tokens = (await exchange(a, await authorizeCode(a))).json()
  const results = await Promise.all(Array.from({ length: 10 }, (_, i) => refresh(i % 2 === 0 ? a : b, tokens.refresh_token)))
  const winners = results.filter((r) => r.statusCode === 200)
  assert.equal(winners.length, 1, results.map((r) => r.statusCode).join(','))
  for (const r of results) if (r.statusCode !== 200) assertOAuthError(r, 'invalid_grant')
  // The winner's new refresh token belongs to the revoked family: useless on either instance.
  assertOAuthError(await refresh(b, (winners[0]?.json() as { refresh_token: string }).refresh_token), 'invalid_grant')
})

test('a key rotated on A signs tokens that B verifies', async (t) => {
  const [a, b] = await twoInstances(t)
  const before = await passwordToken(a)
  const kid = await a.users.keys.rotate()
  const after = await passwordToken(a)
  assert.equal(JSON.parse(Buffer.from(after.split('.')[0] as string, 'base64url').toString()).kid, kid)
  assert.equal((await me(b, after)).statusCode, 200, 'B learns the new key from the store')
  assert.equal((await me(b, before)).statusCode, 200, 'the old key still verifies')
  assert.ok((await b.inject('/.well-known/jwks.json')).json().keys.some((k: { kid: string }) => k.kid === kid))
})

test('a logout on A ends the browser session on B', async (t) => {
  const [a, b] = await twoInstances(t)
  const signedIn = await authorizeCode(a)
  const onB = new Browser(b)
  for (const [name, value] of signedIn.browser.cookies) onB.cookies.set(name, value)
  const silent = () => authorizePath({ response_type: 'code', client_id: 'swagger-ui', redirect_uri: SWAGGER_REDIRECT, prompt: 'none', state: 's', code_challenge: pkce().challenge, code_challenge_method: 'S256' })
  assert.ok(redirectParams(await onB.get(silent()), SWAGGER_REDIRECT).get('code'), 'B knows the session')

  const logout = await a.inject({ method: 'POST', url: '/auth/logout', headers: signedIn.browser.headers() })
  assert.equal(logout.statusCode, 204)
  assert.equal(redirectParams(await onB.get(silent()), SWAGGER_REDIRECT).get('error'), 'login_required', 'B no longer knows it')
})
