import { test } from 'node:test'
import assert from 'node:assert/strict'
import { decodeJwt } from 'jose'
import { COOKIES } from '../plugins/cookies.js'
import { build, ISSUER, register } from './support/app.js'
import {
  Browser,
  CLIENTS,
  SPA_REDIRECT,
  SWAGGER_REDIRECT,
  assertOAuthError,
  assertPage,
  authorizeCode,
  authorizePath,
  consentForm,
  exchange,
  introspect,
  onlyForm,
  pkce,
  redirectParams,
  refresh
} from './support/oauth.js'

const setsSession = (res: { cookies: { name: string }[] }) => res.cookies.some((c) => c.name === COOKIES.session)

function codeRequest (clientId: string, redirectUri: string | undefined, extra: Record<string, string | undefined> = {}) {
  const { verifier, challenge } = pkce()
  return {
    verifier,
    path: authorizePath({ response_type: 'code', client_id: clientId, redirect_uri: redirectUri, state: 'xyz', code_challenge: challenge, code_challenge_method: 'S256', ...extra })
  }
}

test('first-party client: login page, login, then a code without consent; the code buys tokens', async (t) => {
  const app = await build(t)
  await register(app, 'ada@example.com')
  const browser = new Browser(app)
  const { path, verifier } = codeRequest('swagger-ui', SWAGGER_REDIRECT, { scope: 'items:read' })

  const page = await browser.get(path)
  assertPage(page, 200, 'login page')
  assert.ok(page.cookies.some((c) => c.name === COOKIES.browser), 'the login page sets the browser cookie')
  assert.ok(!setsSession(page))
  const fields = onlyForm(page, '/oauth/login')
  assert.equal(fields.authorize_query, new URL(path, ISSUER).search.slice(1))
  assert.ok(fields.csrf_token)

  const login = await browser.submitLogin(page, 'ada@example.com')
  assert.equal(login.statusCode, 303)
  assert.ok(setsSession(login), 'login sets the session cookie')
  const resumed = new URL(login.headers.location as string, ISSUER)
  assert.equal(resumed.pathname, '/oauth/authorize')
  assert.equal(resumed.searchParams.get('client_id'), 'swagger-ui')

  const answer = await browser.get(login.headers.location as string)
  const params = redirectParams(answer, SWAGGER_REDIRECT)
  assert.equal(params.get('state'), 'xyz')
  const code = params.get('code') as string
  assert.ok(code)

  const tokens = await exchange(app, { browser, code, verifier, redirectUri: SWAGGER_REDIRECT, params })
  assert.equal(tokens.statusCode, 200, tokens.body)
  const body = tokens.json()
  assert.equal(body.token_type, 'Bearer')
  assert.equal(body.scope, 'items:read')
  assert.equal(typeof body.refresh_token, 'string')
  assert.equal(tokens.headers['cache-control'], 'no-store')

  // The session is remembered: the next authorization request needs no login.
  const again = await browser.get(codeRequest('swagger-ui', SWAGGER_REDIRECT).path)
  assert.ok(redirectParams(again, SWAGGER_REDIRECT).get('code'))
})

test('third-party client: consent page, allow gives a code that buys tokens', async (t) => {
  const app = await build(t, { clients: CLIENTS })
  await register(app, 'ada@example.com')
  const browser = new Browser(app)
  const { path, verifier } = codeRequest('spa', SPA_REDIRECT, { scope: 'items:read' })
  const consent = await browser.authorize(path, 'ada@example.com')
  assertPage(consent, 200, 'consent page')
  assert.match(consent.body, /Authorize Some SPA/)
  assert.match(consent.body, /ada@example\.com/)
  assert.match(consent.body, /items:read/)
  assert.doesNotMatch(consent.body, /items:write/)
  assert.equal(consent.headers['x-frame-options'], 'DENY')
  assert.match(String(consent.headers['content-security-policy']), /frame-ancestors 'none'/)
  assert.equal(consent.headers['cache-control'], 'no-store')

  const allow = consentForm(consent, 'allow')
  assert.equal(allow.authorize_query, new URL(path, ISSUER).search.slice(1))
  const answer = await browser.post('/oauth/consent', allow)
  const params = redirectParams(answer, SPA_REDIRECT, 303)
  assert.equal(params.get('state'), 'xyz')
  const code = params.get('code') as string
  const tokens = await exchange(app, { browser, code, verifier, redirectUri: SPA_REDIRECT, params }, 'spa')
  assert.equal(tokens.statusCode, 200, tokens.body)
  assert.equal(tokens.json().scope, 'items:read')
  assert.equal(decodeJwt(tokens.json().access_token).client_id, 'spa')
})

