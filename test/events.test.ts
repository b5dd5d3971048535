// What an app can listen to, and the claims it can add. (Provider logins, links and unlinks:
// test/providers-oidc.test.ts.)
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { build, passwordToken, register } from './support/app.js'
import { recordEvents } from './support/events.js'
import { authorizeCode, CLIENTS, exchange, refresh, token } from './support/oauth.js'

test('events: registration, sign-ins, tokens of every grant, refresh reuse and logout, each once and after the fact', async (t) => {
  const app = await build(t, { clients: CLIENTS })
  const events = recordEvents(app)
  const ada = await register(app, 'ada@example.com')
  await passwordToken(app, 'ada@example.com')
  await assert.rejects(passwordToken(app, 'ada@example.com', 'wrong password'))
  assert.deepEqual(events.map(([name]) => name), ['userCreated', 'login', 'tokenIssued'], 'a failed sign-in is no event')
  const created = events[0]?.[1] as { user: { id: string, email: string }, method: string }
  assert.deepEqual([created.user.id, created.user.email, created.method], [ada.id, 'ada@example.com', 'password'])
  assert.deepEqual(events[2], ['tokenIssued', { userId: ada.id, clientId: 'swagger-ui', scopes: ['items:read', 'items:write'], grantType: 'password' }])

  events.length = 0
  const a = await authorizeCode(app, { scope: 'items:read' })
  const set = (await exchange(app, a)).json<{ refresh_token: string }>()
  const rotated = await refresh(app, set.refresh_token)
  assert.equal(rotated.statusCode, 200)
  const replay = await refresh(app, set.refresh_token)
  assert.equal(replay.statusCode, 400)
  const logout = await app.inject({ method: 'POST', url: '/auth/logout', headers: a.browser.headers() })
  assert.equal(logout.statusCode, 204)
  const names = events.map(([name, payload]) => [name, 'grantType' in payload ? payload.grantType : undefined])
  assert.deepEqual(names, [
    ['login', undefined], // the login form
    ['tokenIssued', 'authorization_code'],
    ['tokenIssued', 'refresh_token'],
    ['refreshReuse', 'refresh_token'],
    ['logout', undefined]
  ])
  const reuse = events.find(([name]) => name === 'refreshReuse')?.[1] as { userId: string, clientId: string, familyId: string }
  assert.equal(reuse.userId, ada.id)
  assert.equal(reuse.clientId, 'swagger-ui')
  assert.match(reuse.familyId, /^[0-9a-f-]{36}$/)
  assert.deepEqual(events.at(-1), ['logout', { userId: ada.id }])

  events.length = 0
  const client = await token(app, { grant_type: 'client_credentials', client_id: 'rs', client_secret: 'r'.repeat(32), scope: 'items:read' })
  assert.equal(client.statusCode, 200, client.body)
  assert.deepEqual(events, [['tokenIssued', { userId: null, clientId: 'rs', scopes: ['items:read'], grantType: 'client_credentials' }]])
})

test('a listener that throws or rejects fails nothing: the sign-in stands, the error is logged', async (t) => {
  const logged: unknown[] = []
  const app = await build(t)
  app.log.error = ((obj: unknown) => { logged.push(obj) }) as typeof app.log.error
  app.users.on('login', () => { throw new Error('audit log down') })
  app.users.on('tokenIssued', async () => { throw new Error('webhook down') })
  await register(app, 'ada@example.com')
  const tokens = await passwordToken(app, 'ada@example.com')
  assert.ok(tokens.access_token)
  await new Promise((resolve) => setImmediate(resolve))
  assert.deepEqual(logged.map((entry) => [(entry as { event: string }).event, (entry as { err: Error }).err.message]), [['login', 'audit log down'], ['tokenIssued', 'webhook down']])
})

test('accessTokenClaims: the app adds claims to every access token; ours it may not set', async (t) => {
  const app = await build(t, {
    clients: CLIENTS,
    accessTokenClaims: ({ user, clientId, grantType }) => ({ tenant: user ? `tenant-of-${user.email}` : `client-${clientId}`, via: grantType }),
    routes: (a) => { a.get('/claims', { config: { auth: { clients: true } } }, async (request) => ({ tenant: request.auth?.claims.tenant, via: request.auth?.claims.via })) }
  })
  await register(app, 'ada@example.com')
  const userToken = (await passwordToken(app, 'ada@example.com')).access_token
  assert.deepEqual((await app.inject({ url: '/claims', headers: { authorization: `Bearer ${userToken}` } })).json(), { tenant: 'tenant-of-ada@example.com', via: 'password' })
  const clientToken = (await token(app, { grant_type: 'client_credentials', client_id: 'rs', client_secret: 'r'.repeat(32) })).json<{ access_token: string }>().access_token
  assert.deepEqual((await app.inject({ url: '/claims', headers: { authorization: `Bearer ${clientToken}` } })).json(), { tenant: 'client-rs', via: 'client_credentials' })

  const hijack = await build(t, { accessTokenClaims: () => ({ sub: 'someone-else', scope: 'users:admin' }) })
  await register(hijack, 'ada@example.com')
  const res = await token(hijack, { grant_type: 'password', client_id: 'swagger-ui', username: 'ada@example.com', password: 'correct horse battery' })
  assert.equal(res.statusCode, 500)
  assert.deepEqual(res.json(), { error: 'server_error', error_description: 'Internal server error' })
})
