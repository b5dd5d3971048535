// Remembered consent: a third-party client the user approved goes on without the consent page
// for the scopes approved; the user lists the clients they authorized and takes one back.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { build, passwordToken, register } from './support/app.js'
import { authorizePath, Browser, CLIENTS, consentForm, exchange, pkce, redirectParams, refresh, SPA_REDIRECT } from './support/oauth.js'

const PASSWORD = 'correct horse battery'

async function setup (t: Parameters<typeof build>[0]) {
  const app = await build(t, { clients: CLIENTS })
  await register(app, 'ada@example.com', PASSWORD)
  const browser = new Browser(app)
  const { verifier, challenge } = pkce()
  const request = (clientId: string, scope: string, extra: Record<string, string> = {}) =>
    authorizePath({ response_type: 'code', client_id: clientId, redirect_uri: SPA_REDIRECT, scope, state: 's', code_challenge: challenge, code_challenge_method: 'S256', ...extra })
  const account = { authorization: `Bearer ${(await passwordToken(app, 'ada@example.com', PASSWORD)).access_token}` }
  return { app, browser, verifier, request, account }
}

test('approved once, a client goes on without the consent page for those scopes; more scopes or prompt=consent ask again', async (t) => {
  const { app, browser, request } = await setup(t)
  const first = await browser.authorize(request('spa', 'openid items:read'), 'ada@example.com', PASSWORD)
  assert.equal(first.statusCode, 200, 'the consent page')
  const allowed = await browser.post('/oauth/consent', consentForm(first, 'allow'))
  assert.ok(redirectParams(allowed, SPA_REDIRECT, 303).get('code'))

  const again = await browser.get(request('spa', 'openid items:read'))
  assert.equal(again.statusCode, 302, 'no page the second time')
  assert.ok(redirectParams(again, SPA_REDIRECT).get('code'))
  const fewer = await browser.get(request('spa', 'openid'))
  assert.equal(fewer.statusCode, 302)

  assert.equal((await browser.get(request('spa', 'openid items:write'))).statusCode, 200, 'a scope not approved asks again')
  assert.equal((await browser.get(request('spa', 'openid', { prompt: 'consent' }))).statusCode, 200, 'prompt=consent asks again')
  assert.equal((await browser.get(request('spa2', 'openid'))).statusCode, 200, 'another client asks for itself')
  const none = await browser.get(request('spa', 'openid items:write', { prompt: 'none' }))
  assert.equal(redirectParams(none, SPA_REDIRECT).get('error'), 'consent_required')
  assert.deepEqual((await app.users.store.getConsent((await app.users.store.getUserByEmail('ada@example.com'))?.id ?? '', 'spa'))?.scopes.sort(), ['items:read', 'openid'])
})

test('the user lists the clients they authorized and revokes one: its refresh tokens die and it asks again', async (t) => {
  const { app, browser, request, verifier, account } = await setup(t)
  const approve = async (clientId: string) => {
    const page = await browser.authorize(request(clientId, 'openid items:read'), 'ada@example.com', PASSWORD)
    const res = page.statusCode === 200 ? await browser.post('/oauth/consent', consentForm(page, 'allow')) : page
    const code = redirectParams(res, SPA_REDIRECT, res.statusCode).get('code') as string
    return (await exchange(app, { browser, code, verifier, redirectUri: SPA_REDIRECT, params: new URLSearchParams() }, clientId)).json<{ refresh_token: string }>()
  }
  const spa = await approve('spa')
  const spa2 = await approve('spa2')

  const listed = await app.inject({ url: '/users/me/authorizations', headers: account })
  assert.equal(listed.statusCode, 200, listed.body)
  assert.deepEqual(listed.json().map((c: { clientId: string, clientName: string, scopes: string[] }) => [c.clientId, c.clientName, c.scopes.sort()]),
    [['spa', 'Some SPA', ['items:read', 'openid']], ['spa2', 'spa2', ['items:read', 'openid']]])

  const revoked = await app.inject({ method: 'DELETE', url: '/users/me/authorizations/spa', headers: account })
  assert.equal(revoked.statusCode, 204, revoked.body)
  assert.equal((await refresh(app, spa.refresh_token, 'spa')).statusCode, 400, 'its refresh token is dead')
  const kept = await refresh(app, spa2.refresh_token, 'spa2')
  assert.equal(kept.statusCode, 200, 'the other client keeps its own')
  assert.equal((await browser.get(request('spa', 'openid items:read'))).statusCode, 200, 'it asks again')
  const gone = await app.inject({ method: 'DELETE', url: '/users/me/authorizations/spa', headers: account })
  assert.equal(gone.statusCode, 404)
  assert.equal(gone.json().code, 'CLIENT_AUTHORIZATION_NOT_FOUND')

  // A third-party client's token does not manage the account.
  const thirdParty = { authorization: `Bearer ${kept.json<{ access_token: string }>().access_token}` }
  assert.equal((await app.inject({ url: '/users/me/authorizations', headers: thirdParty })).statusCode, 403)
})