test('third-party client: deny sends access_denied with state and iss, and no code', async (t) => {
  const app = await build(t, { clients: CLIENTS })
  await register(app, 'ada@example.com')
  const browser = new Browser(app)
  const consent = await browser.authorize(codeRequest('spa', SPA_REDIRECT).path, 'ada@example.com')
  const answer = await browser.post('/oauth/consent', consentForm(consent, 'deny'))
  const params = redirectParams(answer, SPA_REDIRECT, 303)
  assert.equal(params.get('error'), 'access_denied')
  assert.equal(params.get('state'), 'xyz')
  assert.equal(params.get('code'), null)
})

test('prompt=consent shows the consent page to a first-party client too', async (t) => {
  const app = await build(t)
  await register(app, 'ada@example.com')
  const browser = new Browser(app)
  const consent = await browser.authorize(codeRequest('swagger-ui', SWAGGER_REDIRECT, { prompt: 'consent' }).path, 'ada@example.com')
  assertPage(consent, 200)
  consentForm(consent, 'allow')
})

test('iss is on every redirect to the client: code, access_denied, login_required, consent_required, request errors (RFC 9207)', async (t) => {
  const app = await build(t, { clients: CLIENTS })
  await register(app, 'ada@example.com')
  const anonymous = new Browser(app)
  const signedIn = new Browser(app)
  await authorizeCode(app, { browser: signedIn })

  const cases: [string, Browser, string, string | null][] = [
    ['code', signedIn, codeRequest('swagger-ui', SWAGGER_REDIRECT).path, null],
    ['login_required', anonymous, codeRequest('swagger-ui', SWAGGER_REDIRECT, { prompt: 'none' }).path, 'login_required'],
    ['consent_required', signedIn, codeRequest('spa', SPA_REDIRECT, { prompt: 'none' }).path, 'consent_required'],
    ['unsupported_response_type', anonymous, codeRequest('spa', SPA_REDIRECT, { response_type: 'token' }).path, 'unsupported_response_type'],
    ['missing response_type', anonymous, codeRequest('spa', SPA_REDIRECT, { response_type: undefined }).path, 'invalid_request'],
    ['no PKCE', anonymous, authorizePath({ response_type: 'code', client_id: 'spa', redirect_uri: SPA_REDIRECT, state: 'xyz' }), 'invalid_request'],
    ['response_mode', anonymous, codeRequest('spa', SPA_REDIRECT, { response_mode: 'fragment' }).path, 'invalid_request'],
    ['request object', anonymous, codeRequest('spa', SPA_REDIRECT, { request: 'eyJ.x.y' }).path, 'request_not_supported'],
    ['prompt none+login', anonymous, codeRequest('spa', SPA_REDIRECT, { prompt: 'none login' }).path, 'invalid_request']
  ]
  for (const [name, browser, path, error] of cases) {
    const res = await browser.get(path)
    const redirect = name === 'code' ? SWAGGER_REDIRECT : path.includes('swagger-ui') ? SWAGGER_REDIRECT : SPA_REDIRECT
    const params = redirectParams(res, redirect)
    assert.equal(params.get('state'), 'xyz', name)
    assert.equal(params.get('error'), error, name)
    if (error === null) assert.ok(params.get('code'), name)
    else assert.equal(params.get('code'), null, name)
  }

  // And after the consent form, both ways.
  const consent = await signedIn.get(codeRequest('spa', SPA_REDIRECT).path)
  for (const decision of ['allow', 'deny'] as const) {
    redirectParams(await signedIn.post('/oauth/consent', consentForm(consent, decision)), SPA_REDIRECT, 303)
  }
})

