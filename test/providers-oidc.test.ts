import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { Type } from '@sinclair/typebox'
import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import { exportJWK, generateKeyPair, SignJWT, decodeJwt, decodeProtectedHeader, type JWTPayload } from 'jose'
import fastifyUsers, { memoryStore, StoreUnavailableError, type FastifyUsersOptions, type OAuthLoginInfo, type ProviderOption, type User, type UserStore } from '../index.js'
import { demoIdpSubject, startDemoIdp, type DemoIdpOptions } from '../demo/idp.js'
import { freePort } from './support/browser.js'
import { pageForms, pageLinks, WebBrowser } from './support/web-browser.js'
import { assertPage, CLIENT_REDIRECT, exchangeOurCode, toProvider } from './support/provider-login.js'
import { startTamperProxy, type TamperProxy } from './support/tamper-proxy.js'
import { pkce } from './support/oauth.js'
import { hashToken } from '../services/secrets.js'
import { recordEvents } from './support/events.js'

const IDP_SECRET = 'idp-client-secret-'.padEnd(48, 'x')
const PASSWORD = 'correct horse battery'

interface Setup {
  app: FastifyInstance
  issuer: string
  idpIssuer: string
  closeIdp: () => Promise<void>
  proxy?: TamperProxy
  logins: { user: User, info: OAuthLoginInfo }[]
  registered: User[]
}

/** Our app on a real port with provider "idp": oidc-provider (the Demo IdP) on another. */
async function setup (t: TestContext, options: { userFields?: FastifyUsersOptions['userFields'], onAfterRegister?: (user: User) => void, provider?: Partial<ProviderOption>, idp?: Partial<DemoIdpOptions>, proxy?: boolean, key?: string, log?: string[], prefix?: string, rateLimit?: FastifyUsersOptions['rateLimit'], store?: UserStore } = {}): Promise<Setup> {
  const prefix = options.prefix ?? ''
  const port = await freePort()
  const issuer = `http://127.0.0.1:${port}`
  const proxy = options.proxy ? await startTamperProxy() : undefined
  if (proxy) t.after(() => proxy.close())
  const idp = await startDemoIdp({
    clients: [{ clientId: 'our-app', clientSecret: IDP_SECRET, redirectUris: [`${issuer}${prefix}/auth/idp/callback`, `${issuer}${prefix}/auth/idp/associate/callback`] }],
    ...(proxy ? { issuer: proxy.url } : {}),
    ...options.idp
  })
  let idpOpen = true
  const closeIdp = async () => { if (idpOpen) { idpOpen = false; await idp.close() } }
  t.after(closeIdp)
  if (proxy) proxy.target = idp.url

  const logins: Setup['logins'] = []
  const registered: User[] = []
  const log = options.log
  const app = Fastify(log ? { logger: { level: 'trace', stream: new Writable({ write (chunk, _enc, cb) { log.push(String(chunk)); cb() } }) } } : {})
  t.after(() => app.close())
  await app.register(fastifyUsers, {
    issuer,
    store: options.store ?? memoryStore(),
    scopes: { 'items:read': 'Read items' },
    clients: [
      { clientId: 'web', name: 'Web app', firstParty: true, redirectUris: [CLIENT_REDIRECT] },
      { clientId: 'cli', firstParty: true }
    ],
    providers: [{ name: 'idp', type: 'oidc', label: 'Test IdP', issuer: proxy?.url ?? idp.issuer, clientId: 'our-app', clientSecret: IDP_SECRET, ...options.provider }],
    onOAuthLogin: (user, info) => { logins.push({ user, info }) },
    ...(options.key ? { oauthTokenKey: options.key } : {}),
    prefix,
    onAfterRegister: options.onAfterRegister ?? ((user) => { registered.push(user) }),
    ...(options.userFields ? { userFields: options.userFields } : {}),
    ...(options.rateLimit !== undefined ? { rateLimit: options.rateLimit } : {})
  })
  await app.listen({ port, host: '127.0.0.1' })
  return { app, issuer, idpIssuer: proxy?.url ?? idp.issuer, closeIdp, proxy, logins, registered }
}

/** From our /oauth/authorize to the provider's sign-in page, through the button. */
async function toIdpLoginPage (s: Setup, browser: WebBrowser) {
  const { verifier, upstream } = await toProvider(browser, s.issuer, 'Test IdP', 'openid email items:read')
  assert.equal(upstream.origin, s.idpIssuer)
  const page = await browser.follow(upstream, [s.idpIssuer])
  assert.equal(page.status, 200, page.body.slice(0, 300))
  return { page, verifier, upstream }
}

