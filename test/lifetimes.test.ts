import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { hashToken } from '../services/secrets.js'
import { build, form, FORM, register } from './support/app.js'
import { grantsOf } from './support/grants.js'
import { authorizeCode, authorizePath, pkce, redirectParams, SWAGGER_REDIRECT } from './support/oauth.js'

const REDIRECT = 'http://localhost:3000/docs/static/oauth2-redirect.html'
const HOUR = 3600_000

/** The token endpoint's side of a code flow; the code comes from the grant service, as the authorize route issues it. */
async function codeFlowTokens (app: FastifyInstance) {
  const user = await app.users.store.getUserByEmail('ada@example.com')
  const client = app.users.config.clients.get('swagger-ui')
  assert.ok(user && client)
  const verifier = randomBytes(32).toString('base64url')
  const code = await (await grantsOf(app)).issueCode({
    client,
    user,
    scopes: ['items:read'],
    redirectUri: REDIRECT,
    codeChallenge: createHash('sha256').update(verifier).digest('base64url'),
    authTime: new Date()
  })
  return { code, verifier }
}

const token = (app: FastifyInstance, fields: Record<string, string>) =>
  app.inject({ method: 'POST', url: '/oauth/token', headers: FORM, payload: form({ client_id: 'swagger-ui', ...fields }) })

const exchange = (app: FastifyInstance, code: string, verifier: string) =>
  token(app, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT })

async function setup (t: TestContext) {
  t.mock.timers.enable({ apis: ['Date'], now: Date.parse('2030-01-01T00:00:00Z') })
  const app = await build(t, { refreshTokenIdleTtl: 2 * 3600, refreshTokenAbsoluteTtl: 5 * 3600 })
  await register(app, 'ada@example.com')
  return app
}

test('an authorization code expires after 60 seconds', async (t) => {
  const app = await setup(t)
  const fresh = await codeFlowTokens(app)
  assert.equal((await exchange(app, fresh.code, fresh.verifier)).statusCode, 200)
  const stale = await codeFlowTokens(app)
  t.mock.timers.tick(61_000)
  const res = await exchange(app, stale.code, stale.verifier)
  assert.equal(res.statusCode, 400)
  assert.equal(res.json().error, 'invalid_grant')
})

test('a refresh token dies after its idle lifetime unused', async (t) => {
  const app = await setup(t)
  const { code, verifier } = await codeFlowTokens(app)
  const first = (await exchange(app, code, verifier)).json()
  t.mock.timers.tick(2 * HOUR + 1000)
  const res = await token(app, { grant_type: 'refresh_token', refresh_token: first.refresh_token })
  assert.equal(res.statusCode, 400)
  assert.equal(res.json().error, 'invalid_grant')
})

test('refreshing keeps an authorization alive only up to its absolute lifetime', async (t) => {
  const app = await setup(t)
  const { code, verifier } = await codeFlowTokens(app)
  let current = (await exchange(app, code, verifier)).json().refresh_token as string
  // Refreshed every 1.5 h: never idle for 2 h, yet the 5 h absolute limit ends it.
  for (let elapsed = 1.5; elapsed < 5; elapsed += 1.5) {
    t.mock.timers.tick(1.5 * HOUR)
    const res = await token(app, { grant_type: 'refresh_token', refresh_token: current })
    assert.equal(res.statusCode, 200, `at ${elapsed} h: ${res.body}`)
    current = res.json().refresh_token
  }
  t.mock.timers.tick(1.5 * HOUR)
  const res = await token(app, { grant_type: 'refresh_token', refresh_token: current })
  assert.equal(res.statusCode, 400, res.body)
  assert.equal(res.json().error, 'invalid_grant')
})

test('codes a signed-in browser asks for and never redeems leave nothing behind after the code lifetime', async (t) => {
  const app = await setup(t)
  const signedIn = await authorizeCode(app)
  const unredeemed: string[] = []
  for (let i = 0; i < 20; i++) {
    const { challenge } = pkce()
    const res = await signedIn.browser.get(authorizePath({
      response_type: 'code', client_id: 'swagger-ui', redirect_uri: SWAGGER_REDIRECT, prompt: 'none', state: 's', code_challenge: challenge, code_challenge_method: 'S256'
    }))
    unredeemed.push(redirectParams(res, SWAGGER_REDIRECT).get('code') as string)
  }
  const store = app.users.store
  const familyOf = async (code: string) => (await store.getGrant(hashToken(code), new Date()))?.familyId as string
  const families = await Promise.all(unredeemed.map(familyOf))
  for (const familyId of families) {
    const family = await store.getGrantFamily(familyId, new Date())
    assert.ok(family && family.expiresAt.getTime() <= Date.now() + 60_000, `an unredeemed code's authorization lives no longer than the code: ${family?.expiresAt.toISOString()}`)
  }
  // A redeemed code's authorization gets its full (absolute) life.
  const redeemedFamily = await familyOf(signedIn.code)
  assert.equal((await exchange(app, signedIn.code, signedIn.verifier)).statusCode, 200)
  assert.equal((await store.getGrantFamily(redeemedFamily, new Date()))?.expiresAt.getTime(), Date.now() + 5 * HOUR + 900_000)

  t.mock.timers.tick(61_000)
  for (const familyId of families) assert.equal(await store.getGrantFamily(familyId, new Date()), null)
  assert.ok(await store.getGrantFamily(redeemedFamily, new Date()))
})
