import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as oauth from 'oauth4webapi'
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose'
import { DEMO_USER, listenDemo } from './support/browser.js'
import { pageForms, WebBrowser, type PageForm, type Visit } from './support/web-browser.js'

// A strict third-party client library, used as an outside client would use it, against the
// demo listening on a real socket. Plain http is allowed for loopback only, in this test.
const insecure = { [oauth.allowInsecureRequests]: true } as const

// demo-cli is registered as http://127.0.0.1/callback: any loopback port matches (RFC 8252).
const REDIRECT_URI = 'http://127.0.0.1:53123/callback'
const SCOPE = 'openid email profile items:read'

/** The fields of the one form of `page` that posts to `action` (and passes `match`). */
function formOf (page: Visit, action: string, match: (f: PageForm) => boolean = () => true): Record<string, string> {
  const forms = pageForms(page.body, page.url).filter((f) => f.action === action && match(f))
  assert.equal(forms.length, 1, `expected one form to ${action} in a ${page.status} page: ${page.body.slice(0, 500)}`)
  return (forms[0] as PageForm).fields
}

/** Login (and consent, for a third-party client) through our HTML pages; returns the redirect to the client. */
async function signIn (browser: WebBrowser, issuer: string, authorizationUrl: URL): Promise<{ callback: URL, loggedIn: boolean, consented: boolean }> {
  const loginAction = `${issuer}/oauth/login`
  const consentAction = `${issuer}/oauth/consent`
  let loggedIn = false
  let consented = false
  let page = await browser.request(authorizationUrl)
  if (page.status === 200 && pageForms(page.body, page.url).some((f) => f.action === loginAction)) {
    const login = await browser.request(loginAction, { form: { ...formOf(page, loginAction), email: DEMO_USER.email, password: DEMO_USER.password } })
    assert.equal(login.status, 303, `login failed: ${login.status} ${login.body.slice(0, 300)}`)
    assert.ok(login.location, 'login redirect without Location')
    loggedIn = true
    page = await browser.request(login.location)
  }
  if (page.status === 200) {
    assert.match(page.body, /Demo CLI/, 'the consent page names the client')
    page = await browser.request(consentAction, { form: formOf(page, consentAction, (f) => f.fields.decision === 'allow') })
    consented = true
  }
  assert.ok([302, 303].includes(page.status), `expected a redirect to the client, got ${page.status}: ${page.body.slice(0, 300)}`)
  assert.ok(page.location, 'redirect without Location')
  const url = new URL(page.location)
  assert.equal(`${url.origin}${url.pathname}`, REDIRECT_URI)
  return { callback: url, loggedIn, consented }
}

interface Authorization {
  tokens: oauth.TokenEndpointResponse
  claims: oauth.IDToken
}

