import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import fastifyUsers, { ACCOUNT_SCOPE, memoryStore } from '../index.js'
import { demoIdpSubject, startDemoIdp } from '../demo/idp.js'
import { freePort } from './support/browser.js'
import { pkce } from './support/oauth.js'
import { CLIENT_REDIRECT, exchangeOurCode } from './support/provider-login.js'
import { pageForms, pageLinks, WebBrowser } from './support/web-browser.js'

// Who may change an account: a token alone is not enough. Tried over real sockets, with the
// Demo IdP (oidc-provider) as the upstream provider of the user under attack.

const IDP_SECRET = 'idp-client-secret-'.padEnd(48, 'x')
const PASSWORD = 'correct horse battery'
/** Short, so that a sign-in can grow old within a test. */
const MAX_AGE = 2

interface Setup { app: FastifyInstance, issuer: string, idpIssuer: string }

async function setup (t: TestContext): Promise<Setup> {
  const port = await freePort()
  const issuer = `http://127.0.0.1:${port}`
  const idp = await startDemoIdp({
    clients: [{ clientId: 'our-app', clientSecret: IDP_SECRET, redirectUris: [`${issuer}/auth/idp/callback`, `${issuer}/auth/idp/associate/callback`] }]
  })
  t.after(() => idp.close())
  const app = Fastify()
  t.after(() => app.close())
  await app.register(fastifyUsers, {
    issuer,
    store: memoryStore(),
    recentSignInMaxAge: MAX_AGE,
    clients: [
      { clientId: 'web', name: 'Web app', firstParty: true, redirectUris: [CLIENT_REDIRECT] },
      { clientId: 'cli', firstParty: true },
      // Third-party: may have every scope but the account scope.
      { clientId: 'gallery', name: 'Photo gallery', redirectUris: [CLIENT_REDIRECT] },
      // Third-party that the app trusts with account management: it names the scope.
      { clientId: 'partner', name: 'Account partner', redirectUris: [CLIENT_REDIRECT], scopes: ['openid', ACCOUNT_SCOPE] }
    ],
    providers: [{ name: 'idp', type: 'oidc', label: 'Test IdP', issuer: idp.issuer, clientId: 'our-app', clientSecret: IDP_SECRET }]
  })
  await app.listen({ port, host: '127.0.0.1' })
  return { app, issuer, idpIssuer: idp.issuer }
}

/**
 * The code flow of `clientId` in `browser`: signs in through the Test IdP when our login page
 * shows, signs in at the IdP when it asks, allows on the consent page when there is one.
 * Returns our access token and what the browser saw on the way.
 */
async function signIn (s: Setup, browser: WebBrowser, clientId: string, scope: string, email: string, extra: Record<string, string> = {}) {
  const { verifier, challenge } = pkce()
  const authorize = new URL(`${s.issuer}/oauth/authorize`)
  authorize.search = new URLSearchParams({
    response_type: 'code', client_id: clientId, redirect_uri: CLIENT_REDIRECT, code_challenge: challenge, code_challenge_method: 'S256', state: 'client-state', scope, ...extra
  }).toString()
  const origins = [s.issuer, s.idpIssuer]
  const seen = { loginPage: false, consentPage: '' }
  let visit = await browser.follow(authorize, origins)
  for (let step = 0; visit.status === 200; step++) {
    assert.ok(step < 5, 'too many pages')
    const button = pageLinks(visit.body, visit.url).find((l) => l.text === 'Continue with Test IdP')
    const idpLogin = pageForms(visit.body, visit.url).find((f) => f.action.startsWith(s.idpIssuer) && f.action.endsWith('/login'))
    const allow = pageForms(visit.body, visit.url).find((f) => f.fields.decision === 'allow')
    if (button) {
      seen.loginPage = true
      visit = await browser.follow(button.href, origins)
    } else if (idpLogin) {
      visit = await browser.follow(idpLogin.action, origins, { form: { ...idpLogin.fields, email, password: 'anything at all' } })
    } else if (allow) {
      seen.consentPage = visit.body
      visit = await browser.follow(allow.action, origins, { form: allow.fields })
    } else {
      assert.fail(`unexpected page ${visit.url}: ${visit.body.slice(0, 500)}`)
    }
  }
  const token = await exchangeOurCode(s.app, visit, verifier, s.issuer, clientId)
  return { token, ...seen }
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

/** Every route that manages the account, as a token holder would call it. */
function accountRoutes (s: Setup, token: string): Promise<LightMyRequestResponse>[] {
  const headers = bearer(token)
  return [
    s.app.inject({ method: 'PATCH', url: '/users/me', headers, payload: { password: 'the attacker password' } }),
    s.app.inject({ method: 'PATCH', url: '/users/me', headers, payload: { email: 'attacker@evil.example' } }),
    s.app.inject({ method: 'GET', url: '/auth/idp/associate/authorize', headers }),
    s.app.inject({ method: 'DELETE', url: '/users/me/oauth-accounts/idp', headers })
  ]
}

function assertInsufficientScope (res: LightMyRequestResponse) {
  assert.equal(res.statusCode, 403, `${res.statusCode} ${res.body}`)
  assert.equal(res.json().code, 'INSUFFICIENT_SCOPE')
  assert.match(String(res.headers['www-authenticate']), /^Bearer realm="[^"]+", error="insufficient_scope", error_description="[^"]+", scope="account:manage"$/)
}

function assertStepUp (res: LightMyRequestResponse) {
  assert.equal(res.statusCode, 401, `${res.statusCode} ${res.body}`)
  assert.equal(res.json().code, 'INSUFFICIENT_USER_AUTHENTICATION')
  // RFC 9470 §3: the challenge names the error and the max_age to sign in again with.
  assert.match(String(res.headers['www-authenticate']), new RegExp(`^Bearer realm="[^"]+", error="insufficient_user_authentication", error_description="[^"]+", max_age="${MAX_AGE}"$`))
}

/** Until every sign-in made so far is older than MAX_AGE. */
const ageSignIns = () => sleep((MAX_AGE + 1) * 1000 + 100)

test('takeover through a third-party token: every account route is 403; a provider-only user steps up to change the account', async (t) => {
  const s = await setup(t)
  const email = 'victim@example.org'
  const browser = new WebBrowser()

  // The victim signs in to a third-party app with scope openid only.
  const third = await signIn(s, browser, 'gallery', 'openid', email)
  assert.ok(third.loginPage && third.consentPage, 'login and consent pages shown')
  assert.doesNotMatch(third.consentPage, /account:manage|Manage your account/)
  const victim = await s.app.users.store.getUserByEmail(email)
  assert.ok(victim)
  assert.equal(victim.hashedPassword, null, 'a provider-only user')
  assert.equal((await s.app.inject({ url: '/users/me', headers: bearer(third.token) })).statusCode, 200, 'reading is fine')

  for (const res of await Promise.all(accountRoutes(s, third.token))) assertInsufficientScope(res)
  // Asking for the account scope by name does not get it either: the client may not have it.
  const asking = await signIn(s, browser, 'gallery', `openid ${ACCOUNT_SCOPE}`, email)
  assert.doesNotMatch(asking.consentPage, /account:manage/)
  for (const res of await Promise.all(accountRoutes(s, asking.token))) assertInsufficientScope(res)
  // Nothing changed: no password, same email, the provider account still linked.
  const after = await s.app.users.store.getUserByEmail(email)
  assert.deepEqual(after, victim)
  assert.deepEqual((await s.app.users.store.listOAuthAccounts(victim.id)).map((a) => a.accountId), [demoIdpSubject(email)])

  // The first-party app's token, from a sign-in that has grown old: a step-up challenge.
  const web = await signIn(s, browser, 'web', 'openid', email)
  assert.equal(web.loginPage, false, 'the browser session signed in at once')
  await ageSignIns()
  for (const res of await Promise.all(accountRoutes(s, web.token))) assertStepUp(res)
  assert.deepEqual(await s.app.users.store.getUserByEmail(email), victim)

  // The client answers the challenge: the same flow with max_age signs in again, through the IdP.
  const again = await signIn(s, browser, 'web', 'openid', email, { max_age: String(MAX_AGE) })
  assert.equal(again.loginPage, true, 'max_age made our login page ask again')
  const changed = await s.app.inject({ method: 'PATCH', url: '/users/me', headers: bearer(again.token), payload: { password: 'the owner password' } })
  assert.equal(changed.statusCode, 200, changed.body)
  const login = await s.app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ grant_type: 'password', client_id: 'cli', username: email, password: 'the owner password' }).toString()
  })
  assert.equal(login.statusCode, 200, 'the new password signs in')
})