test('state is echoed exactly, special characters included, and left out when not sent', async (t) => {
  const app = await build(t)
  await register(app, 'ada@example.com')
  const state = 'a b&c=d/é?#%20"<>'
  const a = await authorizeCode(app, { state })
  assert.equal(a.params.get('state'), state)
  assert.deepEqual(a.params.getAll('state'), [state])

  const { path } = codeRequest('swagger-ui', SWAGGER_REDIRECT, { state: undefined })
  const params = redirectParams(await a.browser.get(path), SWAGGER_REDIRECT)
  assert.equal(params.has('state'), false)
})

test('a redirect URI with a query keeps it; the response parameters are added to it', async (t) => {
  const withQuery = 'https://q.example.com/cb?tenant=1'
  const app = await build(t, { clients: [{ clientId: 'q', redirectUris: [withQuery] }] })
  await register(app, 'ada@example.com')
  const browser = new Browser(app)
  const consent = await browser.authorize(codeRequest('q', withQuery).path, 'ada@example.com')
  const answer = await browser.post('/oauth/consent', consentForm(consent, 'allow'))
  assert.equal(answer.statusCode, 303)
  const url = new URL(answer.headers.location as string)
  assert.equal(url.searchParams.get('tenant'), '1')
  assert.ok(url.searchParams.get('code'))
  assert.deepEqual(url.searchParams.getAll('iss'), [ISSUER])
})

test('native app: the loopback redirect URI matches on any port', async (t) => {
  const app = await build(t, { clients: CLIENTS })
  await register(app, 'ada@example.com')
  const redirectUri = 'http://127.0.0.1:53117/callback'
  const { path } = codeRequest('native', redirectUri)
  const browser = new Browser(app)
  const consent = await browser.authorize(path, 'ada@example.com')
  const answer = await browser.post('/oauth/consent', consentForm(consent, 'allow'))
  assert.ok(redirectParams(answer, redirectUri, 303).get('code'))
  // A loopback URI cannot be the implicit default: the port has to come from the request.
  assertPage(await browser.get(codeRequest('native', undefined).path), 400)
})

test('scope is narrowed, not refused: unknown and not-allowed scopes are dropped; the token response says what was granted', async (t) => {
  const app = await build(t, { clients: [...CLIENTS, { clientId: 'narrow', scopes: ['openid', 'items:read'], redirectUris: ['https://narrow.example.com/cb'] }] })
  await register(app, 'ada@example.com')

  const a = await authorizeCode(app, { scope: 'items:read nope:nope users:admin items:read' })
  const tokens = await exchange(app, a)
  assert.equal(tokens.statusCode, 200, tokens.body)
  assert.equal(tokens.json().scope, 'items:read')
  assert.equal(decodeJwt(tokens.json().access_token).scope, 'items:read')

  // The client's own limit: items:write is not its to have.
  const browser = new Browser(app)
  const { path, verifier } = codeRequest('narrow', 'https://narrow.example.com/cb', { scope: 'openid items:read items:write' })
  const consent = await browser.authorize(path, 'ada@example.com')
  assert.match(consent.body, /items:read/)
  assert.doesNotMatch(consent.body, /items:write/)
  const params = redirectParams(await browser.post('/oauth/consent', consentForm(consent, 'allow')), 'https://narrow.example.com/cb', 303)
  const narrow = await exchange(app, { browser, code: params.get('code') as string, verifier, redirectUri: 'https://narrow.example.com/cb', params }, 'narrow')
  assert.equal(narrow.statusCode, 200, narrow.body)
  assert.deepEqual(narrow.json().scope.split(' ').sort(), ['items:read', 'openid'])

  // No scope asked: the defaults, which never include openid.
  const defaults = await exchange(app, await authorizeCode(app, { browser: a.browser }))
  assert.deepEqual(defaults.json().scope.split(' ').sort(), ['items:read', 'items:write'])
  assert.equal(defaults.json().id_token, undefined)
})