/** Signs in at the provider and stops where the provider sends the browser back to us. */
async function toCallback (s: Setup, browser: WebBrowser, email: string) {
  const { page, verifier, upstream } = await toIdpLoginPage(s, browser)
  const form = pageForms(page.body, page.url).find((f) => f.action.endsWith('/login'))
  assert.ok(form)
  const back = await browser.follow(form.action, [s.idpIssuer], { form: { ...form.fields, email, password: 'anything at all' } })
  const callback = back.location ?? ''
  assert.ok(callback.startsWith(`${s.issuer}/auth/idp/callback?`), `expected the callback, got ${back.status} ${callback}`)
  return { callback, verifier, upstream }
}

/** The whole login: ends at the client's redirect URI with our code, exchanged for tokens. */
async function providerLogin (s: Setup, browser: WebBrowser, email: string) {
  const { callback, verifier } = await toCallback(s, browser, email)
  const end = await browser.follow(callback, [s.issuer])
  return { access_token: await exchangeOurCode(s.app, end, verifier, s.issuer) }
}

const me = async (s: Setup, token: string, path = '/users/me') => s.app.inject({ url: path, headers: { authorization: `Bearer ${token}` } })

async function passwordUser (s: Setup, email: string) {
  const reg = await s.app.inject({ method: 'POST', url: '/auth/register', payload: { email, password: PASSWORD } })
  assert.equal(reg.statusCode, 201, reg.body)
  const res = await s.app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ grant_type: 'password', client_id: 'cli', username: email, password: PASSWORD }).toString()
  })
  assert.equal(res.statusCode, 200, res.body)
  return { user: reg.json() as User, token: res.json().access_token as string }
}

test('the upstream request carries state, nonce and PKCE S256; the callback lands on our routes', async (t) => {
  const s = await setup(t)
  const { upstream } = await toIdpLoginPage(s, new WebBrowser())
  const params = upstream.searchParams
  assert.equal(params.get('client_id'), 'our-app')
  assert.equal(params.get('redirect_uri'), `${s.issuer}/auth/idp/callback`)
  assert.equal(params.get('response_type'), 'code')
  assert.equal(params.get('code_challenge_method'), 'S256')
  assert.match(params.get('code_challenge') ?? '', /^[A-Za-z0-9_-]{43}$/)
  assert.match(params.get('state') ?? '', /^[A-Za-z0-9_-]{43}$/)
  assert.match(params.get('nonce') ?? '', /^[A-Za-z0-9_-]{43}$/)
  assert.deepEqual(params.get('scope')?.split(' ').sort(), ['email', 'openid', 'profile'])
})

test('a first login through the provider creates the user and links the account; the second finds the same user', async (t) => {
  const s = await setup(t)
  const email = 'newbie@example.org'
  const events = recordEvents(s.app)
  const first = await providerLogin(s, new WebBrowser(), email)
  const user = (await me(s, first.access_token)).json() as User
  assert.deepEqual(events.map(([name, payload]) => [name, 'user' in payload ? payload.user?.id : payload.userId, 'provider' in payload ? payload.provider : 'grantType' in payload ? payload.grantType : undefined]), [
    ['userCreated', user.id, 'idp'], ['accountLinked', user.id, 'idp'], ['login', user.id, 'idp'], ['tokenIssued', user.id, 'authorization_code']
  ])
  assert.equal(user.email, email)
  assert.equal(user.isVerified, false, 'not verified unless the provider is trusted to verify (isVerifiedByDefault)')
  const accounts = await me(s, first.access_token, '/users/me/oauth-accounts')
  assert.equal(accounts.statusCode, 200)
  assert.deepEqual(accounts.json().map((a: { provider: string, accountId: string, accountEmail: string }) => [a.provider, a.accountId, a.accountEmail]),
    [['idp', demoIdpSubject(email), email]])
  assert.deepEqual(s.registered.map((u) => u.email), [email])

  const second = await providerLogin(s, new WebBrowser(), email)
  assert.equal((await me(s, second.access_token)).json().id, user.id)
  assert.equal((await me(s, second.access_token, '/users/me/oauth-accounts')).json().length, 1)
  assert.deepEqual(s.logins.map((l) => [l.user.id, l.info.created, l.info.linked]), [[user.id, true, false], [user.id, false, false]])
  assert.equal(s.registered.length, 1)
  // A user made by a provider has no password: the password grant cannot sign it in.
  const stored = await s.app.users.store.getUserById(user.id)
  assert.equal(stored?.hashedPassword, null)
})

