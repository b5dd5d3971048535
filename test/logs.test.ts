import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { buildDemo } from '../demo/app.js'
import { form, FORM } from './support/app.js'

test('passwords, tokens, keys and what authorization requests carry never reach the logs, even at trace level', async (t) => {
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _enc, cb) { lines.push(String(chunk)); cb() } })
  const app = await buildDemo({ issuer: 'http://localhost:3000', logger: { level: 'trace', stream } })
  t.after(() => app.close())
  const password = 'very-secret-password-42'
  await app.inject({ method: 'POST', url: '/auth/register', payload: { email: 'ada@example.com', password } })
  const tokenRes = await app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: FORM,
    payload: form({ grant_type: 'password', username: 'ada@example.com', password, client_id: 'swagger-ui' })
  })
  const token = tokenRes.json().access_token as string
  await app.inject({ url: '/items', headers: { authorization: `Bearer ${token}` } })
  await app.inject({ url: '/items', headers: { authorization: `Bearer ${token}x` } })
  await app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: FORM,
    payload: form({ grant_type: 'password', username: 'ada@example.com', password: 'wrong-secret-guess', client_id: 'swagger-ui' })
  })
  // Swagger UI's redirect page gets our authorization codes in its URL.
  const code = 'an-authorization-code-0123456789abcdef'
  const redirectPage = await app.inject({ url: `/docs/static/oauth2-redirect.html?code=${code}&state=some-state-value&iss=x` })
  assert.equal(redirectPage.statusCode, 200)
  // Authorization requests carry the client's state, its nonce and an email (login_hint);
  // a provider-login start carries the whole pending request.
  const request = new URLSearchParams({
    response_type: 'code',
    client_id: 'swagger-ui',
    redirect_uri: 'http://localhost:3000/docs/static/oauth2-redirect.html',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
    state: 'client-state-secret',
    nonce: 'client-nonce-secret',
    login_hint: 'hinted.person@example.org'
  }).toString()
  assert.equal((await app.inject({ url: `/oauth/authorize?${request}` })).statusCode, 200)
  const start = await app.inject({ url: `/auth/demo-idp/authorize?${new URLSearchParams({ authorize_query: request }).toString()}` })
  assert.equal(start.statusCode, 302)
  const [key] = await app.users.store.listSigningKeys()
  const log = lines.join('')
  assert.ok(lines.length > 5, 'the logger wrote something')
  assert.match(log, /\/auth\/demo-idp\/authorize/, 'the provider-login start was logged')
  for (const secret of [
    password, 'wrong-secret-guess', code, 'some-state-value', token, token.split('.')[2] as string, String(key?.privateJwk.d),
    'client-state-secret', 'client-nonce-secret', 'hinted.person', 'hinted.person%40example.org'
  ]) {
    assert.ok(!log.includes(secret), `a secret leaked into the logs: ${secret.slice(0, 8)}…`)
  }
})
