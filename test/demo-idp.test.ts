import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { startDemoIdp, type DemoIdp } from '../demo/idp.js'
import { pkce } from './support/oauth.js'
import { pageForms, WebBrowser } from './support/web-browser.js'

// The Demo IdP driven over real sockets by plain fetch, as a browser and a client would.
const CLIENT = { clientId: 'fastify-users-demo', clientSecret: 's'.repeat(32), redirectUris: ['http://127.0.0.1:53124/auth/callback'] }
const REDIRECT_URI = CLIENT.redirectUris[0] as string
const basic = `Basic ${Buffer.from(`${CLIENT.clientId}:${CLIENT.clientSecret}`).toString('base64')}`

/**
 * Follows redirects from `url` within the IdP: stops at a page, or at a redirect that leaves
 * the IdP; returns where that redirect goes if it goes to the client's redirect URI.
 */
async function follow (browser: WebBrowser, idp: DemoIdp, url: string | URL, form?: Record<string, string>) {
  const page = await browser.follow(url, [idp.issuer], form && { form })
  const leaving = page.status >= 300 && page.status < 400 ? page.location : undefined
  assert.ok(leaving === undefined || leaving.startsWith(REDIRECT_URI), `a redirect out of the IdP to elsewhere than the client: ${leaving}`)
  return { callback: leaving === undefined ? undefined : new URL(leaving), page }
}

interface Discovery {
  issuer: string
  authorization_endpoint: string
  token_endpoint: string
  userinfo_endpoint: string
  jwks_uri: string
  code_challenge_methods_supported: string[]
  scopes_supported: string[]
}

async function discover (idp: DemoIdp): Promise<Discovery> {
  const res = await fetch(`${idp.issuer}/.well-known/openid-configuration`)
  assert.equal(res.status, 200)
  return await res.json() as Discovery
}

function authorizationRequest (meta: Discovery) {
  const { verifier, challenge } = pkce()
  const state = randomBytes(16).toString('base64url')
  const nonce = randomBytes(16).toString('base64url')
  const url = new URL(meta.authorization_endpoint)
  url.search = new URLSearchParams({
    client_id: CLIENT.clientId,
    redirect_uri: REDIRECT_URI,
    response_type: 'code',
    scope: 'openid email profile',
    state,
    nonce,
    code_challenge: challenge,
    code_challenge_method: 'S256'
  }).toString()
  return { url, verifier, state, nonce }
}

/** The login page, reached from the authorization endpoint. */
async function openLogin (browser: WebBrowser, idp: DemoIdp, url: URL) {
  const { page, callback } = await follow(browser, idp, url)
  assert.equal(callback, undefined, 'no redirect to the client before signing in')
  assert.equal(page.status, 200, page.body.slice(0, 500))
  assert.match(page.body, /<title>Demo IdP<\/title>/)
  assert.match(page.body, /id="idp-email"/)
  assert.match(page.body, /id="idp-password"/)
  assert.match(page.body, /Sign in to Demo IdP/)
  assert.match(page.body, />Cancel</)
  const [login = '', abort = ''] = pageForms(page.body, page.url).map((f) => f.action)
  assert.ok(login.endsWith('/login') && abort.endsWith('/abort'), page.body)
  return { page, login: new URL(login), abort: new URL(abort) }
}

/** Signs in through the pages; returns the code of the redirect to the client. */
async function signIn (browser: WebBrowser, idp: DemoIdp, meta: Discovery, email: string) {
  const request = authorizationRequest(meta)
  const { login } = await openLogin(browser, idp, request.url)
  const { callback, page } = await follow(browser, idp, login, { email, password: 'anything' })
  assert.ok(callback, `no redirect to the client: ${page.status} ${page.body.slice(0, 500)}`)
  assert.equal(callback.searchParams.get('state'), request.state)
  assert.equal(callback.searchParams.get('iss'), meta.issuer)
  const code = callback.searchParams.get('code')
  assert.ok(code, callback.href)
  return { ...request, code }
}

async function exchange (meta: Discovery, code: string, verifier: string) {
  const res = await fetch(meta.token_endpoint, {
    method: 'POST',
    headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier })
  })
  const body = await res.json() as Record<string, unknown>
  return { res, body }
}