test('an onAfterRegister hook that throws is logged; the login through the provider goes on, and the next one too', async (t) => {
  const log: string[] = []
  const s = await setup(t, { log, onAfterRegister: () => { throw new Error('CRM down') } })
  const first = await providerLogin(s, new WebBrowser(), 'crm@example.org')
  const user = (await me(s, first.access_token)).json() as User
  assert.equal(user.email, 'crm@example.org')
  assert.ok(log.some((line) => line.includes('fastify-users: onAfterRegister failed; the change it followed stands')), 'reported')
  const second = await providerLogin(s, new WebBrowser(), 'crm@example.org')
  assert.equal((await me(s, second.access_token)).json().id, user.id)
})

test('a user made by a first login through a provider gets the defaults of the app\'s fields', async (t) => {
  const s = await setup(t, { userFields: Type.Object({ plan: Type.String({ default: 'free' }), nickname: Type.Optional(Type.String()) }) })
  const tokens = await providerLogin(s, new WebBrowser(), 'fields@example.org')
  const user = (await me(s, tokens.access_token)).json() as User
  // Stored with the user (an answer's serializer would write a schema default by itself).
  assert.deepEqual((await s.app.users.store.getUserById(user.id))?.fields, { plan: 'free' })
})

test('isVerifiedByDefault: a user created through a provider that verified the email starts verified', async (t) => {
  const s = await setup(t, { provider: { isVerifiedByDefault: true } })
  const tokens = await providerLogin(s, new WebBrowser(), 'trusted@example.org')
  assert.equal((await me(s, tokens.access_token)).json().isVerified, true)
})

test('associate: a signed-in user links a provider account, later logins through it find that user; unlink', async (t) => {
  const s = await setup(t)
  const alice = await passwordUser(s, 'alice@example.com')
  const browser = new WebBrowser()
  const linking = recordEvents(s.app)
  const start = await browser.request(`${s.issuer}/auth/idp/associate/authorize`, { headers: { authorization: `Bearer ${alice.token}` } })
  assert.equal(start.status, 200, start.body)
  const url = new URL(JSON.parse(start.body).authorization_url)
  assert.equal(url.origin, s.idpIssuer)
  assert.equal(url.searchParams.get('redirect_uri'), `${s.issuer}/auth/idp/associate/callback`)
  const page = await browser.follow(url, [s.idpIssuer])
  const form = pageForms(page.body, page.url).find((f) => f.action.endsWith('/login'))
  assert.ok(form)
  const done = await browser.follow(form.action, [s.idpIssuer, s.issuer], { form: { ...form.fields, email: 'alice.idp@example.org', password: 'x' } })
  assertPage(done, 200, /Account linked/)
  assert.deepEqual(linking, [['accountLinked', { user: alice.user, provider: 'idp', accountId: demoIdpSubject('alice.idp@example.org') }]])
  assert.deepEqual((await me(s, alice.token, '/users/me/oauth-accounts')).json().map((a: { accountId: string }) => a.accountId), [demoIdpSubject('alice.idp@example.org')])

  const viaIdp = await providerLogin(s, new WebBrowser(), 'alice.idp@example.org')
  assert.equal((await me(s, viaIdp.access_token)).json().id, alice.user.id)
  assert.equal(s.registered.length, 1, 'no user was created by the provider login')

  // Alice has a password: the provider account may go.
  const events = recordEvents(s.app)
  const unlink = await s.app.inject({ method: 'DELETE', url: '/users/me/oauth-accounts/idp', headers: { authorization: `Bearer ${alice.token}` } })
  assert.equal(unlink.statusCode, 204)
  assert.deepEqual((await me(s, alice.token, '/users/me/oauth-accounts')).json(), [])
  const again = await s.app.inject({ method: 'DELETE', url: '/users/me/oauth-accounts/idp', headers: { authorization: `Bearer ${alice.token}` } })
  assert.equal(again.statusCode, 404)
  assert.deepEqual(events, [['accountUnlinked', { user: alice.user, provider: 'idp' }]], 'one unlink, one event; the refused one none')
})

test('the last way to sign in cannot be unlinked', async (t) => {
  const s = await setup(t)
  const tokens = await providerLogin(s, new WebBrowser(), 'only-idp@example.org')
  const res = await s.app.inject({ method: 'DELETE', url: '/users/me/oauth-accounts/idp', headers: { authorization: `Bearer ${tokens.access_token}` } })
  assert.equal(res.statusCode, 400)
  assert.equal(res.json().code, 'OAUTH_UNLINK_LAST_LOGIN_METHOD')
  assert.equal((await me(s, tokens.access_token, '/users/me/oauth-accounts')).json().length, 1)
})