test('a user with a password: a first-party token changes the email with currentPassword, or with a recent sign-in', async (t) => {
  const s = await setup(t)
  const reg = await s.app.inject({ method: 'POST', url: '/auth/register', payload: { email: 'ada@example.com', password: PASSWORD } })
  assert.equal(reg.statusCode, 201)
  const tokenRes = await s.app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ grant_type: 'password', client_id: 'cli', username: 'ada@example.com', password: PASSWORD }).toString()
  })
  const headers = bearer(tokenRes.json().access_token)
  const patch = (payload: Record<string, string>) => s.app.inject({ method: 'PATCH', url: '/users/me', headers, payload })

  // Just signed in with the password grant: recent enough for an email change.
  const recent = await patch({ email: 'ada.two@example.com' })
  assert.equal(recent.statusCode, 200, recent.body)

  await ageSignIns()
  assertStepUp(await patch({ email: 'ada.three@example.com' }))
  const wrong = await patch({ email: 'ada.three@example.com', currentPassword: 'not the password' })
  assert.equal(wrong.statusCode, 400)
  assert.equal(wrong.json().code, 'UPDATE_USER_INVALID_PASSWORD')
  assert.equal((await s.app.users.store.getUserById(reg.json().id))?.email, 'ada.two@example.com', 'nothing changed')
  const proven = await patch({ email: 'ada.three@example.com', currentPassword: PASSWORD })
  assert.equal(proven.statusCode, 200, proven.body)
  assert.equal(proven.json().email, 'ada.three@example.com')
  assert.equal(proven.json().isVerified, false)

  // A new password always needs the current one; routes without a body need a recent sign-in.
  assert.equal((await patch({ password: 'another long password' })).statusCode, 400)
  assert.equal((await patch({ password: 'another long password', currentPassword: PASSWORD })).statusCode, 200)
  assertStepUp(await s.app.inject({ method: 'GET', url: '/auth/idp/associate/authorize', headers }))
})

test('a third-party client the app allows account:manage gets it only through the consent page that names it', async (t) => {
  const s = await setup(t)
  const email = 'carol@example.org'
  const browser = new WebBrowser()
  const partner = await signIn(s, browser, 'partner', `openid ${ACCOUNT_SCOPE}`, email)
  assert.match(partner.consentPage, /account:manage/)
  assert.match(partner.consentPage, /Manage your account/)
  const res = await s.app.inject({ method: 'PATCH', url: '/users/me', headers: bearer(partner.token), payload: { email: 'carol.new@example.org' } })
  assert.equal(res.statusCode, 200, res.body)
  // Without asking for it, it does not have it: the account scope is never a default.
  const plain = await signIn(s, browser, 'partner', '', email)
  assertInsufficientScope((await Promise.all(accountRoutes(s, plain.token)))[0] as LightMyRequestResponse)
})
