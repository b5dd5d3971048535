import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { COOKIES } from '../plugins/cookies.js'
import { build, FORM, form, ISSUER, register } from './support/app.js'
import {
  Browser,
  CLIENTS,
  CONF_SECRET,
  PASSWORD,
  SPA_REDIRECT,
  SWAGGER_REDIRECT,
  assertOAuthError,
  assertPage,
  authorizeCode,
  authorizePath,
  basic,
  consentForm,
  exchange,
  introspect,
  onlyForm,
  pkce,
  redirectParams,
  refresh,
  token
} from './support/oauth.js'

const OAUTH_ERRORS = new Set([
  'invalid_request', 'invalid_client', 'invalid_grant', 'unauthorized_client', 'unsupported_grant_type',
  'invalid_scope', 'unsupported_token_type', 'server_error', 'temporarily_unavailable', 'slow_down'
])

const setsSession = (res: LightMyRequestResponse) => res.cookies.some((c: { name: string }) => c.name === COOKIES.session)

function codeRequest (clientId: string, redirectUri: string | undefined, extra: Record<string, string | undefined> = {}) {
  const { challenge } = pkce()
  return authorizePath({ response_type: 'code', client_id: clientId, redirect_uri: redirectUri, state: 'xyz', code_challenge: challenge, code_challenge_method: 'S256', ...extra })
}

async function setup (t: Parameters<typeof build>[0]) {
  const app = await build(t, { clients: CLIENTS })
  await register(app, 'ada@example.com')
  await register(app, 'eve@example.com')
  return app
}

// ---------------------------------------------------------------- PKCE

test('PKCE: a wrong code_verifier gets invalid_grant and no tokens', async (t) => {
  const app = await setup(t)
  const a = await authorizeCode(app)
  for (const verifier of [pkce().verifier, a.verifier.slice(0, -1) + (a.verifier.endsWith('A') ? 'B' : 'A'), 'short', a.verifier + 'x']) {
    const res = await exchange(app, { ...a, verifier })
    assertOAuthError(res, 'invalid_grant')
    assert.equal(res.json().access_token, undefined)
  }
})

test('PKCE: a missing code_verifier gets an error and no tokens', async (t) => {
  const app = await setup(t)
  const a = await authorizeCode(app)
  const res = await token(app, { grant_type: 'authorization_code', code: a.code, redirect_uri: a.redirectUri, client_id: 'swagger-ui' })
  assert.equal(res.statusCode, 400)
  assert.ok(['invalid_grant', 'invalid_request'].includes(res.json().error), res.body)
  assert.equal(res.json().access_token, undefined)
  const empty = await exchange(app, { ...a, verifier: '' })
  assert.equal(empty.statusCode, 400)
})

test('PKCE: the plain method is refused at authorize, even when the challenge looks like S256', async (t) => {
  const app = await setup(t)
  const { verifier, challenge } = pkce()
  for (const method of ['plain', undefined, 'PLAIN', 's256', 'S512']) {
    const res = await new Browser(app).get(authorizePath({
      response_type: 'code', client_id: 'spa', redirect_uri: SPA_REDIRECT, state: 'xyz', code_challenge: method === 'plain' ? verifier : challenge, code_challenge_method: method
    }))
    const params = redirectParams(res, SPA_REDIRECT)
    assert.equal(params.get('error'), 'invalid_request', String(method))
    assert.equal(params.get('code'), null)
    assert.equal(params.get('state'), 'xyz')
  }
})

test('PKCE: a public client without code_challenge gets an error redirect, first-party or not; signed in or not', async (t) => {
  const app = await setup(t)
  const signedIn = (await authorizeCode(app)).browser
  for (const browser of [new Browser(app), signedIn]) {
    for (const [clientId, redirectUri] of [['spa', SPA_REDIRECT], ['swagger-ui', SWAGGER_REDIRECT]]) {
      const res = await browser.get(authorizePath({ response_type: 'code', client_id: clientId, redirect_uri: redirectUri, state: 'xyz' }))
      const params = redirectParams(res, redirectUri as string)
      assert.equal(params.get('error'), 'invalid_request')
      assert.equal(params.get('code'), null)
    }
  }
  // code_challenge_method alone is not PKCE either.
  const res = await new Browser(app).get(authorizePath({ response_type: 'code', client_id: 'spa', redirect_uri: SPA_REDIRECT, code_challenge_method: 'S256' }))
  assert.equal(redirectParams(res, SPA_REDIRECT).get('error'), 'invalid_request')
})

// ---------------------------------------------------------------- codes

test('code reuse: the second exchange fails and revokes the tokens of the first', async (t) => {
  const app = await setup(t)
  const a = await authorizeCode(app)
  const first = await exchange(app, a)
  assert.equal(first.statusCode, 200, first.body)
  const { refresh_token: refreshToken, access_token: accessToken } = first.json()

  assertOAuthError(await exchange(app, a), 'invalid_grant')
  assertOAuthError(await refresh(app, refreshToken), 'invalid_grant')
  assert.equal((await introspect(app, accessToken)).active, false)
  assertOAuthError(await exchange(app, a), 'invalid_grant')
})

test('code exchanged in parallel: at most one set of tokens', async (t) => {
  const app = await setup(t)
  const a = await authorizeCode(app)
  const results = await Promise.all(Array.from({ length: 10 }, () => exchange(app, a)))
  const ok = results.filter((r) => r.statusCode === 200)
  assert.ok(ok.length <= 1, `${ok.length} exchanges of one code succeeded`)
  for (const r of results.filter((r) => r.statusCode !== 200)) assertOAuthError(r, 'invalid_grant')
  for (const r of ok) assertOAuthError(await refresh(app, r.json().refresh_token), 'invalid_grant')
})

test('a code cannot be used by another client, public or confidential', async (t) => {
  const app = await setup(t)
  const a = await authorizeCode(app, { clientId: 'spa' })
  assertOAuthError(await exchange(app, a, 'spa2'), 'invalid_grant')
  assertOAuthError(await exchange(app, a, 'swagger-ui'), 'invalid_grant')
  const conf = await token(app, { grant_type: 'authorization_code', code: a.code, redirect_uri: a.redirectUri, code_verifier: a.verifier }, { authorization: basic('conf', CONF_SECRET) })
  assertOAuthError(conf, 'invalid_grant')
  // The client it was issued to still gets its tokens.
  assert.equal((await exchange(app, a, 'spa')).statusCode, 200)
})