test('nonce ends up in the id_token, with auth_time and the client as audience', async (t) => {
  const app = await build(t)
  const user = await register(app, 'ada@example.com')
  const nonce = 'n-0S6_WzA2Mj'
  const a = await authorizeCode(app, { scope: 'openid email', nonce })
  const tokens = await exchange(app, a)
  assert.equal(tokens.statusCode, 200, tokens.body)
  const idToken = tokens.json().id_token
  assert.equal(typeof idToken, 'string')
  const claims = decodeJwt(idToken)
  assert.equal(claims.nonce, nonce)
  assert.equal(claims.sub, user.id)
  assert.equal(claims.iss, ISSUER)
  assert.equal(claims.aud, 'swagger-ui')
  assert.equal(typeof claims.auth_time, 'number')

  // Without a nonce in the request, none in the id_token.
  const plain = await exchange(app, await authorizeCode(app, { scope: 'openid', browser: a.browser }))
  assert.equal(decodeJwt(plain.json().id_token).nonce, undefined)
})

test('prompt=none without a session redirects login_required; with one it gives a code', async (t) => {
  const app = await build(t)
  await register(app, 'ada@example.com')
  const browser = new Browser(app)
  const { path } = codeRequest('swagger-ui', SWAGGER_REDIRECT, { prompt: 'none' })
  const params = redirectParams(await browser.get(path), SWAGGER_REDIRECT)
  assert.equal(params.get('error'), 'login_required')
  assert.equal(params.get('state'), 'xyz')
  assert.equal(params.get('code'), null)

  await authorizeCode(app, { browser })
  assert.ok(redirectParams(await browser.get(codeRequest('swagger-ui', SWAGGER_REDIRECT, { prompt: 'none' }).path), SWAGGER_REDIRECT).get('code'))
})

test('prompt=login shows the login page even with a session, then gives a code from the new session', async (t) => {
  const app = await build(t)
  await register(app, 'ada@example.com')
  const a = await authorizeCode(app)
  const before = a.browser.session
  const { path } = codeRequest('swagger-ui', SWAGGER_REDIRECT, { prompt: 'login' })
  const page = await a.browser.get(path)
  assertPage(page, 200)
  onlyForm(page, '/oauth/login')

  const login = await a.browser.submitLogin(page, 'ada@example.com')
  assert.equal(login.statusCode, 303)
  const resumed = new URL(login.headers.location as string, ISSUER)
  assert.equal(resumed.searchParams.has('prompt'), false, 'prompt=login is satisfied by this login')
  assert.notEqual(a.browser.session, before)
  assert.ok(redirectParams(await a.browser.get(login.headers.location as string), SWAGGER_REDIRECT).get('code'))
})

test('login page: anti-framing, no-store, same-origin referrer, CSP that allows posting to ourselves and the client only', async (t) => {
  const app = await build(t, { clients: CLIENTS })
  const res = await new Browser(app).get(codeRequest('spa', SPA_REDIRECT).path)
  assertPage(res, 200)
  const csp = String(res.headers['content-security-policy'])
  assert.match(csp, /frame-ancestors 'none'/)
  assert.match(csp, /default-src 'none'/)
  assert.match(csp, /form-action 'self' https:\/\/app\.example\.com(;|$)/)
  assert.doesNotMatch(csp, /script-src/)
  assert.equal(res.headers['x-frame-options'], 'DENY')
  assert.equal(res.headers['cache-control'], 'no-store')
  assert.equal(res.headers['x-content-type-options'], 'nosniff')
  assert.equal(res.headers['referrer-policy'], 'same-origin')
  assert.match(String(res.headers['content-type']), /^text\/html; charset=utf-8/)
  const cookie = res.cookies.find((c) => c.name === COOKIES.browser)
  assert.ok(cookie)
  assert.equal(cookie.httpOnly, true)
  assert.equal(String(cookie.sameSite).toLowerCase(), 'lax')

  // Error pages are just as guarded.
  const error = await new Browser(app).get(authorizePath({ client_id: 'nobody', redirect_uri: SPA_REDIRECT }))
  assertPage(error, 400)
  assert.match(String(error.headers['content-security-policy']), /frame-ancestors 'none'/)
  assert.equal(error.headers['x-frame-options'], 'DENY')
  assert.equal(error.headers['cache-control'], 'no-store')
})