test('Demo IdP: discovery, login, code + PKCE, id_token, userinfo, cancel, stable sub', async (t) => {
  const logs: string[] = []
  const idp = await startDemoIdp({ port: 0, clients: [CLIENT], logger: (msg) => logs.push(msg) })
  t.after(() => idp.close())

  assert.match(idp.issuer, /^http:\/\/127\.0\.0\.1:\d+$/)
  const meta = await discover(idp)
  const jwks = createRemoteJWKSet(new URL(meta.jwks_uri))

  await t.test('discovery', () => {
    assert.equal(meta.issuer, idp.issuer)
    assert.ok(meta.code_challenge_methods_supported.includes('S256'))
    for (const scope of ['openid', 'email', 'profile', 'offline_access']) assert.ok(meta.scopes_supported.includes(scope), scope)
  })

  let firstSub = ''
  await t.test('sign in, exchange the code, verify the id_token, read userinfo', async () => {
    const { code, verifier, nonce } = await signIn(new WebBrowser(), idp, meta, 'Ada@Example.com')
    const { res, body } = await exchange(meta, code, verifier)
    assert.equal(res.status, 200, JSON.stringify(body))
    assert.equal(body.token_type, 'Bearer')
    assert.equal(typeof body.access_token, 'string')

    const { payload, protectedHeader } = await jwtVerify(body.id_token as string, jwks, { issuer: idp.issuer, audience: CLIENT.clientId })
    assert.equal(protectedHeader.alg, 'RS256')
    assert.equal(payload.nonce, nonce)
    assert.equal(payload.email, 'ada@example.com')
    assert.equal(payload.email_verified, true)
    assert.equal(payload.name, 'ada')
    assert.match(payload.sub as string, /^[0-9a-f]{24}$/)
    firstSub = payload.sub as string

    const info = await fetch(meta.userinfo_endpoint, { headers: { authorization: `Bearer ${body.access_token as string}` } })
    assert.equal(info.status, 200)
    assert.deepEqual(await info.json(), { sub: firstSub, email: 'ada@example.com', email_verified: true, name: 'ada' })

    // The code is single use.
    const again = await exchange(meta, code, verifier)
    assert.equal(again.res.status, 400)
    assert.equal(again.body.error, 'invalid_grant')
  })

  await t.test('the same email signs in as the same sub, in another browser', async () => {
    const { code, verifier } = await signIn(new WebBrowser(), idp, meta, 'ada@example.com ')
    const { res, body } = await exchange(meta, code, verifier)
    assert.equal(res.status, 200, JSON.stringify(body))
    const { payload } = await jwtVerify(body.id_token as string, jwks, { issuer: idp.issuer, audience: CLIENT.clientId })
    assert.equal(payload.sub, firstSub)
  })

  await t.test('another email is another sub', async () => {
    const { code, verifier } = await signIn(new WebBrowser(), idp, meta, 'grace@example.com')
    const { body } = await exchange(meta, code, verifier)
    const { payload } = await jwtVerify(body.id_token as string, jwks, { issuer: idp.issuer, audience: CLIENT.clientId })
    assert.notEqual(payload.sub, firstSub)
    assert.equal(payload.email, 'grace@example.com')
  })

  await t.test('the wrong code_verifier is refused', async () => {
    const { code } = await signIn(new WebBrowser(), idp, meta, 'ada@example.com')
    const { res, body } = await exchange(meta, code, randomBytes(32).toString('base64url'))
    assert.equal(res.status, 400)
    assert.equal(body.error, 'invalid_grant')
  })

  await t.test('Cancel returns access_denied to the client', async () => {
    const browser = new WebBrowser()
    const request = authorizationRequest(meta)
    const { abort } = await openLogin(browser, idp, request.url)
    const { callback, page } = await follow(browser, idp, abort, {})
    assert.ok(callback, `no redirect to the client: ${page.status} ${page.body.slice(0, 500)}`)
    assert.equal(callback.searchParams.get('error'), 'access_denied')
    assert.equal(callback.searchParams.get('error_description'), 'The user cancelled')
    assert.equal(callback.searchParams.get('state'), request.state)
    assert.equal(callback.searchParams.get('code'), null)
  })

  await t.test('an empty password re-renders the form, escaped', async () => {
    const browser = new WebBrowser()
    const { login } = await openLogin(browser, idp, authorizationRequest(meta).url)
    const page = await browser.request(login, { form: { email: '"><script>x</script>@example.com', password: '' } })
    assert.equal(page.status, 400)
    assert.match(page.body, /id="idp-password"/)
    assert.doesNotMatch(page.body, /<script>x/)
    assert.match(page.body, /&quot;&gt;&lt;script&gt;x&lt;\/script&gt;@example.com/)
  })

  await t.test('a request without PKCE is refused', async () => {
    const url = authorizationRequest(meta).url
    url.searchParams.delete('code_challenge')
    url.searchParams.delete('code_challenge_method')
    const { callback } = await follow(new WebBrowser(), idp, url)
    assert.ok(callback)
    assert.equal(callback.searchParams.get('error'), 'invalid_request')
  })

  await t.test('a login post without the interaction cookie is an error page', async () => {
    const { login } = await openLogin(new WebBrowser(), idp, authorizationRequest(meta).url)
    const page = await new WebBrowser().request(login, { form: { email: 'ada@example.com', password: 'x' } })
    assert.equal(page.status, 400)
    assert.match(page.body, /Demo IdP/)
  })

  await t.test('secrets are not logged', () => {
    assert.ok(logs.some((l) => l.includes(idp.issuer)))
    assert.ok(logs.every((l) => !l.includes(CLIENT.clientSecret) && !l.includes('anything')), logs.join('\n'))
  })
})

test('Demo IdP: refresh tokens with offline_access and prompt=consent', async (t) => {
  const idp = await startDemoIdp({ clients: [CLIENT] })
  t.after(() => idp.close())
  const meta = await discover(idp)

  const browser = new WebBrowser()
  const request = authorizationRequest(meta)
  request.url.searchParams.set('scope', 'openid email offline_access')
  request.url.searchParams.set('prompt', 'consent')
  const { login } = await openLogin(browser, idp, request.url)
  const { callback } = await follow(browser, idp, login, { email: 'ada@example.com', password: 'x' })
  const code = callback?.searchParams.get('code')
  assert.ok(code)
  const { res, body } = await exchange(meta, code, request.verifier)
  assert.equal(res.status, 200, JSON.stringify(body))
  assert.equal(typeof body.refresh_token, 'string')

  // client_secret_post works as well.
  const refreshed = await fetch(meta.token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: body.refresh_token as string, client_id: CLIENT.clientId, client_secret: CLIENT.clientSecret })
  })
  assert.equal(refreshed.status, 200)
  assert.equal(typeof (await refreshed.json() as Record<string, unknown>).access_token, 'string')
})
