// The account pages (/account/*), as a person in a client's sign-in popup meets them: create an
// account and go on with the authorization request, ask for a reset link, set a new password
// from it, verify the address. Driven through app.inject with a cookie jar (test/support/oauth.ts).
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import fastifyUsers, { memoryStore, type UsersEvents } from '../index.js'
import { COOKIES } from '../plugins/cookies.js'
import { build, form, FORM, ISSUER, register, type BuildOptions } from './support/app.js'
import {
  assertPage, authorizePath, Browser, CLIENTS, exchange, onlyForm, pkce, redirectParams, SPA_REDIRECT, SWAGGER_REDIRECT
} from './support/oauth.js'

const PASSWORD = 'correct horse battery'
const NEW_PASSWORD = 'a new and better password'

/** An authorization request of Swagger UI's, as its Authorize button sends it (max_age included). */
function swaggerRequest (extra: Record<string, string> = {}) {
  const { verifier, challenge } = pkce()
  const path = authorizePath({ response_type: 'code', client_id: 'swagger-ui', redirect_uri: SWAGGER_REDIRECT, scope: 'items:read', state: 'st', code_challenge: challenge, code_challenge_method: 'S256', max_age: '300', ...extra })
  return { path, verifier }
}

/** The href of the link labelled `label` (a regular expression's source) on a page, or undefined. */
const linkTo = (page: LightMyRequestResponse, label: string) => page.body.match(new RegExp(`<a href="([^"]*)">${label}</a>`))?.[1]?.replaceAll('&amp;', '&')

/** Opens the login page of a fresh request, then its "Create account" link. */
async function openRegister (browser: Browser, extra: Record<string, string> = {}) {
  const request = swaggerRequest(extra)
  const login = await browser.get(request.path)
  assertPage(login, 200, 'login page')
  const href = linkTo(login, 'Create account')
  assert.ok(href, 'the login page links to the register page')
  const page = await browser.get(href)
  assertPage(page, 200, 'register page')
  return { ...request, login, page, fields: onlyForm(page, '/account/register') }
}

/** The next link of this kind the app makes, as an app listening to the events gets it. */
function nextLink (app: FastifyInstance, event: 'verifyRequested' | 'forgotPassword') {
  return new Promise<UsersEvents['forgotPassword']>((resolve) => {
    const listener = (payload: UsersEvents['forgotPassword']) => { app.users.off(event, listener); resolve(payload) }
    app.users.on(event, listener)
  })
}

/** The path and query of a mailed link, after checking that it leads to our page. */
function pageOf (link: string, path: string) {
  const url = new URL(link)
  assert.equal(`${url.origin}${url.pathname}`, `${ISSUER}${path}`)
  return `${url.pathname}${url.search}`
}

async function resetLink (app: FastifyInstance, email: string) {
  const pending = nextLink(app, 'forgotPassword')
  const browser = new Browser(app)
  const page = await browser.get('/account/forgot-password')
  const res = await browser.post('/account/forgot-password', { ...onlyForm(page, '/account/forgot-password'), email })
  assertPage(res, 200, 'forgot-password notice')
  return pageOf((await pending).link, '/account/reset-password')
}

async function setup (t: TestContext, options: BuildOptions = {}) {
  const app = await build(t, options)
  await register(app, 'ada@example.com', PASSWORD)
  return app
}