test('values from the request are HTML-escaped on the login page', async (t) => {
  const app = await build(t, { clients: CLIENTS })
  const evil = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
  const { path } = codeRequest('spa', SPA_REDIRECT, { login_hint: evil, state: evil, nonce: `'${evil}`, scope: `items:read ${evil}` })
  const res = await new Browser(app).get(path)
  assertPage(res, 200)
  assert.doesNotMatch(res.body, /<script/i)
  assert.doesNotMatch(res.body, /<img/i)
  assert.match(res.body, /value="&quot;&gt;&lt;script&gt;alert\(1\)&lt;\/script&gt;/)
  // The carried request comes back intact from the hidden field.
  const fields = onlyForm(res, '/oauth/login')
  assert.equal(new URLSearchParams(fields.authorize_query).get('state'), evil)
  assert.equal(new URLSearchParams(fields.authorize_query).get('login_hint'), evil)

  // And on the 401 page that echoes the email typed in.
  const wrong = await new Browser(app).post('/oauth/login', { ...fields, email: evil, password: 'x' })
  assert.doesNotMatch(wrong.body, /<script/i)
})

test('values are HTML-escaped on the consent page (client name, email)', async (t) => {
  const evil = '<script>alert(1)</script>'
  const app = await build(t, { clients: [{ clientId: 'evil', name: evil, redirectUris: ['https://evil.example.com/cb'] }] })
  await register(app, 'ada@example.com')
  const browser = new Browser(app)
  const login = await browser.get(codeRequest('evil', 'https://evil.example.com/cb').path)
  assert.doesNotMatch(login.body, /<script/i)
  const consent = await browser.authorize(codeRequest('evil', 'https://evil.example.com/cb').path, 'ada@example.com')
  assertPage(consent, 200)
  assert.doesNotMatch(consent.body, /<script/i)
  assert.match(consent.body, /&lt;script&gt;/)
})

test('wrong password: 401 login page again, no session cookie; unknown user alike', async (t) => {
  const app = await build(t)
  await register(app, 'ada@example.com')
  for (const [email, password] of [['ada@example.com', 'wrong password'], ['nobody@example.com', 'correct horse battery']] as const) {
    const browser = new Browser(app)
    const page = await browser.get(codeRequest('swagger-ui', SWAGGER_REDIRECT).path)
    const res = await browser.submitLogin(page, email, password)
    assertPage(res, 401, email)
    assert.ok(!setsSession(res), 'no session cookie after a failed login')
    assert.equal(browser.session, undefined)
    assert.match(res.body, /Wrong email or password/)
    assert.equal(res.headers['x-frame-options'], 'DENY')
    // The page is a login form again, usable for the next try.
    const retry = await browser.submitLogin(res, 'ada@example.com')
    assert.equal(retry.statusCode, 303)
  }
})

test('an inactive user cannot sign in', async (t) => {
  const app = await build(t)
  const user = await register(app, 'ada@example.com')
  await app.users.store.updateUser(user.id, { isActive: false })
  const browser = new Browser(app)
  const res = await browser.submitLogin(await browser.get(codeRequest('swagger-ui', SWAGGER_REDIRECT).path), 'ada@example.com')
  assertPage(res, 401)
  assert.equal(browser.session, undefined)
})

test('logout ends the session and revokes what was authorized from it, and only that', async (t) => {
  const app = await build(t, { clients: CLIENTS })
  await register(app, 'ada@example.com')
  const a = await authorizeCode(app)
  const tokens = (await exchange(app, a)).json()
  assert.equal(typeof tokens.refresh_token, 'string')
  // Another session of the same user, in another browser.
  const other = await authorizeCode(app)
  const otherTokens = (await exchange(app, other)).json()

  const logout = await app.inject({ method: 'POST', url: '/auth/logout', headers: a.browser.headers() })
  assert.equal(logout.statusCode, 204)
  a.browser.keep(logout)
  assert.equal(a.browser.session, undefined, 'the session cookie is cleared')

  assertOAuthError(await refresh(app, tokens.refresh_token), 'invalid_grant')
  assert.equal((await introspect(app, tokens.access_token)).active, false)

  const page = await a.browser.get(codeRequest('swagger-ui', SWAGGER_REDIRECT).path)
  assertPage(page, 200)
  onlyForm(page, '/oauth/login')

  // The other browser's session and tokens live on.
  const fresh = await refresh(app, otherTokens.refresh_token)
  assert.equal(fresh.statusCode, 200, fresh.body)
  assert.ok(redirectParams(await other.browser.get(codeRequest('swagger-ui', SWAGGER_REDIRECT).path), SWAGGER_REDIRECT).get('code'))
})

test('logout with the session cookie replayed afterwards: no session', async (t) => {
  const app = await build(t)
  await register(app, 'ada@example.com')
  const a = await authorizeCode(app)
  const stolen = a.browser.cookies.get(COOKIES.session) as string
  await app.inject({ method: 'POST', url: '/auth/logout', headers: a.browser.headers() })
  const replay = new Browser(app)
  replay.cookies.set(COOKIES.session, stolen)
  const page = await replay.get(codeRequest('swagger-ui', SWAGGER_REDIRECT, { prompt: 'none' }).path)
  assert.equal(redirectParams(page, SWAGGER_REDIRECT).get('error'), 'login_required')
})

test('max_age: a sign-in older than max_age asks again, a fresh one does not; a bad value is invalid_request', async (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
  const app = await build(t)
  await register(app, 'ada@example.com')
  const a = await authorizeCode(app, { scope: 'openid' })
  const firstAuthTime = decodeJwt((await exchange(app, a)).json().id_token).auth_time as number

  // Fresh enough: a code at once.
  assert.ok(redirectParams(await a.browser.get(codeRequest('swagger-ui', SWAGGER_REDIRECT, { max_age: '300' }).path), SWAGGER_REDIRECT).get('code'))

  t.mock.timers.tick(301_000)
  const { path, verifier } = codeRequest('swagger-ui', SWAGGER_REDIRECT, { max_age: '300', scope: 'openid' })
  const page = await a.browser.get(path)
  assertPage(page, 200)
  onlyForm(page, '/oauth/login')
  // prompt=none cannot show that page.
  assert.equal(redirectParams(await a.browser.get(codeRequest('swagger-ui', SWAGGER_REDIRECT, { max_age: '300', prompt: 'none' }).path), SWAGGER_REDIRECT).get('error'), 'login_required')

  const login = await a.browser.submitLogin(page, 'ada@example.com')
  assert.equal(login.statusCode, 303)
  assert.equal(new URL(login.headers.location as string, ISSUER).searchParams.has('max_age'), false, 'satisfied by this sign-in')
  const params = redirectParams(await a.browser.get(login.headers.location as string), SWAGGER_REDIRECT)
  const code = params.get('code')
  assert.ok(code)
  const tokens = await exchange(app, { ...a, code, verifier })
  assert.equal(tokens.statusCode, 200, tokens.body)
  // auth_time is the new sign-in's.
  assert.ok((decodeJwt(tokens.json().id_token).auth_time as number) >= firstAuthTime + 301)

  assert.equal(redirectParams(await a.browser.get(codeRequest('swagger-ui', SWAGGER_REDIRECT, { max_age: 'soon' }).path), SWAGGER_REDIRECT).get('error'), 'invalid_request')
})

test('a client\'s defaultMaxAge applies to its requests without max_age; a request\'s own max_age overrides it', async (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
  // The built-in swagger-ui client asks for a recent sign-in (recentSignInMaxAge, 300 s here)
  // without a max_age in the URL, which Swagger UI would also send to other issuers.
  const app = await build(t, { recentSignInMaxAge: 300 })
  await register(app, 'ada@example.com')
  const a = await authorizeCode(app, { scope: 'openid' })
  assert.ok(redirectParams(await a.browser.get(codeRequest('swagger-ui', SWAGGER_REDIRECT).path), SWAGGER_REDIRECT).get('code'), 'fresh enough')

  t.mock.timers.tick(301_000)
  onlyForm(await a.browser.get(codeRequest('swagger-ui', SWAGGER_REDIRECT).path), '/oauth/login')
  assert.ok(redirectParams(await a.browser.get(codeRequest('swagger-ui', SWAGGER_REDIRECT, { max_age: '600' }).path), SWAGGER_REDIRECT).get('code'), 'the request\'s max_age wins')
})