test('a code is bound to the redirect_uri of its request', async (t) => {
  const app = await setup(t)
  const a = await authorizeCode(app, { clientId: 'two', redirectUri: 'https://two.example.com/a' })
  for (const redirectUri of ['https://two.example.com/b', 'https://two.example.com/a/', 'https://TWO.example.com/a', 'https://two.example.com/a?x=1', '']) {
    assertOAuthError(await exchange(app, { ...a, redirectUri }, 'two'), 'invalid_grant')
  }
  // Left out at the token request while the authorization request had it.
  assertOAuthError(await token(app, { grant_type: 'authorization_code', code: a.code, code_verifier: a.verifier, client_id: 'two' }), 'invalid_grant')
  assert.equal((await exchange(app, a, 'two')).statusCode, 200)
})

test('redirect_uri at the token request when the authorization request had none: refused', async (t) => {
  const app = await setup(t)
  const a = await authorizeCode(app, { clientId: 'spa', sendRedirectUri: false })
  assertOAuthError(await exchange(app, a, 'spa'), 'invalid_grant')
  const res = await token(app, { grant_type: 'authorization_code', code: a.code, code_verifier: a.verifier, client_id: 'spa' })
  assert.equal(res.statusCode, 200, res.body)
})

test('a code from the token endpoint is not a refresh token, and a refresh token is not a code', async (t) => {
  const app = await setup(t)
  const a = await authorizeCode(app)
  assertOAuthError(await refresh(app, a.code), 'invalid_grant')
  const tokens = (await exchange(app, a)).json()
  assertOAuthError(await exchange(app, { ...a, code: tokens.refresh_token }), 'invalid_grant')
  assertOAuthError(await exchange(app, { ...a, code: tokens.access_token }), 'invalid_grant')
})

// ---------------------------------------------------------------- redirect URIs

const SPA_TRICKS = [
  'https://app.example.com/cb/evil',
  'https://app.example.com/cb/',
  'https://app.example.com/cbx',
  'https://app.example.com/cb?x=1',
  'https://app.example.com/cb?',
  'https://app.example.com/cb#',
  'https://app.example.com/cb#frag',
  'https://app.example.com/cb/../cb',
  'https://app.example.com/./cb',
  'https://app.example.com//cb',
  'https://APP.example.com/cb',
  'https://app.example.COM/cb',
  'HTTPS://app.example.com/cb',
  'https://app.example.com:443/cb',
  'https://app.example.com:8443/cb',
  'http://app.example.com/cb',
  'https://app.example.com.evil.com/cb',
  'https://app.example.com@evil.com/cb',
  'https://evil.com@app.example.com/cb',
  'https://app.example.com%40evil.com/cb',
  'https://evil.com\\@app.example.com/cb',
  'https://evil.com#@app.example.com/cb',
  'https://evil.com?@app.example.com/cb',
  'https://app.example.com/%63b',
  'https://app.example.com/cb%2F..%2Fevil',
  'https://app.example.com/cb%00',
  'https://app.example.com/cb%20',
  'https://app.example.com/cb ',
  ' https://app.example.com/cb',
  'https://app.example.com/cb\t',
  'https://app.example.com/CB',
  'https://app.example.com\\cb',
  '//app.example.com/cb',
  '/cb',
  'app.example.com/cb',
  'https://evil.com/cb',
  'javascript:alert(1)//https://app.example.com/cb',
  'data:text/html,https://app.example.com/cb',
  'https://xn--pp-mja.example.com/cb',
  ''
]

const NATIVE_TRICKS = [
  'http://127.0.0.1:8080/other',
  'http://127.0.0.1:8080/callback/evil',
  'http://127.0.0.1:8080/callback?x=1',
  'http://127.0.0.1:8080/callback#x',
  'http://localhost:8080/callback',
  'http://localhost/callback',
  'http://[::1]:8080/callback',
  'https://127.0.0.1:8080/callback',
  'http://127.0.0.1.evil.com/callback',
  'http://127.0.0.1:8080@evil.com/callback',
  'http://127.0.0.1@evil.com/callback',
  'http://evil.com@127.0.0.1:8080/callback',
  'http://127.0.0.2:8080/callback',
  'http://0x7f.0.0.1:8080/callback',
  'http://2130706433:8080/callback',
  'http://127.1:8080/callback',
  'http://127.0.0.1:8080:8080/callback',
  'http://127.0.0.1:/callback',
  'http://127.0.0.1:8080/Callback',
  'http://127.0.0.1:8080/%63allback'
]

test('redirect URI tricks: every near miss is an HTML error page, never a redirect', async (t) => {
  const app = await setup(t)
  const anonymous = new Browser(app)
  const signedIn = (await authorizeCode(app, { clientId: 'spa' })).browser
  for (const browser of [anonymous, signedIn]) {
    for (const uri of SPA_TRICKS) assertPage(await browser.get(codeRequest('spa', uri)), 400, uri)
    for (const uri of NATIVE_TRICKS) assertPage(await browser.get(codeRequest('native', uri)), 400, uri)
    // Even with an error to report (bad response_type, prompt=none), nothing is redirected.
    for (const uri of ['https://evil.com/cb', 'https://app.example.com/cb/evil']) {
      assertPage(await browser.get(codeRequest('spa', uri, { response_type: 'token' })), 400, uri)
      assertPage(await browser.get(codeRequest('spa', uri, { prompt: 'none' })), 400, uri)
      assertPage(await browser.get(codeRequest('spa', uri, { code_challenge: undefined })), 400, uri)
    }
  }
  // The controls: the exact URI, and the loopback one on some port, are accepted.
  assertPage(await anonymous.get(codeRequest('spa', SPA_REDIRECT)), 200)
  assertPage(await anonymous.get(codeRequest('native', 'http://127.0.0.1:8080/callback')), 200)
  assertPage(await anonymous.get(codeRequest('native', 'http://127.0.0.1/callback')), 200)
})