test('associate cannot take an account linked to another user', async (t) => {
  const s = await setup(t)
  await providerLogin(s, new WebBrowser(), 'taken.idp@example.org')
  const bob = await passwordUser(s, 'bob@example.com')
  const browser = new WebBrowser()
  const linking = recordEvents(s.app)
  const start = await browser.request(`${s.issuer}/auth/idp/associate/authorize`, { headers: { authorization: `Bearer ${bob.token}` } })
  const page = await browser.follow(JSON.parse(start.body).authorization_url, [s.idpIssuer])
  const form = pageForms(page.body, page.url).find((f) => f.action.endsWith('/login'))
  assert.ok(form)
  const done = await browser.follow(form.action, [s.idpIssuer, s.issuer], { form: { ...form.fields, email: 'taken.idp@example.org', password: 'x' } })
  assertPage(done, 409, /linked to another user/)
  assert.deepEqual((await me(s, bob.token, '/users/me/oauth-accounts')).json(), [])
  assert.deepEqual(linking, [], 'a refused link is no event')
})

test('state: from another browser, tampered, missing or replayed is refused, and nothing is created', async (t) => {
  const s = await setup(t)
  const email = 'victim@example.org'
  const browser = new WebBrowser()
  const genuine = new URL((await toCallback(s, browser, email)).callback)
  const stateCookie = browser.cookie('fastify_users_idp_state')
  assert.equal(stateCookie, genuine.searchParams.get('state'), 'the state is bound to this browser by a cookie')

  // Login CSRF: the genuine callback in another browser (an attacker's code in a victim's
  // browser, or the reverse): refused, and the state is not used up by it.
  assertPage(await new WebBrowser().request(genuine), 400, /not started from this browser/)
  assert.equal(await s.app.users.store.getUserByEmail(email), null)

  const done = await browser.follow(genuine, [s.issuer])
  assert.ok(done.location?.startsWith(CLIENT_REDIRECT), `${done.status} ${done.body.slice(0, 300)}`)
  assert.ok(await s.app.users.store.getUserByEmail(email))
  assert.equal(browser.cookie('fastify_users_idp_state'), undefined, 'the flow cookies go once the state is used')
  assert.equal(browser.cookie('fastify_users_idp_verifier'), undefined)

  // Replayed, even with the state cookie put back: single use.
  browser.setCookie(s.issuer, 'fastify_users_idp_state', stateCookie as string, '/auth/idp/')
  assertPage(await browser.request(genuine), 400, /expired or was used already/)
  assert.equal(s.registered.length, 1)

  // Tampered or missing state in the browser that started the login (a forged link opened
  // there): refused, nothing created, and the browser's own sign-in still finishes.
  const other = 'tampered@example.org'
  const b = new WebBrowser()
  const own = new URL((await toCallback(s, b, other)).callback)
  for (const change of [(u: URL) => u.searchParams.set('state', randomBytes(32).toString('base64url')), (u: URL) => u.searchParams.delete('state')]) {
    const forged = new URL(own)
    change(forged)
    assertPage(await b.request(forged), 400, /not started from this browser/)
    assert.equal(await s.app.users.store.getUserByEmail(other), null)
  }
  assert.ok((await b.follow(own, [s.issuer])).location?.startsWith(CLIENT_REDIRECT))
  assert.equal(s.registered.length, 2)
})

test('id_token: a wrong nonce, audience, issuer or signature is refused and creates nothing', async (t) => {
  const key = await generateKeyPair('RS256', { extractable: true })
  const jwk = { ...await exportJWK(key.privateKey), kid: 'idp-key', alg: 'RS256', use: 'sig' }
  const other = await generateKeyPair('RS256')
  const s = await setup(t, { proxy: true, idp: { signingKey: jwk } })
  const proxy = s.proxy as TamperProxy

  const resign = (change: (claims: JWTPayload) => JWTPayload, signWith = key.privateKey) => async (idToken: string) => {
    const header = decodeProtectedHeader(idToken)
    return new SignJWT(change(decodeJwt(idToken))).setProtectedHeader({ alg: 'RS256', kid: header.kid, typ: header.typ }).sign(signWith)
  }
  const cases: [string, ((idToken: string) => Promise<string>) | undefined, boolean][] = [
    // The controls: untouched, and re-signed with the provider's key unchanged, both pass.
    ['untouched', undefined, true],
    ['re-signed, unchanged', resign((c) => c), true],
    ['wrong nonce', resign((c) => ({ ...c, nonce: 'a-nonce-of-another-login' })), false],
    ['no nonce', resign(({ nonce: _, ...c }) => c), false],
    ['wrong audience', resign((c) => ({ ...c, aud: 'another-client' })), false],
    ['wrong issuer', resign((c) => ({ ...c, iss: 'http://127.0.0.1:1' })), false],
    ['expired', resign((c) => ({ ...c, iat: 1_000_000, exp: 1_000_600 })), false],
    ['wrong signature', resign((c) => c, other.privateKey), false],
    ['sub not a string', resign((c) => ({ ...c, sub: 12345 as unknown as string })), false],
    ['alg none', async (idToken) => `${Buffer.from('{"alg":"none"}').toString('base64url')}.${idToken.split('.')[1]}.`, false]
  ]
  for (const [name, rewrite, accepted] of cases) {
    proxy.rewriteIdToken = rewrite
    const email = `${name.replace(/[^a-z]+/g, '-')}@example.org`
    const browser = new WebBrowser()
    const { callback } = await toCallback(s, browser, email)
    const end = await browser.follow(callback, [s.issuer])
    if (accepted) {
      assert.ok(end.location?.startsWith(CLIENT_REDIRECT), `${name}: ${end.status} ${end.body.slice(0, 300)}`)
      assert.ok(await s.app.users.store.getUserByEmail(email), name)
    } else {
      assertPage(end, 502, /could not be verified/)
      assert.equal(await s.app.users.store.getUserByEmail(email), null, name)
      assert.equal(browser.cookie('fastify_users_session'), undefined, `${name}: no session`)
    }
  }
})