test('register page: from the login page\'s link, an account, a signed-in browser, and the code flow goes on to a token', async (t) => {
  const app = await build(t)
  const browser = new Browser(app)
  const { login, page, fields, verifier } = await openRegister(browser)

  // The link and the form carry the login page's pending request.
  assert.equal(fields.authorize_query, onlyForm(login, '/oauth/login').authorize_query)
  assert.ok(fields.csrf_token)
  assert.match(page.body, /<input id="password" name="password" type="password" autocomplete="new-password" minlength="8" required>/)
  assert.equal(page.headers['cache-control'], 'no-store')
  assert.match(String(page.headers['content-security-policy']), /frame-ancestors 'none'/)
  assert.equal(page.headers['x-frame-options'], 'DENY')

  const created = await browser.post('/account/register', { ...fields, email: 'grace@example.com', password: PASSWORD })
  assert.equal(created.statusCode, 303, created.body)
  assert.ok(browser.session, 'the browser is signed in')
  const resumed = new URL(created.headers.location as string, ISSUER)
  assert.equal(resumed.pathname, '/oauth/authorize')
  assert.equal(resumed.searchParams.get('client_id'), 'swagger-ui')
  assert.equal(resumed.searchParams.has('max_age'), false, 'the sign-up is the recent sign-in max_age asks for')

  const params = redirectParams(await browser.get(created.headers.location as string), SWAGGER_REDIRECT)
  assert.equal(params.get('state'), 'st')
  const tokens = await exchange(app, { browser, code: params.get('code') as string, verifier, redirectUri: SWAGGER_REDIRECT, params })
  assert.equal(tokens.statusCode, 200, tokens.body)
  const user = await app.users.store.getUserByEmail('grace@example.com')
  assert.ok(user, 'the user exists')
  const me = await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${tokens.json().access_token}` } })
  assert.equal(me.json().id, user.id)
  assert.ok(await app.users.manager.authenticate('grace@example.com', PASSWORD), 'the password works')
})

test('register page: a third-party client\'s redirect origin is allowed as a form action (the sign-up redirects there)', async (t) => {
  const app = await build(t, { clients: CLIENTS })
  const browser = new Browser(app)
  const login = await browser.get(authorizePath({ response_type: 'code', client_id: 'spa', redirect_uri: SPA_REDIRECT, code_challenge: pkce().challenge, code_challenge_method: 'S256' }))
  const page = await browser.get(linkTo(login, 'Create account') as string)
  assertPage(page, 200)
  assert.match(page.body, /to continue to <strong>Some SPA<\/strong>/)
  assert.match(String(page.headers['content-security-policy']), /form-action 'self' https:\/\/app\.example\.com(;|$)/)
})

test('register page: a taken email or a refused password shows the form again (400) with the message and the email kept', async (t) => {
  const app = await setup(t)
  const browser = new Browser(app)
  const { fields } = await openRegister(browser)

  const taken = await browser.post('/account/register', { ...fields, email: 'ada@example.com', password: 'another long password' })
  assertPage(taken, 400, 'taken')
  assert.match(taken.body, /role="alert">An account with this email address exists already/)
  assert.match(taken.body, /value="ada@example\.com"/)
  assert.ok(await app.users.manager.authenticate('ada@example.com', PASSWORD), 'the account is untouched')

  const short = await browser.post('/account/register', { ...onlyForm(taken, '/account/register'), email: 'grace@example.com', password: 'short' })
  assertPage(short, 400, 'short')
  assert.match(short.body, /role="alert">Password should be at least 8 characters long/)
  assert.match(short.body, /value="grace@example\.com"/)

  const malformed = await browser.post('/account/register', { ...fields, email: 'not an address', password: PASSWORD })
  assertPage(malformed, 400, 'malformed')
  assert.match(malformed.body, /Enter a valid email address/)
  assert.equal(await app.users.store.getUserByEmail('grace@example.com'), null)
  assert.equal(browser.session, undefined, 'nobody is signed in')

  // The form shown again works.
  const created = await browser.post('/account/register', { ...onlyForm(short, '/account/register'), email: 'grace@example.com', password: PASSWORD })
  assert.equal(created.statusCode, 303, created.body)
})

test('register page: a missing or wrong CSRF token, one from another browser or another request, or a post from another origin is refused and creates nothing', async (t) => {
  const app = await build(t)
  const alice = new Browser(app)
  const mallory = new Browser(app)
  const { fields } = await openRegister(alice)
  const { fields: mallorys } = await openRegister(mallory)
  const { fields: otherRequest } = await openRegister(alice, { state: 'another' })
  const account = { email: 'grace@example.com', password: PASSWORD }

  const attempts: [string, () => Promise<LightMyRequestResponse>, number][] = [
    ['no token', () => alice.post('/account/register', { authorize_query: fields.authorize_query as string, ...account }), 400],
    ['wrong token', () => alice.post('/account/register', { ...fields, csrf_token: 'x'.repeat(43), ...account }), 403],
    ['another browser\'s token', () => alice.post('/account/register', { ...mallorys, ...account }), 403],
    ['the right token without the browser cookie', () => new Browser(app).post('/account/register', { ...fields, ...account }), 403],
    ['a token for another request', () => alice.post('/account/register', { ...otherRequest, authorize_query: fields.authorize_query as string, ...account }), 403],
    ['the login form\'s token', async () => {
      const login = await alice.get(swaggerRequest().path)
      return alice.post('/account/register', { ...onlyForm(login, '/oauth/login'), ...account })
    }, 403],
    ['another origin of the same site', () => app.inject({
      method: 'POST', url: '/account/register', headers: alice.headers({ ...FORM, 'sec-fetch-site': 'same-site' }), payload: form({ ...fields, ...account })
    }), 403],
    ['JSON instead of a form', () => app.inject({
      method: 'POST', url: '/account/register', headers: alice.headers({ 'content-type': 'application/json' }), payload: { ...fields, ...account }
    }), 415]
  ]
  for (const [name, attempt, status] of attempts) {
    const res = await attempt()
    assertPage(res, status, name)
    assert.equal(res.cookies.some((c) => c.name === COOKIES.session), false, `${name}: nobody signed in`)
  }
  assert.equal(await app.users.store.getUserByEmail('grace@example.com'), null, 'no user was created')
  // Alice's own form still works.
  assert.equal((await alice.post('/account/register', { ...fields, ...account })).statusCode, 303)
})

test('register page: a tampered pending request is shown, never followed', async (t) => {
  const app = await build(t)
  const browser = new Browser(app)
  const { fields } = await openRegister(browser)
  const tampered = new URLSearchParams(fields.authorize_query)
  tampered.set('redirect_uri', 'https://evil.example.com/cb')
  const res = await browser.post('/account/register', { ...fields, authorize_query: tampered.toString(), email: 'grace@example.com', password: PASSWORD })
  assertPage(res, 400, 'tampered')
  assert.match(res.body, /This sign-in request cannot be completed/)
  assertPage(await browser.get(`/account/register?${new URLSearchParams({ authorize_query: tampered.toString() }).toString()}`), 400, 'GET')
  assert.equal(await app.users.store.getUserByEmail('grace@example.com'), null)
})

test('register page: past the register limit, a 429 page with Retry-After, and no user', async (t) => {
  const app = await build(t, { rateLimit: { register: { max: 1, timeWindow: 3600 } } })
  const browser = new Browser(app)
  const { fields } = await openRegister(browser)
  assert.equal((await browser.post('/account/register', { ...fields, email: 'one@example.com', password: PASSWORD })).statusCode, 303)
  const second = new Browser(app)
  const { fields: seconds } = await openRegister(second)
  const refused = await second.post('/account/register', { ...seconds, email: 'two@example.com', password: PASSWORD })
  assertPage(refused, 429, 'limited')
  assert.ok(Number(refused.headers['retry-after']) > 0)
  assert.match(refused.body, /Too many attempts/)
  assert.equal(await app.users.store.getUserByEmail('two@example.com'), null)
})

test('registration: false: no "Create account" link, and no register page', async (t) => {
  const app = await build(t, { registration: false })
  const browser = new Browser(app)
  const login = await browser.get(swaggerRequest().path)
  assertPage(login, 200)
  assert.equal(linkTo(login, 'Create account'), undefined)
  assert.doesNotMatch(login.body, /account\/register/)
  assert.ok(linkTo(login, 'Forgot password\\?'), 'the forgot-password link stays')
  const carried = new URLSearchParams({ authorize_query: onlyForm(login, '/oauth/login').authorize_query as string }).toString()
  assert.equal((await browser.get(`/account/register?${carried}`)).statusCode, 404)
  assert.equal((await browser.post('/account/register', { authorize_query: 'x', csrf_token: 'y', email: 'grace@example.com', password: PASSWORD })).statusCode, 404)
})

test('forgot-password page: the same notice for an address with an account and one without; only the account gets a link', async (t) => {
  const app = await setup(t)
  const links: string[] = []
  app.users.on('forgotPassword', ({ link }) => { links.push(link) })
  const browser = new Browser(app)
  const login = await browser.get(swaggerRequest().path)
  const href = linkTo(login, 'Forgot password\\?') as string
  const carried = new URL(href, ISSUER).searchParams.get('authorize_query')
  assert.equal(carried, onlyForm(login, '/oauth/login').authorize_query, 'the link carries the pending request')

  const notices: LightMyRequestResponse[] = []
  for (const email of ['ada@example.com', 'nobody@example.com']) {
    const page = await browser.get(href)
    assertPage(page, 200, 'forgot page')
    assert.equal(linkTo(page, 'Back to sign in'), `/oauth/authorize?${carried}`)
    const notice = await browser.post('/account/forgot-password', { ...onlyForm(page, '/account/forgot-password'), email })
    assertPage(notice, 200, email)
    assert.match(notice.body, new RegExp(`If an account exists for ${email.replaceAll('.', '\\.')}, we sent it a link`))
    assert.equal(linkTo(notice, 'Back to sign in'), `/oauth/authorize?${carried}`)
    notices.push(notice)
  }
  const [known, unknown] = notices as [LightMyRequestResponse, LightMyRequestResponse]
  assert.equal(known.body.replace('ada@example.com', 'X'), unknown.body.replace('nobody@example.com', 'X'), 'the notices differ only by the address')
  assert.deepEqual(Object.keys(known.headers).sort(), Object.keys(unknown.headers).sort())
  assert.equal(links.length, 1, 'one link, for the account')
  assert.match(links[0] as string, /^http:\/\/localhost:3000\/account\/reset-password\?token=/)

  // Without a pending request there is no way back to a sign-in; CSRF is checked as everywhere.
  const bare = await browser.get('/account/forgot-password')
  assertPage(bare, 200)
  assert.equal(linkTo(bare, 'Back to sign in'), undefined)
  const forged = await new Browser(app).post('/account/forgot-password', { ...onlyForm(bare, '/account/forgot-password'), email: 'ada@example.com' })
  assertPage(forged, 403, 'another browser')
  assert.equal(links.length, 1, 'no link for a forged form')
})

test('forgot-password page: past the mail limit, a 429 page', async (t) => {
  const app = await setup(t, { rateLimit: { accountMail: { max: 1, timeWindow: 3600 } } })
  const browser = new Browser(app)
  const page = await browser.get('/account/forgot-password')
  const fields = onlyForm(page, '/account/forgot-password')
  assertPage(await browser.post('/account/forgot-password', { ...fields, email: 'ada@example.com' }), 200)
  assertPage(await browser.post('/account/forgot-password', { ...fields, email: 'ada@example.com' }), 429)
})

test('reset-password page from the mailed link: the new password signs in, the old does not; the link works once', async (t) => {
  const app = await setup(t)
  const link = await resetLink(app, 'ada@example.com')
  const browser = new Browser(app)
  const page = await browser.get(link)
  assertPage(page, 200, 'reset page')
  // The URL holds the token: only the origin is a referrer, by header and by the page's own meta tag.
  assert.equal(page.headers['referrer-policy'], 'strict-origin')
  assert.match(page.body, /<meta name="referrer" content="strict-origin">/)
  assert.equal(page.headers['cache-control'], 'no-store')
  assert.match(page.body, /autocomplete="new-password" minlength="8"/)
  const fields = onlyForm(page, '/account/reset-password')
  assert.equal(fields.token, new URL(link, ISSUER).searchParams.get('token'))

  // A refused password: the form again, and the link still works.
  const short = await browser.post('/account/reset-password', { ...fields, password: 'short' })
  assertPage(short, 400, 'short')
  assert.match(short.body, /Password should be at least 8 characters long/)
  assert.ok(await app.users.manager.authenticate('ada@example.com', PASSWORD), 'the old password still works')

  const done = await browser.post('/account/reset-password', { ...onlyForm(short, '/account/reset-password'), password: NEW_PASSWORD })
  assertPage(done, 200, 'reset')
  assert.match(done.body, /Your password is set: sign in with it/)
  assert.equal(await app.users.manager.authenticate('ada@example.com', PASSWORD), null, 'the old password is refused')
  assert.ok(await app.users.manager.authenticate('ada@example.com', NEW_PASSWORD), 'the new one works')

  // The link is used: opened again, its form ends on an error page that offers a new link.
  const again = await browser.get(link)
  const second = await browser.post('/account/reset-password', { ...onlyForm(again, '/account/reset-password'), password: 'yet another password' })
  assertPage(second, 400, 'second use')
  assert.match(second.body, /invalid, used or expired: ask for a new one/)
  assert.equal(linkTo(second, 'Ask for a new link'), '/account/forgot-password')
  assert.ok(await app.users.manager.authenticate('ada@example.com', NEW_PASSWORD))

  // No token, or a forged one: the same error page.
  assertPage(await browser.get('/account/reset-password'), 400, 'no token')
  const forgedPage = await browser.get('/account/reset-password?token=forged')
  assertPage(await browser.post('/account/reset-password', { ...onlyForm(forgedPage, '/account/reset-password'), password: NEW_PASSWORD }), 400, 'forged')
})

test('reset-password page: a form posted without its CSRF token, from another browser or for another link changes nothing', async (t) => {
  const app = await setup(t)
  const link = await resetLink(app, 'ada@example.com')
  const token = new URL(link, ISSUER).searchParams.get('token') as string
  const alice = new Browser(app)
  const fields = onlyForm(await alice.get(link), '/account/reset-password')
  const mallory = new Browser(app)
  const mallorys = onlyForm(await mallory.get('/account/reset-password?token=malloryslink'), '/account/reset-password')
  for (const [name, res] of [
    ['another browser', await new Browser(app).post('/account/reset-password', { ...fields, password: 'attacker password 1' })],
    ['a token for another link', await mallory.post('/account/reset-password', { ...mallorys, token, password: 'attacker password 2' })],
    ['a wrong token', await alice.post('/account/reset-password', { ...fields, csrf_token: 'nope', password: 'attacker password 3' })]
  ] as const) {
    assertPage(res, 403, name)
  }
  assertPage(await alice.post('/account/reset-password', { token, password: 'attacker password 4' }), 400, 'no token')
  const crossSite = await app.inject({
    method: 'POST', url: '/account/reset-password', headers: alice.headers({ ...FORM, 'sec-fetch-site': 'cross-site' }), payload: form({ ...fields, password: 'attacker password 5' })
  })
  assertPage(crossSite, 403, 'another site')
  assert.ok(await app.users.manager.authenticate('ada@example.com', PASSWORD), 'the password is unchanged')
})

test('verify page: opening the link changes nothing; its button verifies; again, a friendly notice; a bad link, an error page', async (t) => {
  const app = await setup(t)
  const pending = nextLink(app, 'verifyRequested')
  await app.inject({ method: 'POST', url: '/auth/request-verify-token', payload: { email: 'ada@example.com' } })
  const link = pageOf((await pending).link, '/account/verify')

  const browser = new Browser(app)
  const page = await browser.get(link)
  assertPage(page, 200, 'verify page')
  assert.equal(page.headers['referrer-policy'], 'strict-origin')
  assert.match(page.body, /<button type="submit">Verify my email address<\/button>/)
  assert.doesNotMatch(page.body, /ada@example\.com/, 'the page shows nothing of the account')
  // Opened twice, as a mail scanner and then its owner would: still not verified.
  await new Browser(app).get(link)
  assert.equal((await app.users.store.getUserByEmail('ada@example.com'))?.isVerified, false)

  const fields = onlyForm(page, '/account/verify')
  assertPage(await new Browser(app).post('/account/verify', fields), 403, 'another browser')
  assert.equal((await app.users.store.getUserByEmail('ada@example.com'))?.isVerified, false)

  const verified = await browser.post('/account/verify', fields)
  assertPage(verified, 200, 'verified')
  assert.match(verified.body, /Your email address ada@example\.com is verified\./)
  assert.equal((await app.users.store.getUserByEmail('ada@example.com'))?.isVerified, true)

  const again = await browser.post('/account/verify', fields)
  assertPage(again, 200, 'again')
  assert.match(again.body, /verified already/)

  const bad = await browser.get('/account/verify?token=not-a-token')
  const refused = await browser.post('/account/verify', onlyForm(bad, '/account/verify'))
  assertPage(refused, 400, 'bad token')
  assert.match(refused.body, /This verification link is invalid or has expired/)
  assertPage(await browser.get('/account/verify'), 400, 'no token')
})

test('hostile values are escaped on the account pages', async (t) => {
  const app = await build(t)
  const evil = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
  const browser = new Browser(app)
  const { fields } = await openRegister(browser, { state: evil })
  assert.equal(new URLSearchParams(fields.authorize_query).get('state'), evil, 'the carried request comes back intact')
  const pages = [
    await browser.post('/account/register', { ...fields, email: evil, password: PASSWORD }),
    await browser.post('/account/register', { ...fields, email: `${evil}@example.com`, password: PASSWORD }),
    await browser.get(`/account/forgot-password?${new URLSearchParams({ authorize_query: fields.authorize_query as string }).toString()}`),
    await browser.post('/account/forgot-password', { ...onlyForm(await browser.get('/account/forgot-password'), '/account/forgot-password'), email: evil }),
    await browser.get(`/account/reset-password?${new URLSearchParams({ token: evil }).toString()}`),
    await browser.get(`/account/verify?${new URLSearchParams({ token: evil }).toString()}`)
  ]
  for (const page of pages) {
    assert.ok(page.statusCode < 500, page.body)
    assert.doesNotMatch(page.body, /<script/i)
    assert.doesNotMatch(page.body, /<img/i)
  }
  assert.match(pages[0]?.body ?? '', /value="&quot;&gt;&lt;script&gt;/)
  assert.equal(onlyForm(pages[4] as LightMyRequestResponse, '/account/reset-password').token, evil)
})

test('the token of a mailed link, and the pending request, never reach the logs', async (t) => {
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _enc, cb) { lines.push(String(chunk)); cb() } })
  const app = Fastify({ logger: { level: 'trace', stream } })
  t.after(() => app.close())
  await app.register(fastifyUsers, { issuer: ISSUER, store: memoryStore(), docs: { path: '/docs' }, rateLimit: false })
  await app.ready()
  await register(app, 'ada@example.com', PASSWORD)
  const link = await resetLink(app, 'ada@example.com')
  const token = new URL(link, ISSUER).searchParams.get('token') as string
  const browser = new Browser(app)
  const page = await browser.get(link)
  assertPage(page, 200)
  assertPage(await browser.post('/account/reset-password', { ...onlyForm(page, '/account/reset-password'), password: NEW_PASSWORD }), 200)
  assertPage(await browser.get(`/account/verify?token=${token}`), 200)
  const { path } = swaggerRequest({ state: 'client-state-secret' })
  const login = await browser.get(path)
  assertPage(await browser.get(linkTo(login, 'Create account') as string), 200)

  const log = lines.join('')
  assert.match(log, /\/account\/reset-password\?token=%5Bredacted%5D/, 'the page was logged, its token redacted')
  assert.match(log, /\/account\/verify\?token=%5Bredacted%5D/)
  for (const secret of [token, token.split('.')[2] as string, NEW_PASSWORD, 'client-state-secret']) {
    assert.ok(!log.includes(secret), `a secret leaked into the logs: ${secret.slice(0, 8)}…`)
  }
})