test('redirect URI tricks through the forms: a carried request with a bad redirect_uri ends on a page', async (t) => {
  const app = await setup(t)
  const browser = new Browser(app)
  const page = await browser.get(codeRequest('spa', SPA_REDIRECT))
  const fields = onlyForm(page, '/oauth/login')
  const evil = new URLSearchParams(fields.authorize_query)
  evil.set('redirect_uri', 'https://evil.com/cb')
  const login = await browser.post('/oauth/login', { ...fields, authorize_query: evil.toString(), email: 'ada@example.com', password: PASSWORD })
  assertPage(login, 400, 'login')
  assert.ok(!setsSession(login))

  const signedIn = (await authorizeCode(app, { clientId: 'spa' })).browser
  // Approved once, the client would go on without a page: prompt=consent brings it back.
  const consent = await signedIn.get(codeRequest('spa', SPA_REDIRECT, { prompt: 'consent' }))
  const allow = consentForm(consent, 'allow')
  const carried = new URLSearchParams(allow.authorize_query)
  carried.set('redirect_uri', 'https://evil.com/cb')
  assertPage(await signedIn.post('/oauth/consent', { ...allow, authorize_query: carried.toString() }), 400, 'consent')
  // A duplicated redirect_uri in the carried request: refused, not "first wins".
  const doubled = `${allow.authorize_query}&redirect_uri=${encodeURIComponent('https://evil.com/cb')}`
  assertPage(await signedIn.post('/oauth/consent', { ...allow, authorize_query: doubled }), 400, 'consent doubled')
})

test('a loopback redirect URI with a port out of range is refused on a page, not a 500', async (t) => {
  const app = await setup(t)
  const signedIn = (await authorizeCode(app, { clientId: 'native', redirectUri: 'http://127.0.0.1:5000/callback' })).browser
  for (const browser of [new Browser(app), signedIn]) {
    for (const uri of ['http://127.0.0.1:65536/callback', 'http://127.0.0.1:99999/callback']) {
      // With a valid request, and with one whose error would be redirected.
      assertPage(await browser.get(codeRequest('native', uri)), 400, uri)
      assertPage(await browser.get(codeRequest('native', uri, { response_type: 'token' })), 400, `${uri} response_type=token`)
    }
  }
  const page = await signedIn.get(codeRequest('native', 'http://127.0.0.1:5000/callback', { prompt: 'consent' }))
  const allow = consentForm(page, 'allow')
  const carried = new URLSearchParams(allow.authorize_query)
  carried.set('redirect_uri', 'http://127.0.0.1:99999/callback')
  assertPage(await signedIn.post('/oauth/consent', { ...allow, authorize_query: carried.toString() }), 400, 'consent')
  carried.set('response_type', 'token')
  assertPage(await new Browser(app).post('/oauth/login', { ...allow, authorize_query: carried.toString(), email: 'ada@example.com', password: PASSWORD }), 400, 'login')
})

test('consent form without a session: the carried request is re-encoded in the redirect, control characters included', async (t) => {
  const app = await setup(t)
  const { challenge } = pkce()
  const query = `response_type=code&client_id=spa&redirect_uri=${encodeURIComponent(SPA_REDIRECT)}&code_challenge=${challenge}&code_challenge_method=S256`
  for (const extra of ['&x=\r\nSet-Cookie: a=b', '&x=\u0000', '&x=\u2028', '&x=a b', '&x=<>"', '&x=\u00e9']) {
    const name = JSON.stringify(extra)
    const res = await app.inject({ method: 'POST', url: '/oauth/consent', headers: FORM, payload: form({ authorize_query: query + extra, csrf_token: 'x', decision: 'allow' }) })
    assert.ok(res.statusCode < 500, `${name}: ${res.statusCode} ${res.body.slice(0, 200)}`)
    assert.equal(res.headers['set-cookie'], undefined, name)
    if (res.headers.location !== undefined) {
      const location = String(res.headers.location)
      assert.match(location, /^\/oauth\/authorize\?[\x21-\x7e]*$/, `${name}: Location ${JSON.stringify(location)}`)
    }
  }
})

test('duplicated parameters at authorize never send the browser to the second one', async (t) => {
  const app = await setup(t)
  const signedIn = (await authorizeCode(app, { clientId: 'spa' })).browser
  for (const browser of [new Browser(app), signedIn]) {
    for (const evil of ['https://evil.com/cb', SPA_REDIRECT]) {
      const res = await browser.get(`${codeRequest('spa', SPA_REDIRECT)}&redirect_uri=${encodeURIComponent(evil)}`)
      assert.ok(res.statusCode < 500, res.body)
      assert.equal(res.headers.location, undefined, `redirected to ${res.headers.location}`)
    }
    const twoClients = await browser.get(`${codeRequest('spa', SPA_REDIRECT)}&client_id=native`)
    assert.ok(twoClients.statusCode < 500)
    assert.equal(twoClients.headers.location, undefined)
  }
})

test('open redirect through error paths: an untrusted client or URI gets a page; a trusted one only its own URI', async (t) => {
  const app = await setup(t)
  const browser = new Browser(app)
  const untrusted = [
    authorizePath({ response_type: 'code', client_id: 'nobody', redirect_uri: 'https://evil.com/cb', state: 'xyz' }),
    authorizePath({ response_type: 'code', client_id: 'nobody', redirect_uri: SPA_REDIRECT }),
    authorizePath({ response_type: 'token', redirect_uri: 'https://evil.com/cb' }),
    authorizePath({ client_id: '', redirect_uri: 'https://evil.com/cb' }),
    // A client without the code flow has no redirect URI to trust.
    authorizePath({ response_type: 'code', client_id: 'rs', redirect_uri: 'https://evil.com/cb' }),
    // Two registered URIs and none named: which one is not ours to guess.
    authorizePath({ response_type: 'code', client_id: 'two', code_challenge: pkce().challenge, code_challenge_method: 'S256' }),
    authorizePath({ response_type: 'bogus', client_id: 'nobody', redirect_uri: 'https://evil.com/cb', prompt: 'none' })
  ]
  for (const path of untrusted) assertPage(await browser.get(path), 400, path)

  for (const responseType of ['token', 'id_token', 'code token', 'bogus', '']) {
    const res = await browser.get(codeRequest('spa', SPA_REDIRECT, { response_type: responseType }))
    const params = redirectParams(res, SPA_REDIRECT)
    assert.ok(['unsupported_response_type', 'invalid_request'].includes(params.get('error') ?? ''), responseType)
    assert.equal(new URL(res.headers.location as string).host, 'app.example.com')
  }
  // With no redirect_uri, the only registered one.
  const implicit = await browser.get(codeRequest('spa', undefined, { response_type: 'token' }))
  assert.equal(redirectParams(implicit, SPA_REDIRECT).get('error'), 'unsupported_response_type')
})