test('linking by email: never for an email the provider has not verified; for a verified one only when the app opted in', async (t) => {
  const s = await setup(t, {
    provider: { associateByEmail: true },
    idp: { emailVerified: (email) => !email.startsWith('unverified') }
  })
  const unverified = await passwordUser(s, 'unverified.carol@example.com')
  const browser = new WebBrowser()
  const { callback } = await toCallback(s, browser, 'unverified.carol@example.com')
  assertPage(await browser.follow(callback, [s.issuer]), 409, /email address is taken/)
  assert.deepEqual((await me(s, unverified.token, '/users/me/oauth-accounts')).json(), [])

  const verified = await passwordUser(s, 'dave@example.com')
  await s.app.users.store.updateUser(verified.user.id, { isVerified: true })
  const tokens = await providerLogin(s, new WebBrowser(), 'dave@example.com')
  assert.equal((await me(s, tokens.access_token)).json().id, verified.user.id)
  assert.deepEqual(s.logins.at(-1)?.info, { provider: 'idp', accountId: demoIdpSubject('dave@example.com'), created: false, linked: true })

  // Without associateByEmail (the default), a verified email is not enough either.
  const strict = await setup(t)
  await passwordUser(strict, 'erin@example.com')
  const b2 = new WebBrowser()
  const back = await toCallback(strict, b2, 'erin@example.com')
  assertPage(await b2.follow(back.callback, [strict.issuer]), 409, /email address is taken/)
})

test('pre-registration takeover: a user registered with the owner\'s address but never verified does not get the owner\'s provider account', async (t) => {
  const s = await setup(t, { provider: { associateByEmail: true } })
  // The attacker registers the victim's address with a password of their own; it stays unverified.
  const attacker = await passwordUser(s, 'victim@example.com')
  assert.equal(attacker.user.isVerified, false)
  // The owner later signs in through a provider that says the address is verified.
  const browser = new WebBrowser()
  const { callback } = await toCallback(s, browser, 'victim@example.com')
  const end = await browser.follow(callback, [s.issuer])
  assertPage(end, 409, /email address is taken/)
  assert.equal(browser.cookie('fastify_users_session'), undefined, 'the browser is not signed in as anyone')
  // Nothing was linked or created: the attacker's user has no provider account.
  assert.deepEqual((await me(s, attacker.token, '/users/me/oauth-accounts')).json(), [])
  assert.equal(await s.app.users.store.getOAuthAccount('idp', demoIdpSubject('victim@example.com')), null)
  assert.deepEqual(s.logins, [])
  assert.deepEqual(s.registered.map((u) => u.id), [attacker.user.id])
})

test('provider emails pass the check registration applies: look-alikes, trailing dots and markup end on a page, nothing created', async (t) => {
  const s = await setup(t, { provider: { isVerifiedByDefault: true } })
  const demo = await passwordUser(s, 'demo@example.com')
  for (const email of ['demo@example.com\u200b', 'demo@example.com.', '<img/src=x/onerror=alert(1)>"\'@x', 'demo@localhost']) {
    const browser = new WebBrowser()
    const { callback } = await toCallback(s, browser, email)
    const end = await browser.follow(callback, [s.issuer])
    assertPage(end, 400, /Email address not accepted/)
    assert.doesNotMatch(end.body, /<img/, 'the address is not echoed')
    assert.equal(browser.cookie('fastify_users_session'), undefined, `${JSON.stringify(email)}: not signed in`)
    assert.equal(await s.app.users.store.getOAuthAccount('idp', demoIdpSubject(email)), null, `${JSON.stringify(email)}: nothing linked`)
  }
  assert.deepEqual(s.registered.map((u) => u.id), [demo.user.id], 'no user was created')
  assert.deepEqual(s.logins, [])
  assert.deepEqual((await me(s, demo.token, '/users/me/oauth-accounts')).json(), [])
  // An address registration accepts still works, and /users/me keeps its published format.
  const ok = await providerLogin(s, new WebBrowser(), 'Grace.Hopper@Example.org')
  const user = (await me(s, ok.access_token)).json()
  assert.equal(user.email, 'grace.hopper@example.org')
  assert.equal(user.isVerified, true)
})

