import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { LightMyRequestResponse } from 'fastify'
import { build, FORM, form, register } from './support/app.js'
import { CLIENTS, NATIVE_REDIRECT, SPA_REDIRECT, assertPage, authorizeCode, authorizePath, consentForm, pkce } from './support/oauth.js'

const NOT_REGISTERED = 'The redirect_uri is not registered for this client.'
// Swagger UI opened at http://127.0.0.1:3000/docs while the issuer is http://localhost:3000.
const WRONG_HOST = 'http://127.0.0.1:3000/docs/static/oauth2-redirect.html'

const swaggerRegistered = (issuer: string) => `${issuer}/docs/static/oauth2-redirect.html`

function codeRequest (clientId: string, redirectUri: string | undefined, extra: Record<string, string> = {}) {
  return authorizePath({ response_type: 'code', client_id: clientId, redirect_uri: redirectUri, state: 'xyz', code_challenge: pkce().challenge, code_challenge_method: 'S256', ...extra })
}

/** The 400 page of an untrusted request, with the sentence it must say. */
function untrustedPage (res: LightMyRequestResponse, sentence: string, context: string): string {
  assertPage(res, 400, context)
  assert.ok(res.body.includes(sentence), `${context}: ${res.body}`)
  return res.body
}

for (const [issuer, received] of [
  ['http://localhost:3000', WRONG_HOST],
  ['http://127.0.0.1:3000', 'http://localhost:3000/docs/static/oauth2-redirect.html'],
  ['http://[::1]:3000', 'http://localhost:3000/docs/static/oauth2-redirect.html']
] as const) {
  test(`loopback issuer ${issuer}: an unregistered redirect_uri's page shows it beside the client's registered one`, async (t) => {
    const app = await build(t, { issuer })
    const body = untrustedPage(await app.inject(codeRequest('swagger-ui', received)), NOT_REGISTERED, issuer)
    assert.ok(body.includes(`<code>${received}</code>`), `the received URI is shown: ${body}`)
    assert.ok(body.includes(`<li><code>${swaggerRegistered(issuer)}</code></li>`), `the registered URI is listed: ${body}`)
    assert.ok(body.includes('<code>swagger-ui</code>'), 'the client id is shown')
  })
}

for (const issuer of ['https://auth.example.com', 'http://localhost.example.com:3000', 'http://10.0.0.5:3000']) {
  test(`other issuer ${issuer}: the page says only that the redirect_uri is not registered`, async (t) => {
    const app = await build(t, { issuer })
    const body = untrustedPage(await app.inject(codeRequest('swagger-ui', WRONG_HOST)), NOT_REGISTERED, issuer)
    assert.ok(!body.includes(swaggerRegistered(issuer)), `the registered URI is not shown: ${body}`)
    assert.ok(!body.includes(WRONG_HOST), `the received URI is not shown: ${body}`)
    assert.ok(!body.includes('<dl'), 'no details')
  })
}

test('loopback issuer: a redirect_uri with markup in it is shown escaped, never as markup', async (t) => {
  const app = await build(t)
  const evil = 'http://localhost:3000/cb?x="><script>alert(1)</script>'
  const body = untrustedPage(await app.inject(codeRequest('swagger-ui', evil)), NOT_REGISTERED, 'markup')
  assert.ok(!body.includes('<script>'), `no raw script tag: ${body}`)
  assert.ok(body.includes('<code>http://localhost:3000/cb?x=&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;</code>'), `shown escaped: ${body}`)
  assert.match(body, /<li><code>http:\/\/localhost:3000\/docs\/static\/oauth2-redirect\.html<\/code><\/li>/)
})

test('loopback issuer: a missing redirect_uri, required as the client has several, lists the registered ones', async (t) => {
  const app = await build(t, { clients: CLIENTS })
  const body = untrustedPage(await app.inject(codeRequest('two', undefined)), 'redirect_uri is required for this client.', 'two')
  assert.match(body, /<dt>redirect_uri received<\/dt><dd>none<\/dd>/)
  assert.ok(body.includes('<li><code>https://two.example.com/a</code></li><li><code>https://two.example.com/b</code></li>'), body)
  assert.ok(body.includes('<code>two</code>'), 'the client id is shown')

  // One registered loopback URI without a port: it still needs the port from the request.
  const native = untrustedPage(await app.inject(codeRequest('native', undefined)), 'redirect_uri is required for this client.', 'native')
  assert.ok(native.includes(`<li><code>${NATIVE_REDIRECT}</code></li>`), native)
})

test('other issuer: a missing redirect_uri lists nothing', async (t) => {
  const app = await build(t, { issuer: 'https://auth.example.com', clients: CLIENTS })
  const body = untrustedPage(await app.inject(codeRequest('two', undefined)), 'redirect_uri is required for this client.', 'two')
  assert.ok(!body.includes('two.example.com'), body)
})

test('loopback issuer: an unknown client_id is said to be unknown, and no client or URI is listed', async (t) => {
  const app = await build(t, { clients: CLIENTS })
  const body = untrustedPage(await app.inject(codeRequest('nobody', SPA_REDIRECT)), 'The request names an unknown client.', 'unknown client')
  for (const shown of ['<dl', SPA_REDIRECT, 'swagger-ui', 'oauth2-redirect.html']) assert.ok(!body.includes(shown), `${shown} is not shown: ${body}`)
})

test('loopback issuer: the login and consent forms, carrying an unregistered redirect_uri, show the same details', async (t) => {
  const app = await build(t, { clients: CLIENTS })
  await register(app, 'ada@example.com')
  const carried = new URLSearchParams(codeRequest('spa', 'https://evil.example.com/cb').split('?')[1])
  const expectDetails = (res: LightMyRequestResponse, context: string) => {
    const body = untrustedPage(res, NOT_REGISTERED, context)
    assert.ok(body.includes('<code>https://evil.example.com/cb</code>'), `${context}: ${body}`)
    assert.ok(body.includes(`<li><code>${SPA_REDIRECT}</code></li>`), `${context}: ${body}`)
  }

  // The carried request is checked before the form's CSRF token.
  const login = await app.inject({ method: 'POST', url: '/oauth/login', headers: FORM, payload: form({ authorize_query: carried.toString(), csrf_token: 'x', email: 'ada@example.com', password: 'correct horse battery' }) })
  expectDetails(login, 'login')

  const { browser } = await authorizeCode(app, { clientId: 'spa' })
  // Approved once, the client would go on without a page: prompt=consent brings it back.
  const allow = consentForm(await browser.get(codeRequest('spa', SPA_REDIRECT, { prompt: 'consent' })), 'allow')
  const tampered = new URLSearchParams(allow.authorize_query)
  tampered.set('redirect_uri', 'https://evil.example.com/cb')
  expectDetails(await browser.post('/oauth/consent', { ...allow, authorize_query: tampered.toString() }), 'consent')
})