// ---------------------------------------------------------------- refresh tokens

test('refresh token reuse after rotation revokes the whole family, the newest token included', async (t) => {
  const app = await setup(t)
  const first = (await exchange(app, await authorizeCode(app))).json()
  const second = await refresh(app, first.refresh_token)
  assert.equal(second.statusCode, 200, second.body)
  const third = await refresh(app, second.json().refresh_token)
  assert.equal(third.statusCode, 200, third.body)
  const newest = third.json()

  assertOAuthError(await refresh(app, first.refresh_token), 'invalid_grant')
  assertOAuthError(await refresh(app, newest.refresh_token), 'invalid_grant')
  assert.equal((await introspect(app, newest.access_token)).active, false)
  assert.equal((await introspect(app, first.access_token)).active, false)
})

test('a refresh token is bound to its client', async (t) => {
  const app = await setup(t)
  const tokens = (await exchange(app, await authorizeCode(app, { clientId: 'spa' }), 'spa')).json()
  assertOAuthError(await refresh(app, tokens.refresh_token, 'spa2'), 'invalid_grant')
  assertOAuthError(await token(app, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token }, { authorization: basic('conf', CONF_SECRET) }), 'invalid_grant')
  assert.equal((await refresh(app, tokens.refresh_token, 'spa')).statusCode, 200)
})

test('a refresh asking for a scope beyond the grant is refused without spending the token: the retry works', async (t) => {
  const app = await setup(t)
  const tokens = (await exchange(app, await authorizeCode(app, { scope: 'items:read' }))).json()
  const beyond = await token(app, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: 'swagger-ui', scope: 'items:read items:write' })
  assertOAuthError(beyond, 'invalid_scope')
  const retry = await refresh(app, tokens.refresh_token)
  assert.equal(retry.statusCode, 200, retry.body)
  assert.equal(retry.json().scope, 'items:read')
  assert.equal((await introspect(app, retry.json().access_token)).active, true, 'the authorization was not revoked')
})

test('50 parallel refreshes of one token: exactly one succeeds, the others get invalid_grant', async (t) => {
  const app = await setup(t)
  const { refresh_token: refreshToken } = (await exchange(app, await authorizeCode(app))).json()
  const results = await Promise.all(Array.from({ length: 50 }, () => refresh(app, refreshToken)))
  const ok = results.filter((r) => r.statusCode === 200)
  assert.equal(ok.length, 1, `statuses: ${results.map((r) => r.statusCode).join(',')}`)
  for (const r of results) {
    if (r.statusCode !== 200) assertOAuthError(r, 'invalid_grant')
  }
})

// ---------------------------------------------------------------- login CSRF and session fixation

test('login CSRF: a token from another browser, or no browser cookie, gets 403 and no session', async (t) => {
  const app = await setup(t)
  const path = codeRequest('swagger-ui', SWAGGER_REDIRECT)
  const attacker = new Browser(app)
  const fields = onlyForm(await attacker.get(path), '/oauth/login')

  // The victim's browser has a browser cookie of its own.
  const victim = new Browser(app)
  await victim.get(path)
  assert.ok(victim.cookies.get(COOKIES.browser))
  const forged = await victim.post('/oauth/login', { ...fields, email: 'eve@example.com', password: PASSWORD })
  assertPage(forged, 403, 'other browser')
  assert.ok(!setsSession(forged))
  assert.equal(victim.session, undefined)

  // No cookie at all.
  const bare = await app.inject({ method: 'POST', url: '/oauth/login', headers: FORM, payload: form({ ...fields, email: 'eve@example.com', password: PASSWORD }) })
  assertPage(bare, 403, 'no cookie')
  assert.ok(!setsSession(bare))

  // The attacker's browser id in a forged (unsigned) cookie.
  const unsigned = new Browser(app)
  unsigned.cookies.set(COOKIES.browser, 'x')
  const forgedCookie = await unsigned.post('/oauth/login', { ...fields, email: 'eve@example.com', password: PASSWORD })
  assertPage(forgedCookie, 403, 'unsigned cookie')
  assert.ok(!setsSession(forgedCookie))

  // An empty or garbage csrf_token from the right browser.
  for (const csrf of ['', 'x', fields.csrf_token + 'x', (fields.csrf_token ?? '').slice(1)]) {
    const res = await attacker.post('/oauth/login', { ...fields, csrf_token: csrf, email: 'eve@example.com', password: PASSWORD })
    assert.ok([400, 403].includes(res.statusCode), `csrf ${csrf}: ${res.statusCode}`)
    assert.ok(!setsSession(res))
  }
  // The control: the attacker's own form in the attacker's own browser works.
  assert.equal((await attacker.post('/oauth/login', { ...fields, email: 'eve@example.com', password: PASSWORD })).statusCode, 303)
})