test('the store gone between making the user and linking the account: the next login finishes that user', async (t) => {
  // The account write fails, and so does undoing the user: as when MongoDB goes away between them.
  const store = memoryStore()
  const outage = { left: 1 }
  const failing = <A extends unknown[], R>(method: (...args: A) => Promise<R>) => async (...args: A): Promise<R> => {
    if (outage.left > 0) throw new StoreUnavailableError()
    return method(...args)
  }
  const createOAuthAccount = store.createOAuthAccount.bind(store)
  const deleteUser = store.deleteUser.bind(store)
  store.createOAuthAccount = failing(createOAuthAccount)
  store.deleteUser = async (id) => {
    const result = failing(deleteUser)(id)
    outage.left = 0
    return result
  }
  const s = await setup(t, { store, provider: { isVerifiedByDefault: true } })
  const email = 'halfway@example.org'
  const browser = new WebBrowser()
  const { callback } = await toCallback(s, browser, email)
  assertPage(await browser.follow(callback, [s.issuer]), 503, /Try again/)
  const orphan = await store.getUserByEmail(email)
  assert.ok(orphan, 'the user was made, and could not be undone')
  assert.deepEqual(await store.listOAuthAccounts(orphan.id), [])

  const tokens = await providerLogin(s, new WebBrowser(), email)
  const user = (await me(s, tokens.access_token)).json()
  assert.equal(user.id, orphan.id, 'the same user, finished')
  assert.equal(user.isVerified, true)
  assert.deepEqual((await me(s, tokens.access_token, '/users/me/oauth-accounts')).json().map((a: { provider: string }) => a.provider), ['idp'])
  assert.deepEqual(s.logins.map((l) => [l.info.created, l.info.linked]), [[true, false]])
})

test('provider errors end on a page and create nothing: cancelled at the provider, provider down', async (t) => {
  const s = await setup(t)
  const browser = new WebBrowser()
  const { page } = await toIdpLoginPage(s, browser)
  const cancel = pageForms(page.body, page.url).find((f) => f.action.endsWith('/abort'))
  assert.ok(cancel)
  const cancelled = await browser.follow(cancel.action, [s.idpIssuer, s.issuer], { form: cancel.fields })
  assertPage(cancelled, 403, /Sign-in cancelled/)
  const back = pageLinks(cancelled.body, cancelled.url).find((l) => l.text === 'Back to sign-in')
  assert.ok(back)
  assert.ok(back.href.startsWith(`${s.issuer}/oauth/authorize?`))
  assert.equal((await browser.request(back.href)).status, 200, 'the way back is the login page of the same request')

  const email = 'down@example.org'
  const b2 = new WebBrowser()
  const { callback } = await toCallback(s, b2, email)
  await s.closeIdp()
  assertPage(await b2.follow(callback, [s.issuer]), 502, /could not be reached/)
  assert.equal(await s.app.users.store.getUserByEmail(email), null)
})

test('a tampered pending request at the provider button ends on a page, nothing stored', async (t) => {
  const s = await setup(t)
  const browser = new WebBrowser()
  for (const query of ['client_id=web&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&response_type=code', 'client_id=nobody', '%zz']) {
    const res = await browser.request(`${s.issuer}/auth/idp/authorize?${new URLSearchParams({ authorize_query: query }).toString()}`)
    assert.equal(res.status, 400, query)
    assert.equal(res.location, undefined)
  }
  assertPage(await browser.request(`${s.issuer}/auth/idp/authorize`), 400, /malformed/)
})