test('oauth4webapi, as a third-party OpenID Connect client, runs the whole code flow against the demo on a socket', async (t) => {
  const { app, issuer } = await listenDemo(t)
  const issuerUrl = new URL(issuer)

  // Discovery: the metadata's issuer must equal the URL it was discovered from.
  const as = await oauth.processDiscoveryResponse(issuerUrl, await oauth.discoveryRequest(issuerUrl, { algorithm: 'oidc', ...insecure }))
  assert.equal(as.issuer, issuer)
  assert.ok(as.jwks_uri && as.userinfo_endpoint && as.revocation_endpoint && as.introspection_endpoint)
  assert.deepEqual(as.code_challenge_methods_supported, ['S256'])
  assert.equal(as.authorization_response_iss_parameter_supported, true)

  // A relying party that knows RS256 only, OpenID Connect's mandatory algorithm.
  const client: oauth.Client = { client_id: 'demo-cli', token_endpoint_auth_method: 'none', require_auth_time: true, id_token_signed_response_alg: 'RS256' }
  const clientAuth = oauth.None()
  const service: oauth.Client = { client_id: 'demo-service', token_endpoint_auth_method: 'client_secret_basic' }
  const serviceAuth = oauth.ClientSecretBasic(app.demoServiceSecret)
  const browser = new WebBrowser()

  /** One authorization: authorization URL with PKCE, state and nonce; pages; callback; code exchange. */
  async function authorize (expectLogin: boolean): Promise<Authorization> {
    const codeVerifier = oauth.generateRandomCodeVerifier()
    const codeChallenge = await oauth.calculatePKCECodeChallenge(codeVerifier)
    const state = oauth.generateRandomState()
    const nonce = oauth.generateRandomNonce()
    const authorizationUrl = new URL(as.authorization_endpoint as string)
    for (const [k, v] of Object.entries({
      client_id: client.client_id,
      redirect_uri: REDIRECT_URI,
      response_type: 'code',
      scope: SCOPE,
      state,
      nonce,
      code_challenge: codeChallenge,
      code_challenge_method: 'S256'
    })) authorizationUrl.searchParams.set(k, v)

    const { callback, loggedIn, consented } = await signIn(browser, issuer, authorizationUrl)
    assert.equal(loggedIn, expectLogin, 'login page shown only without a session')
    // A third-party client gets the consent page the first time; approved, it is remembered.
    assert.equal(consented, expectLogin, 'the consent page the first time only')
    // Checks state and the RFC 9207 iss parameter against the discovered issuer.
    const params = oauth.validateAuthResponse(as, client, callback, state)
    assert.ok(params.get('code'))

    const response = await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, REDIRECT_URI, codeVerifier, insecure)
    // Validates the token response and the id_token's claims (iss, aud, exp, iat, nonce,
    // auth_time) and its alg (RS256, as the client registered)...
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, response, { expectedNonce: nonce, requireIdToken: true })
    // ...and its signature against the discovered JWKS.
    await oauth.validateApplicationLevelSignature(as, response, insecure)
    const claims = oauth.getValidatedIdTokenClaims(tokens)
    assert.ok(claims)
    assert.equal(claims.nonce, nonce)
    return { tokens, claims }
  }

  const first = await authorize(true)
  const { tokens, claims } = first
  assert.equal(tokens.token_type.toLowerCase(), 'bearer')
  assert.equal(typeof tokens.refresh_token, 'string')
  assert.deepEqual(tokens.scope?.split(' ').sort(), SCOPE.split(' ').sort())
  assert.equal(claims.iss, issuer)
  assert.equal(claims.aud, client.client_id)
  assert.equal(typeof claims.auth_time, 'number')

  // oauth4webapi trusts the id_token it got over TLS from the token endpoint without checking its
  // signature: check it against the discovered JWKS, as any third party can.
  const jwks = createRemoteJWKSet(new URL(as.jwks_uri as string))
  const idToken = tokens.id_token as string
  const verified = await jwtVerify(idToken, jwks, { issuer, audience: client.client_id, algorithms: as.id_token_signing_alg_values_supported })
  assert.equal(verified.payload.sub, claims.sub)
  assert.equal(decodeProtectedHeader(idToken).alg, 'RS256')
  assert.equal(as.id_token_signing_alg_values_supported?.[0], 'RS256')

  // Userinfo: the same subject; email because of the email scope.
  const userinfo = await oauth.processUserInfoResponse(as, client, claims.sub,
    await oauth.userInfoRequest(as, client, tokens.access_token, insecure))
  assert.equal(userinfo.sub, claims.sub)
  assert.equal(userinfo.email, DEMO_USER.email)
  assert.equal(userinfo.email_verified, true)

  // Refresh: a new refresh token replaces the old one; a new id_token keeps subject and audience.
  const refreshed = await oauth.processRefreshTokenResponse(as, client,
    await oauth.refreshTokenGrantRequest(as, client, clientAuth, tokens.refresh_token as string, insecure))
  assert.equal(typeof refreshed.refresh_token, 'string')
  assert.notEqual(refreshed.refresh_token, tokens.refresh_token)
  assert.notEqual(refreshed.access_token, tokens.access_token)
  // OIDC Core §12.2: same subject and audience, auth_time of the original sign-in.
  const refreshedClaims = oauth.getValidatedIdTokenClaims(refreshed)
  assert.ok(refreshedClaims)
  assert.equal(refreshedClaims.sub, claims.sub)
  assert.equal(refreshedClaims.aud, client.client_id)
  assert.equal(refreshedClaims.auth_time, claims.auth_time)

  // A second authorization (the browser session is kept, the consent remembered: no page at all): its tokens stay live below.
  const second = await authorize(false)
  assert.equal(second.claims.sub, claims.sub)

  const introspect = async (token: string) => oauth.processIntrospectionResponse(as, service,
    await oauth.introspectionRequest(as, service, serviceAuth, token, insecure))

  const before = await introspect(refreshed.access_token)
  assert.equal(before.active, true)
  assert.equal(before.client_id, client.client_id)
  assert.equal(before.sub, claims.sub)

  // Revocation (RFC 7009) of the first authorization's current refresh token, by the public client.
  await oauth.processRevocationResponse(
    await oauth.revocationRequest(as, client, clientAuth, refreshed.refresh_token as string, insecure))

  // Introspection by the confidential service: the revoked refresh token and its family are inactive,
  // the access token of the other authorization is active.
  assert.deepEqual(await introspect(refreshed.refresh_token as string), { active: false })
  assert.deepEqual(await introspect(refreshed.access_token), { active: false })
  const live = await introspect(second.tokens.access_token)
  assert.equal(live.active, true)
  assert.equal(live.client_id, client.client_id)
  assert.equal(live.sub, claims.sub)
  assert.deepEqual(live.scope?.split(' ').sort(), SCOPE.split(' ').sort())
  assert.equal(live.iss, issuer)

  // The revoked refresh token no longer refreshes.
  await assert.rejects(
    async () => oauth.processRefreshTokenResponse(as, client,
      await oauth.refreshTokenGrantRequest(as, client, clientAuth, refreshed.refresh_token as string, insecure)),
    (err: unknown) => err instanceof oauth.ResponseBodyError && err.error === 'invalid_grant')

  // Reuse: the second authorization's first refresh token, presented again after it was rotated,
  // fails and revokes that whole authorization (OAuth 2.0 Security BCP §4.14).
  const rotated = await oauth.processRefreshTokenResponse(as, client,
    await oauth.refreshTokenGrantRequest(as, client, clientAuth, second.tokens.refresh_token as string, insecure))
  assert.notEqual(rotated.refresh_token, second.tokens.refresh_token)
  await assert.rejects(
    async () => oauth.processRefreshTokenResponse(as, client,
      await oauth.refreshTokenGrantRequest(as, client, clientAuth, second.tokens.refresh_token as string, insecure)),
    (err: unknown) => err instanceof oauth.ResponseBodyError && err.error === 'invalid_grant')
  assert.deepEqual(await introspect(rotated.refresh_token as string), { active: false })
  assert.deepEqual(await introspect(rotated.access_token), { active: false })
})