test('cross-origin posts: login, consent and logout sent from another origin of the same site are refused', async (t) => {
  const app = await setup(t)
  // Another port of the same host is the same site: SameSite=Lax cookies go along.
  const foreign: Record<string, string>[] = [
    { 'sec-fetch-site': 'same-site', origin: 'http://localhost:4000' },
    { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' },
    { origin: 'http://localhost:4000' },
    { origin: 'null' }
  ]
  const browser = new Browser(app)
  const path = codeRequest('spa', SPA_REDIRECT)
  const loginFields = { ...onlyForm(await browser.get(path), '/oauth/login'), email: 'ada@example.com', password: PASSWORD }
  const post = async (url: string, fields: Record<string, string> | null, extra: Record<string, string>) => browser.keep(await app.inject({
    method: 'POST', url, headers: browser.headers(fields ? { ...FORM, ...extra } : extra), ...(fields ? { payload: form(fields) } : {})
  }))
  for (const headers of foreign) {
    const res = await post('/oauth/login', loginFields, headers)
    assertPage(res, 403, JSON.stringify(headers))
    assert.ok(!setsSession(res))
  }
  // From our own pages it works: modern browsers say same-origin; older ones send the Origin.
  assert.equal((await post('/oauth/login', loginFields, { 'sec-fetch-site': 'same-origin', origin: 'null' })).statusCode, 303)
  assert.ok(browser.session)

  const consent = consentForm(await browser.get(path), 'allow')
  for (const headers of foreign) {
    const res = await post('/oauth/consent', consent, headers)
    assertPage(res, 403, JSON.stringify(headers))
  }
  redirectParams(await post('/oauth/consent', consent, { origin: ISSUER }), SPA_REDIRECT, 303)

  for (const headers of foreign) {
    const res = await post('/auth/logout', null, headers)
    assert.equal(res.statusCode, 403, JSON.stringify(headers))
    assert.equal(res.json().code, 'CROSS_ORIGIN_REQUEST')
    assert.ok(browser.session, 'still signed in')
  }
  assert.ok(redirectParams(await browser.get(codeRequest('swagger-ui', SWAGGER_REDIRECT, { prompt: 'none' })), SWAGGER_REDIRECT).get('code'))
  // A same-origin logout, and one from a client that is no browser, end the session.
  assert.equal((await post('/auth/logout', null, { 'sec-fetch-site': 'same-origin' })).statusCode, 204)
  assert.equal(browser.session, undefined)
})

test('login CSRF: a token is bound to its authorization request', async (t) => {
  const app = await setup(t)
  const browser = new Browser(app)
  const fields = onlyForm(await browser.get(codeRequest('spa', SPA_REDIRECT, { scope: 'items:read' })), '/oauth/login')
  const other = new URLSearchParams(fields.authorize_query)
  other.set('scope', 'items:read items:write')
  const res = await browser.post('/oauth/login', { ...fields, authorize_query: other.toString(), email: 'ada@example.com', password: PASSWORD })
  assertPage(res, 403)
  assert.ok(!setsSession(res))
  const reordered = [...new URLSearchParams(fields.authorize_query)].reverse().map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')
  const res2 = await browser.post('/oauth/login', { ...fields, authorize_query: reordered, email: 'ada@example.com', password: PASSWORD })
  assert.ok(!setsSession(res2))
})

test('session fixation: a session cookie planted before login is replaced at login and worth nothing after', async (t) => {
  const app = await setup(t)
  // The attacker's own real session, planted in the victim's browser.
  const attacker = (await authorizeCode(app, { email: 'eve@example.com' })).browser
  const planted = attacker.cookies.get(COOKIES.session) as string
  assert.ok(planted)

  for (const value of [planted, 'arbitrary-session-id', `${planted.split('.')[0]}.forged`]) {
    const victim = new Browser(app)
    victim.cookies.set(COOKIES.session, value)
    const path = codeRequest('swagger-ui', SWAGGER_REDIRECT, { prompt: 'login' })
    const login = await victim.submitLogin(await victim.get(path), 'ada@example.com')
    assert.equal(login.statusCode, 303)
    assert.ok(setsSession(login), 'login sets a new session cookie')
    assert.notEqual(victim.session, value)

    // The code issued to the victim's browser is the victim's.
    const a = await authorizeCode(app, { browser: victim })
    const tokens = (await exchange(app, a)).json()
    const ada = await app.users.store.getUserByEmail('ada@example.com')
    assert.equal((await introspect(app, tokens.access_token) as { sub?: string }).sub, ada?.id)

    // Whoever holds the planted value has no session.
    const holder = new Browser(app)
    holder.cookies.set(COOKIES.session, value)
    const res = await holder.get(codeRequest('swagger-ui', SWAGGER_REDIRECT, { prompt: 'none' }))
    assert.equal(redirectParams(res, SWAGGER_REDIRECT).get('error'), 'login_required', value)
  }
})

// ---------------------------------------------------------------- consent CSRF

test('consent CSRF: a token from another session gets 403 and no code', async (t) => {
  const app = await setup(t)
  const path = codeRequest('spa', SPA_REDIRECT, { scope: 'items:read' })
  const eve = new Browser(app)
  const eveConsent = await eve.authorize(path, 'eve@example.com')
  const stolen = consentForm(eveConsent, 'allow')

  // Ada, signed in in her own browser, is made to post Eve's form.
  const ada = new Browser(app)
  await ada.authorize(path, 'ada@example.com')
  const forged = await ada.post('/oauth/consent', stolen)
  assertPage(forged, 403, 'other user')

  // Even a session of the same user in another browser.
  const ada2 = new Browser(app)
  const ada2Consent = await ada2.authorize(path, 'ada@example.com')
  assertPage(await ada.post('/oauth/consent', consentForm(ada2Consent, 'allow')), 403, 'same user, other session')

  // A token for another request (more scopes) does not carry over.
  const adaForm = consentForm(await ada.get(path), 'allow')
  const wider = new URLSearchParams(adaForm.authorize_query)
  wider.set('scope', 'items:read items:write')
  assertPage(await ada.post('/oauth/consent', { ...adaForm, authorize_query: wider.toString() }), 403, 'other request')
  // The deny form's token is the same binding; a garbage token is refused.
  assertPage(await ada.post('/oauth/consent', { ...adaForm, csrf_token: 'x' }), 403, 'garbage')

  // Without a session the form sends the browser back to sign in, never to the client.
  const none = await app.inject({ method: 'POST', url: '/oauth/consent', headers: FORM, payload: form(stolen) })
  assert.equal(none.statusCode, 303)
  assert.match(String(none.headers.location), /^\/oauth\/authorize\?/)

  // The control: Ada's own form works.
  assert.ok(redirectParams(await ada.post('/oauth/consent', adaForm), SPA_REDIRECT, 303).get('code'))
})

test('a consent token does not survive logout and a new login', async (t) => {
  const app = await setup(t)
  const path = codeRequest('spa', SPA_REDIRECT)
  const browser = new Browser(app)
  const allow = consentForm(await browser.authorize(path, 'ada@example.com'), 'allow')
  await app.inject({ method: 'POST', url: '/auth/logout', headers: browser.headers() }).then((r) => browser.keep(r))
  await browser.authorize(path, 'ada@example.com')
  assertPage(await browser.post('/oauth/consent', allow), 403)
})

// ---------------------------------------------------------------- error shapes and fuzzing

type Req = InjectOptions & { name: string }

function assertRfc6749Error (res: LightMyRequestResponse, name: string) {
  assert.ok(res.statusCode < 500, `${name}: ${res.statusCode} ${res.body}`)
  if (res.statusCode < 400) return
  assert.match(String(res.headers['content-type']), /^application\/json/, name)
  const body = res.json()
  assert.equal(typeof body, 'object', name)
  assert.ok(Object.keys(body).every((k) => k === 'error' || k === 'error_description'), `${name}: ${res.body}`)
  assert.ok(OAUTH_ERRORS.has(body.error), `${name}: unknown error ${res.body}`)
  if (body.error_description !== undefined) assert.equal(typeof body.error_description, 'string', name)
  assert.equal(res.statusCode, body.error === 'invalid_client' ? 401 : body.error === 'slow_down' ? 429 : 400, `${name}: ${res.statusCode} ${res.body}`)
  if (body.error === 'slow_down') assert.match(String(res.headers['retry-after']), /^\d+$/, `${name}: slow_down without Retry-After`)
  if (body.error === 'invalid_client') assert.ok(res.headers['www-authenticate'], `${name}: invalid_client without WWW-Authenticate`)
}

function fuzzRequests (url: string, valid: Record<string, string>): Req[] {
  const raw = (name: string, payload: string | Buffer, headers: Record<string, string> = FORM): Req => ({ name, method: 'POST', url, headers, payload })
  const body = (name: string, fields: Record<string, string>, headers: Record<string, string> = {}) => raw(name, form(fields), { ...FORM, ...headers })
  const huge = 'a'.repeat(5000)
  const requests: Req[] = [
    { name: 'no body, no content type', method: 'POST', url },
    raw('empty form', ''),
    raw('json body', JSON.stringify(valid), { 'content-type': 'application/json' }),
    raw('json in a form', JSON.stringify(valid)),
    raw('text/plain', form(valid), { 'content-type': 'text/plain' }),
    raw('multipart', '--b\r\ncontent-disposition: form-data; name="token"\r\n\r\nx\r\n--b--', { 'content-type': 'multipart/form-data; boundary=b' }),
    raw('xml', '<token>x</token>', { 'content-type': 'application/xml' }),
    raw('empty content type', form(valid), { 'content-type': '' }),
    raw('form with charset', form(valid), { 'content-type': 'application/x-www-form-urlencoded; charset=utf-16' }),
    raw('broken percent encoding', 'token=%E0%A4%A&grant_type=%&client_id=%zz'),
    raw('nul bytes', 'grant_type=\u0000&token=\u0000&client_id=swagger-ui\u0000'),
    raw('binary', Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x3d, 0x26])),
    raw('too large', `token=${'a'.repeat(100 * 1024)}`),
    raw('prototype keys', '__proto__=x&constructor=y&prototype=z&__proto__[client_id]=swagger-ui&grant_type=password'),
    raw('brackets', 'grant_type[]=password&client_id[a]=swagger-ui&token[]=x'),
    raw('repeated everything', `${form(valid)}&${form(valid)}`),
    body('huge values', Object.fromEntries(Object.keys(valid).map((k) => [k, huge]))),
    body('unicode', Object.fromEntries(Object.keys(valid).map((k) => [k, '\u202e\ud83d\ude00é']))),
    body('garbage client', { ...valid, client_id: 'nobody' }),
    body('empty client', { ...valid, client_id: '' }),
    body('public client with a secret', { ...valid, client_id: 'swagger-ui', client_secret: 'x' }),
    body('wrong secret', { ...valid, client_id: 'conf', client_secret: 'wrong' }),
    body('two auth methods', { ...valid, client_id: 'conf', client_secret: CONF_SECRET }, { authorization: basic('conf', CONF_SECRET) }),
    body('basic and other client_id', { ...valid, client_id: 'spa' }, { authorization: basic('conf', CONF_SECRET) })
  ]
  for (const key of Object.keys(valid)) {
    const without = { ...valid }
    delete without[key]
    requests.push(body(`missing ${key}`, without))
    requests.push(raw(`repeated ${key}`, `${form(valid)}&${encodeURIComponent(key)}=${encodeURIComponent(valid[key] ?? '')}`))
    requests.push(body(`empty ${key}`, { ...valid, [key]: '' }))
  }
  const garbageBasic = [
    'Basic', 'Basic ', 'Basic !!!', 'Basic ====', 'basic Og==', 'BASIC ' + Buffer.from('nocolon').toString('base64'),
    'Basic ' + Buffer.from(':secret').toString('base64'), 'Basic ' + Buffer.from('%zz:%zz').toString('base64'),
    'Basic ' + Buffer.from('swagger-ui:').toString('base64'), 'Basic ' + Buffer.from('conf:' + CONF_SECRET + 'x').toString('base64'),
    'Basic ' + Buffer.from('\u0000:\u0000').toString('base64'), 'Basic ' + Buffer.from([0xff, 0x3a, 0xfe]).toString('base64'),
    'Basic ' + 'QUFB'.repeat(2000), 'Basic a b c', 'Bearer xyz', 'Digest username="x"', 'Basic\tb2s6b2s=', ''
  ]
  for (const authorization of garbageBasic) requests.push(body(`authorization ${authorization.slice(0, 30)}`, valid, { authorization }))
  return requests
}