test('a provider-login start keeps only the parameters we know of the pending request, and refuses an oversize one', async (t) => {
  const s = await setup(t)
  const { challenge } = pkce()
  const pending = {
    response_type: 'code', client_id: 'web', redirect_uri: CLIENT_REDIRECT, code_challenge: challenge, code_challenge_method: 'S256', state: 'client-state'
  }
  const start = (query: Record<string, string>) => s.app.inject({ url: `/auth/idp/authorize?${new URLSearchParams({ authorize_query: new URLSearchParams(query).toString() }).toString()}` })

  const padded = await start({ ...pending, padding: 'x'.repeat(6000) })
  assert.equal(padded.statusCode, 302)
  const state = new URL(padded.headers.location as string).searchParams.get('state') ?? ''
  const stored = await s.app.users.store.consumeUpstreamState(hashToken(state), new Date())
  assert.equal(stored?.authorizeQuery, new URLSearchParams(pending).toString(), 'unknown parameters are not kept')

  // Within each parameter's bound, yet over the whole bound once percent-encoded.
  for (const url of [`/auth/idp/authorize?${new URLSearchParams({ authorize_query: new URLSearchParams({ ...pending, state: '€'.repeat(600) }).toString() }).toString()}`,
    `/oauth/authorize?${new URLSearchParams({ ...pending, state: '€'.repeat(600) }).toString()}`]) {
    const res = await s.app.inject({ url })
    assert.equal(res.statusCode, 400, url.slice(0, 40))
    assert.match(res.body, /too large/)
    assert.equal(res.headers.location, undefined)
  }
})

test('provider sign-in starts are limited per address: each keeps a state for ten minutes', async (t) => {
  const s = await setup(t, { rateLimit: { providerStart: { max: 2, timeWindow: 600 } } })
  const { challenge } = pkce()
  const pending = new URLSearchParams({ response_type: 'code', client_id: 'web', redirect_uri: CLIENT_REDIRECT, code_challenge: challenge, code_challenge_method: 'S256' }).toString()
  const start = () => new WebBrowser().request(`${s.issuer}/auth/idp/authorize?${new URLSearchParams({ authorize_query: pending }).toString()}`)
  assert.equal((await start()).status, 302)
  assert.equal((await start()).status, 302)
  const refused = await start()
  assertPage(refused, 429, /Too many attempts/)
})

test('RFC 9207: an answer naming another issuer, or none, is refused before the code is used', async (t) => {
  const s = await setup(t)
  for (const change of [(u: URL) => u.searchParams.set('iss', 'http://127.0.0.1:1'), (u: URL) => u.searchParams.delete('iss')]) {
    const email = 'mixup@example.org'
    const browser = new WebBrowser()
    const url = new URL((await toCallback(s, browser, email)).callback)
    assert.equal(url.searchParams.get('iss'), s.idpIssuer)
    change(url)
    assertPage(await browser.request(url), 400, /does not come from Test IdP/)
    assert.equal(await s.app.users.store.getUserByEmail(email), null)
  }
})

test('upstream tokens: stored encrypted under oauthTokenKey, handed to the app on request, refreshed when expired', async (t) => {
  const s = await setup(t, { key: randomBytes(32).toString('base64url') })
  const tokens = await providerLogin(s, new WebBrowser(), 'tokens@example.org')
  const user = (await me(s, tokens.access_token)).json() as User
  const [account] = await s.app.users.store.listOAuthAccounts(user.id)
  assert.ok(account?.accessToken && account.refreshToken && account.expiresAt)
  // Compact JWE (dir, A256GCM): five parts, the header says so, the token is not in it.
  for (const sealed of [account.accessToken, account.refreshToken]) {
    assert.equal(sealed.split('.').length, 5)
    assert.deepEqual(decodeProtectedHeader(sealed), { alg: 'dir', enc: 'A256GCM' })
  }

  const userinfo = async (token: string) => fetch(`${s.idpIssuer}/me`, { headers: { authorization: `Bearer ${token}` } })
  const upstream = await s.app.users.accounts.upstreamAccessToken(user.id, 'idp')
  assert.ok(upstream)
  assert.equal((await userinfo(upstream)).status, 200, 'the token handed out is the provider\'s own')

  // Expired (as far as we know): the next request refreshes it at the provider.
  await s.app.users.store.updateOAuthAccount('idp', account.accountId, { expiresAt: new Date(Date.now() - 1000) })
  // Concurrent callers share one refresh (the provider rotates refresh tokens: a second would fail).
  const [refreshed, alsoRefreshed] = await Promise.all([s.app.users.accounts.upstreamAccessToken(user.id, 'idp'), s.app.users.accounts.upstreamAccessToken(user.id, 'idp')])
  assert.ok(refreshed)
  assert.equal(alsoRefreshed, refreshed)
  assert.notEqual(refreshed, upstream)
  assert.equal((await userinfo(refreshed)).status, 200)
  const after = (await s.app.users.store.listOAuthAccounts(user.id))[0]
  assert.ok(after?.expiresAt && after.expiresAt.getTime() > Date.now())
  assert.equal(await s.app.users.accounts.upstreamAccessToken(user.id, 'nope'), null)
})

