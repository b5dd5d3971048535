// Resource-server mode in Swagger UI: the demo configured with an external issuer
// (oidc-provider on 127.0.0.1, EXTERNAL_* as a user sets them) documents a second scheme;
// Authorize signs in at that issuer with its public client, and "Try it out" calls /items
// with the issuer's own access token, which the guard accepts.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { decodeJwt } from 'jose'
import { buildDemo } from '../demo/app.js'
import { browserSkip, freePort, openBrowser } from './support/browser.js'
import { API, startExternalIssuer } from './support/external-issuer.js'
import { closeAuthorizedDialog, openDocs, popupClosing, TIMEOUT, tickScopes, tryItOut } from './support/swagger-ui.js'

const CLIENT_AT_ISSUER = 'docs-at-idp'

test('Swagger UI signs in at the external issuer with PKCE and calls /items with its token', { timeout: 60_000 }, async (t) => {
  const skip = await browserSkip()
  if (skip) {
    t.skip(skip)
    return
  }
  const browser = await openBrowser(t)
  // The issuer must know Swagger UI's redirect URI, so the demo's port comes first.
  const port = await freePort()
  const origin = `http://127.0.0.1:${port}`
  const external = await startExternalIssuer({ publicClient: { clientId: CLIENT_AT_ISSUER, redirectUri: `${origin}/docs/static/oauth2-redirect.html` } })
  t.after(() => external.close())

  const saved = { ...process.env }
  Object.assign(process.env, { EXTERNAL_ISSUER: external.issuer, EXTERNAL_AUDIENCE: API, EXTERNAL_CLIENT_ID: CLIENT_AT_ISSUER })
  t.after(() => { process.env = saved })
  const app = await buildDemo({ issuer: origin })
  await app.listen({ port, host: '127.0.0.1' })
  t.after(() => app.close())

  const page = await openDocs(t, browser, origin)
  await page.locator('.auth-wrapper .btn.authorize').click()
  // Swagger UI read the issuer's discovery document: a flow per grant type it supports, the
  // code flow with PKCE among them.
  const section = page.locator('.auth-container').filter({ has: page.locator('h4', { hasText: /^external \(OAuth2, authorization_code with PKCE\)/ }) })
  await section.waitFor()
  assert.match(await section.innerText(), new RegExp(`${external.issuer}/auth`), 'the authorization URL comes from the issuer\'s discovery')
  // initOAuth presets our own client id in every scheme: a user types the one registered at the issuer.
  await section.locator('input[data-name="clientId"]').fill(CLIENT_AT_ISSUER)
  await tickScopes(section, ['items:read'])

  const [popup, authorizeRequest] = await Promise.all([
    page.waitForEvent('popup'),
    page.context().waitForEvent('request', (r) => r.url().startsWith(`${external.issuer}/auth?`)),
    section.locator('.btn.modal-btn.auth.authorize').click()
  ])
  popup.setDefaultTimeout(TIMEOUT)
  const authorizeUrl = new URL(authorizeRequest.url())
  assert.equal(authorizeUrl.origin, external.issuer, 'the popup goes to the external issuer, not to us')
  assert.equal(authorizeUrl.searchParams.get('client_id'), CLIENT_AT_ISSUER)
  assert.equal(authorizeUrl.searchParams.get('code_challenge_method'), 'S256')

  // oidc-provider's own sign-in and consent pages.
  await popup.locator('input[name="login"]').fill('ada')
  await popup.locator('input[name="password"]').fill('any password')
  await popup.locator('button[type="submit"]').click()
  const closed = popupClosing(popup)
  const tokenResponse = page.waitForResponse((r) => r.url() === `${external.issuer}/token` && r.request().method() === 'POST')
  await popup.locator('button[type="submit"]', { hasText: /continue/i }).click()
  await closed

  const exchanged = await tokenResponse
  const body = await exchanged.text()
  assert.equal(exchanged.status(), 200, `the issuer's token endpoint answered ${exchanged.status()}: ${body}`)
  const form = new URLSearchParams(exchanged.request().postData() ?? '')
  assert.ok(form.get('code_verifier'), 'the exchange proves the PKCE verifier')
  const token = JSON.parse(body) as { access_token: string, scope: string }
  const claims = decodeJwt(token.access_token)
  assert.equal(claims.iss, external.issuer, 'a token of the external issuer, not ours')
  assert.equal(claims.aud, API)
  assert.equal(claims.scope, 'items:read')

  await closeAuthorizedDialog(page, section)
  const list = await tryItOut(page, origin, 'get', '/items')
  assert.equal(list.authorization, `Bearer ${token.access_token}`)
  assert.equal(list.response.status(), 200)
  assert.ok(Array.isArray(await list.response.json()))

  // Our own scheme still stands beside it on the same operation: either one works.
  const doc = await (await fetch(`${origin}/docs/json`)).json() as { paths: Record<string, Record<string, { security: Record<string, string[]>[] }>> }
  const schemes = doc.paths['/items']?.get?.security.flatMap((alternative) => Object.keys(alternative))
  assert.ok(schemes?.includes('external') && schemes.includes('oauth2'), `GET /items takes both schemes: ${String(schemes)}`)
})