async function fuzz (app: FastifyInstance, requests: Req[], check: (res: LightMyRequestResponse, name: string) => void) {
  for (const { name, ...request } of requests) check(await app.inject(request), name)
}

test('/oauth/token: every error is RFC 6749-shaped, and no request gets a 5xx', async (t) => {
  const app = await setup(t)
  const a = await authorizeCode(app)
  const requests = [
    ...fuzzRequests('/oauth/token', { grant_type: 'authorization_code', code: a.code, redirect_uri: a.redirectUri, code_verifier: a.verifier, client_id: 'swagger-ui' }),
    ...fuzzRequests('/oauth/token', { grant_type: 'refresh_token', refresh_token: 'x'.repeat(43), client_id: 'swagger-ui', scope: 'items:read' }),
    ...fuzzRequests('/oauth/token', { grant_type: 'password', username: 'ada@example.com', password: PASSWORD, client_id: 'swagger-ui', scope: 'items:read' }),
    ...fuzzRequests('/oauth/token', { grant_type: 'client_credentials', client_id: 'conf', client_secret: CONF_SECRET, scope: 'nope' })
  ]
  for (const grantType of ['unknown', 'implicit', 'urn:ietf:params:oauth:grant-type:jwt-bearer', 'urn:ietf:params:oauth:grant-type:device_code', 'AUTHORIZATION_CODE', 'toString', '__proto__', 'constructor', 'hasOwnProperty']) {
    requests.push({ name: `grant_type ${grantType}`, method: 'POST', url: '/oauth/token', headers: FORM, payload: form({ grant_type: grantType, client_id: 'swagger-ui' }) })
  }
  for (const scope of ['  ', 'a\tb', 'items:read items:read', '__proto__', 'toString', 'openid '.repeat(300)]) {
    requests.push({ name: `scope ${scope.slice(0, 20)}`, method: 'POST', url: '/oauth/token', headers: FORM, payload: form({ grant_type: 'password', username: 'ada@example.com', password: PASSWORD, client_id: 'swagger-ui', scope }) })
  }
  await fuzz(app, requests, assertRfc6749Error)
  // Unsupported grant types have their own error code.
  assertOAuthError(await token(app, { grant_type: 'implicit', client_id: 'swagger-ui' }), 'unsupported_grant_type')
  // Method not allowed is not a server error either.
  assert.ok((await app.inject({ method: 'GET', url: '/oauth/token' })).statusCode < 500)
})