test('no secret of a provider login reaches the logs, even at trace level', async (t) => {
  const log: string[] = []
  const s = await setup(t, { log })
  const browser = new WebBrowser()
  const { callback } = await toCallback(s, browser, 'logged@example.org')
  const upstreamAnswer = new URL(callback).searchParams
  const end = await browser.follow(callback, [s.issuer])
  const ours = new URL(end.location ?? '').searchParams
  const user = await s.app.users.store.getUserByEmail('logged@example.org')
  assert.ok(user)
  const [account] = await s.app.users.store.listOAuthAccounts(user.id)
  const text = log.join('')
  assert.ok(text.includes('/auth/idp/callback?'), 'the callback request was logged')
  const secrets = [IDP_SECRET, upstreamAnswer.get('code'), upstreamAnswer.get('state'), ours.get('code'), account?.accessToken, account?.refreshToken,
    browser.cookie('fastify_users_session')]
  for (const secret of secrets) {
    assert.ok(secret, 'each secret was seen')
    assert.ok(!text.includes(secret), `a secret leaked into the logs: ${secret.slice(0, 6)}…`)
  }
})

test('a deactivated user cannot sign in through a provider either', async (t) => {
  const s = await setup(t)
  const tokens = await providerLogin(s, new WebBrowser(), 'gone@example.org')
  const { id } = (await me(s, tokens.access_token)).json() as User
  await s.app.users.store.updateUser(id, { isActive: false })
  const browser = new WebBrowser()
  const { callback } = await toCallback(s, browser, 'gone@example.org')
  assertPage(await browser.follow(callback, [s.issuer]), 403, /deactivated/)
  assert.equal(browser.cookie('fastify_users_session'), undefined)
})

test('provider routes: never a 5xx, whatever the query', async (t) => {
  const s = await setup(t)
  const browser = new WebBrowser()
  const queries = [
    '', '?code=x', '?state=x', '?code=x&state=y', '?state=a&state=b&code=c', '?error=access_denied', '?error=%00%0d%0a',
    `?code=${'x'.repeat(5000)}&state=y`, '?iss=&code=x&state=y', '?code[]=x&state=y', '?%zz=1'
  ]
  for (const path of ['/auth/idp/callback', '/auth/idp/associate/callback']) {
    for (const q of queries) {
      const res = await browser.request(`${s.issuer}${path}${q}`)
      assert.ok(res.status >= 400 && res.status < 500, `${path}${q}: ${res.status}`)
      assert.match(res.body, /<!doctype html>/)
    }
  }
  for (const q of ['', '?authorize_query=', '?authorize_query=a&authorize_query=b', `?authorize_query=${'a'.repeat(9000)}`, '?x=1']) {
    const res = await browser.request(`${s.issuer}/auth/idp/authorize${q}`)
    assert.ok(res.status >= 400 && res.status < 500, `/auth/idp/authorize${q}: ${res.status}`)
  }
  const anonymous = await browser.request(`${s.issuer}/auth/idp/associate/authorize`)
  assert.equal(anonymous.status, 401)
})

test('with a prefix, the provider routes, cookies and the resumed request all live under it', async (t) => {
  const s = await setup(t, { prefix: '/api' })
  const browser = new WebBrowser()
  const { verifier, upstream } = await toProvider(browser, `${s.issuer}/api`, 'Test IdP', 'openid email')
  assert.equal(upstream.searchParams.get('redirect_uri'), `${s.issuer}/api/auth/idp/callback`)
  const page = await browser.follow(upstream, [s.idpIssuer])
  const form = pageForms(page.body, page.url).find((f) => f.action.endsWith('/login'))
  assert.ok(form)
  const back = await browser.follow(form.action, [s.idpIssuer], { form: { ...form.fields, email: 'prefixed@example.org', password: 'x' } })
  assert.ok(back.location?.startsWith(`${s.issuer}/api/auth/idp/callback?`))
  const resumed = await browser.request(back.location as string)
  assert.equal(resumed.status, 302)
  assert.ok(resumed.location?.startsWith(`${s.issuer}/api/oauth/authorize?`), resumed.location)
  const end = await browser.follow(resumed.location as string, [s.issuer])
  const res = await s.app.inject({
    method: 'POST',
    url: '/api/oauth/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ grant_type: 'authorization_code', code: new URL(end.location ?? '').searchParams.get('code') ?? '', redirect_uri: CLIENT_REDIRECT, client_id: 'web', code_verifier: verifier }).toString()
  })
  assert.equal(res.statusCode, 200, res.body)
  assert.equal((await s.app.inject({ url: '/api/users/me', headers: { authorization: `Bearer ${res.json().access_token}` } })).json().email, 'prefixed@example.org')
})