test('/oauth/revoke and /oauth/introspect: every error is RFC 6749-shaped, and no request gets a 5xx', async (t) => {
  const app = await setup(t)
  const tokens = (await exchange(app, await authorizeCode(app))).json()
  const hints = ['access_token', 'refresh_token', 'garbage', '', 'x'.repeat(3000), '__proto__']
  const requests: Req[] = []
  for (const url of ['/oauth/revoke', '/oauth/introspect']) {
    const auth: Record<string, string> = url === '/oauth/revoke' ? { client_id: 'swagger-ui' } : { client_id: 'rs', client_secret: 'r'.repeat(32) }
    for (const tokenValue of [tokens.refresh_token, tokens.access_token, 'garbage']) {
      requests.push(...fuzzRequests(url, { token: tokenValue, token_type_hint: 'refresh_token', ...auth }))
      for (const hint of hints) requests.push({ name: `${url} hint ${hint.slice(0, 20)}`, method: 'POST', url, headers: FORM, payload: form({ token: tokenValue, token_type_hint: hint, ...auth }) })
    }
    requests.push({ name: `${url} huge token`, method: 'POST', url, headers: FORM, payload: form({ token: 'a'.repeat(5000), ...auth }) })
    requests.push({ name: `${url} public client`, method: 'POST', url, headers: FORM, payload: form({ token: 'x', client_id: 'swagger-ui' }) })
    requests.push({ name: `${url} jwt garbage`, method: 'POST', url, headers: FORM, payload: form({ token: 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.', ...auth }) })
  }
  await fuzz(app, requests, assertRfc6749Error)
  // The introspection endpoint still refuses a public client and answers its own.
  assertOAuthError(await app.inject({ method: 'POST', url: '/oauth/introspect', headers: FORM, payload: form({ token: 'x', client_id: 'swagger-ui' }) }), 'invalid_client', 401)
  assertOAuthError(await app.inject({ method: 'POST', url: '/oauth/introspect', headers: FORM, payload: form({ token: 'x', client_id: 'conf', client_secret: CONF_SECRET }) }), 'unauthorized_client')
})

function assertNever5xx (res: LightMyRequestResponse, name: string) {
  assert.ok(res.statusCode < 500, `${name}: ${res.statusCode} ${res.body.slice(0, 300)}`)
  if (res.statusCode >= 400) assert.match(String(res.headers['content-type']), /^text\/html/, `${name}: ${res.headers['content-type']} ${res.body.slice(0, 200)}`)
  if (res.headers.location !== undefined) {
    const location = new URL(String(res.headers.location), ISSUER)
    assert.ok(['app.example.com', '127.0.0.1', 'localhost'].includes(location.hostname), `${name}: redirected to ${res.headers.location}`)
  }
}

test('GET /oauth/authorize: never a 5xx, whatever the query, signed in or not', async (t) => {
  const app = await setup(t)
  const signedIn = (await authorizeCode(app, { clientId: 'spa' })).browser
  const { challenge } = pkce()
  const base = `response_type=code&client_id=spa&redirect_uri=${encodeURIComponent(SPA_REDIRECT)}&code_challenge=${challenge}&code_challenge_method=S256`
  const queries = [
    '', '?', '?&&&', '?=', '?client_id', '?client_id=', '?%', '?%zz=%zz', '?client_id=%E0%A4%A',
    `?${base}&state=${'s'.repeat(5000)}`, `?${base}&nonce=${'n'.repeat(5000)}`, `?${base}&login_hint=${'h'.repeat(5000)}`,
    `?${base}&scope=${'%20'.repeat(2000)}`, `?${base}&scope=${'openid+'.repeat(290)}`, `?${base}&scope=__proto__+toString+constructor`,
    `?${base}&client_id=spa`, `?${base}&state=a&state=b`, `?${base}&scope=a&scope=b`, `?${base}&prompt=none&prompt=login`,
    `?${base}&prompt=garbage`, `?${base}&prompt=none+consent`, `?${base}&prompt=${'login+'.repeat(10)}`, `?${base}&prompt=select_account`,
    `?${base}&code_challenge=short`, `?${base}&code_challenge=${'a'.repeat(200)}`, `?${base}&response_mode=form_post`,
    `?${base}&request_uri=urn:x`, `?${base}&__proto__[x]=1`, `?${base}&constructor=1&toString=1&hasOwnProperty=1`,
    `?${base}&client_id[]=spa`, '?client_id[a]=spa&redirect_uri[]=x', `?${base}&max_age=-1&ui_locales=%00&claims=%7B`,
    `?${base}&state=%00%01%02%ff`, `?${base}&state=%ED%A0%80`, `?${base}&login_hint=%EF%BF%BF`,
    `?client_id=${'c'.repeat(5000)}`, `?client_id=native&redirect_uri=${encodeURIComponent('http://127.0.0.1:99999/callback')}&response_type=code&code_challenge=${challenge}&code_challenge_method=S256`,
    `?client_id=native&redirect_uri=${encodeURIComponent('http://127.0.0.1:65536/callback')}&response_type=code&code_challenge=${challenge}&code_challenge_method=S256`,
    `?client_id=native&redirect_uri=${encodeURIComponent('http://[::1]:99999/callback')}&response_type=code&code_challenge=${challenge}&code_challenge_method=S256`,
    `?client_id=native&redirect_uri=${encodeURIComponent('http://127.0.0.1:0/callback')}&response_type=code&code_challenge=${challenge}&code_challenge_method=S256`,
    `?client_id=native&redirect_uri=${encodeURIComponent('http://127.0.0.1:00080/callback')}&response_type=code&code_challenge=${challenge}&code_challenge_method=S256`,
    `?client_id=native&redirect_uri=${encodeURIComponent('http://127.0.0.1:99999/callback')}&response_type=token`
  ]
  for (const browser of [new Browser(app), signedIn]) {
    for (const query of queries) assertNever5xx(await browser.get(`/oauth/authorize${query}`), `${browser === signedIn ? 'signed in' : 'anonymous'} ${query.slice(0, 140)}`)
  }
})

test('POST /oauth/login and /oauth/consent: never a 5xx, whatever the body, and errors are pages', async (t) => {
  const app = await setup(t)
  const signedIn = new Browser(app)
  const path = codeRequest('spa', SPA_REDIRECT)
  const loginFields = onlyForm(await signedIn.get(path), '/oauth/login')
  await signedIn.submitLogin(await signedIn.get(path), 'ada@example.com')
  const consentFields = consentForm(await signedIn.get(path), 'allow')

  const forms: [string, Record<string, string>][] = [
    ['/oauth/login', { ...loginFields, email: 'ada@example.com', password: 'wrong' }],
    ['/oauth/consent', consentFields]
  ]
  for (const [url, valid] of forms) {
    const raw = (name: string, payload: string | Buffer, headers: Record<string, string> = FORM): Req => ({ name: `${url} ${name}`, method: 'POST', url, headers: signedIn.headers(headers), payload })
    const withQuery = (name: string, authorizeQuery: string) => raw(name, form({ ...valid, authorize_query: authorizeQuery }))
    const requests: Req[] = [
      { name: `${url} no body`, method: 'POST', url, headers: signedIn.headers() },
      raw('empty form', ''),
      raw('json', JSON.stringify(valid), { 'content-type': 'application/json' }),
      raw('text/plain', form(valid), { 'content-type': 'text/plain' }),
      raw('multipart', '--b\r\ncontent-disposition: form-data; name="x"\r\n\r\nx\r\n--b--', { 'content-type': 'multipart/form-data; boundary=b' }),
      raw('too large', `authorize_query=${'a'.repeat(100 * 1024)}`),
      raw('extra field', `${form(valid)}&extra=1`),
      raw('repeated fields', `${form(valid)}&${form(valid)}`),
      raw('prototype keys', `${form(valid)}&__proto__=x&constructor=y`),
      raw('brackets', 'authorize_query[]=x&csrf_token[a]=y'),
      raw('broken percent encoding', 'authorize_query=%&csrf_token=%zz&decision=%E0%A4%A'),
      raw('binary', Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x3d, 0x26])),
      raw('decision maybe', form({ ...valid, decision: 'maybe' })),
      raw('huge csrf', form({ ...valid, csrf_token: 'c'.repeat(5000) })),
      withQuery('empty authorize_query', ''),
      withQuery('garbage authorize_query', '%%%&&&==='),
      withQuery('unknown client', 'client_id=nobody&redirect_uri=https%3A%2F%2Fevil.com%2Fcb&response_type=code'),
      withQuery('evil redirect', 'client_id=spa&redirect_uri=https%3A%2F%2Fevil.com%2Fcb&response_type=code'),
      withQuery('duplicated params', `${valid.authorize_query}&client_id=spa`),
      withQuery('prototype params', `${valid.authorize_query}&__proto__=x&constructor=y&toString=z`),
      withQuery('huge authorize_query', `${valid.authorize_query}&state=${'s'.repeat(8000)}`),
      withQuery('state over its limit', `${valid.authorize_query}&nonce=${'n'.repeat(3000)}`),
      withQuery('bad response_type', (valid.authorize_query ?? '').replace('response_type=code', 'response_type=token')),
      withQuery('loopback port out of range', `client_id=native&redirect_uri=${encodeURIComponent('http://127.0.0.1:99999/callback')}&response_type=token`)
    ]
    for (const key of Object.keys(valid)) {
      const without = { ...valid }
      delete without[key]
      requests.push(raw(`missing ${key}`, form(without)))
    }
    await fuzz(app, requests, assertNever5xx)
  }
})
