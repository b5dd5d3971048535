import { test } from 'node:test'
import assert from 'node:assert/strict'
import { decodeJwt, decodeProtectedHeader } from 'jose'
import { build, form, FORM, passwordToken, register } from './support/app.js'
import { authorizeCode, exchange } from './support/oauth.js'

const PASSWORD = 'correct horse battery'
const tokenRequest = (fields: Record<string, string>, headers: Record<string, string> = {}) => ({
  method: 'POST' as const, url: '/oauth/token', headers: { ...FORM, ...headers }, payload: form(fields)
})
const passwordGrant = (extra: Record<string, string> = {}) =>
  ({ grant_type: 'password', username: 'ada@example.com', password: PASSWORD, client_id: 'swagger-ui', ...extra })

test('password grant returns an RFC 9068 access token with the no-store header', async (t) => {
  const app = await build(t)
  const user = await register(app, 'ada@example.com')
  // RFC 6749 §3.2: parameters the server does not know are ignored.
  const res = await app.inject(tokenRequest(passwordGrant({ scope: 'items:read', resource: 'https://api.example.com', x_custom: '1' })))
  assert.equal(res.statusCode, 200, res.body)
  assert.equal(res.headers['cache-control'], 'no-store')
  assert.equal(res.headers.pragma, 'no-cache')
  const body = res.json()
  assert.equal(body.token_type, 'Bearer')
  assert.equal(body.expires_in, 900)
  assert.equal(body.scope, 'items:read')
  const header = decodeProtectedHeader(body.access_token)
  assert.equal(header.typ, 'at+jwt')
  assert.equal(header.alg, 'EdDSA')
  assert.equal(typeof header.kid, 'string')
  const claims = decodeJwt(body.access_token)
  assert.equal(claims.iss, 'http://localhost:3000')
  assert.equal(claims.aud, 'http://localhost:3000')
  assert.equal(claims.sub, user.id)
  assert.equal(claims.client_id, 'swagger-ui')
  assert.equal(claims.scope, 'items:read')
  assert.equal(typeof claims.jti, 'string')
  assert.equal((claims.exp ?? 0) - (claims.iat ?? 0), 900)
})

test('password grant: no scope requested gives the default scopes; any allowed subset may be asked for', async (t) => {
  const app = await build(t, { defaultScopes: ['items:read'] })
  await register(app, 'ada@example.com')
  const none = await app.inject(tokenRequest(passwordGrant()))
  assert.equal(none.json().scope, 'items:read')
  const empty = await app.inject(tokenRequest(passwordGrant({ scope: '' })))
  assert.equal(empty.json().scope, 'items:read')
  const both = await app.inject(tokenRequest(passwordGrant({ scope: 'items:write items:read' })))
  assert.equal(both.json().scope, 'items:write items:read')
})

test('password grant without defaultScopes grants every scope the user may have, superuser scopes excluded', async (t) => {
  const app = await build(t)
  await register(app, 'ada@example.com')
  const res = await app.inject(tokenRequest(passwordGrant()))
  assert.deepEqual(res.json().scope.split(' ').sort(), ['items:read', 'items:write'])
})

test('password grant narrows, as the authorization flow does: scopes the user may not have, or unknown ones, are left out and the response says what was granted', async (t) => {
  const app = await build(t)
  await register(app, 'ada@example.com')
  for (const [scope, granted] of [['users:admin', ''], ['items:read nope', 'items:read'], ['items:read users:admin items:write', 'items:read items:write']] as const) {
    const res = await app.inject(tokenRequest(passwordGrant({ scope })))
    assert.equal(res.statusCode, 200, res.body)
    assert.equal(res.json().scope, granted, scope)
  }
  // The same request through the authorization flow gets the same scopes.
  const a = await authorizeCode(app, { scope: 'items:read users:admin items:write' })
  assert.equal((await exchange(app, a)).json().scope, 'items:read items:write')
})

test('superusers may ask for users:admin', async (t) => {
  const app = await build(t)
  await app.users.manager.register({ email: 'root@example.com', password: PASSWORD }, { isSuperuser: true })
  const res = await app.inject(tokenRequest(passwordGrant({ username: 'root@example.com', scope: 'users:admin' })))
  assert.equal(res.statusCode, 200)
  assert.equal(res.json().scope, 'users:admin')
})

test('wrong password, unknown user and inactive user all get the same invalid_grant', async (t) => {
  const app = await build(t)
  const user = await register(app, 'ada@example.com')
  await register(app, 'off@example.com')
  const off = await app.users.store.getUserByEmail('off@example.com')
  await app.users.store.updateUser(off?.id ?? '', { isActive: false })
  const bodies = []
  for (const fields of [passwordGrant({ password: 'wrong password!' }), passwordGrant({ username: 'nobody@example.com' }), passwordGrant({ username: 'off@example.com' })]) {
    const res = await app.inject(tokenRequest(fields))
    assert.equal(res.statusCode, 400)
    assert.equal(res.headers['cache-control'], 'no-store')
    bodies.push(res.json())
  }
  assert.deepEqual(bodies, Array(3).fill({ error: 'invalid_grant', error_description: 'Invalid username or password' }))
  assert.ok(user.id)
})

test('login takes as long for an unknown email as for a known one', async (t) => {
  const app = await build(t)
  await register(app, 'ada@example.com')
  const once = async (username: string) => {
    const start = process.hrtime.bigint()
    await app.inject(tokenRequest(passwordGrant({ username, password: 'wrong password!' })))
    return Number(process.hrtime.bigint() - start)
  }
  await once('ada@example.com')
  // Interleaved, so that load from other tests slows both alike; medians of 7.
  const known: number[] = []
  const unknown: number[] = []
  for (let i = 0; i < 7; i++) {
    known.push(await once('ada@example.com'))
    unknown.push(await once('nobody@example.com'))
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[3] as number
  // Both run one argon2id verification; without the dummy hash the unknown case is ~100x
  // faster, so a loose bound still tells the two apart.
  assert.ok(median(unknown) > median(known) * 0.25, `unknown ${median(unknown)} ns vs known ${median(known)} ns`)
})

test('Swagger UI style Basic header with an empty secret authenticates the public client', async (t) => {
  const app = await build(t)
  await register(app, 'ada@example.com')
  const { client_id: _, ...fields } = passwordGrant()
  const res = await app.inject(tokenRequest(fields, { authorization: `Basic ${Buffer.from('swagger-ui:').toString('base64')}` }))
  assert.equal(res.statusCode, 200, res.body)
})

test('client authentication: unknown client, wrong secret and secret for a public client are invalid_client (401)', async (t) => {
  const app = await build(t, { clients: [{ clientId: 'backend', clientSecret: 'a-long-enough-secret', firstParty: true, grantTypes: ['password'] }] })
  await register(app, 'ada@example.com')
  const basic = (id: string, secret: string) => ({ authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` })
  const cases = [
    tokenRequest(passwordGrant({ client_id: 'nope' })),
    tokenRequest(passwordGrant({ client_id: 'backend' })),
    tokenRequest(passwordGrant({ client_id: 'backend', client_secret: 'wrong-secret-value' })),
    tokenRequest({ ...passwordGrant(), client_id: 'backend' }, basic('backend', 'wrong')),
    tokenRequest(passwordGrant({ client_secret: 'anything' }))
  ]
  for (const req of cases) {
    const res = await app.inject(req)
    assert.equal(res.statusCode, 401, res.body)
    assert.equal(res.json().error, 'invalid_client')
    assert.match(String(res.headers['www-authenticate']), /^Basic /)
  }
  const post = await app.inject(tokenRequest(passwordGrant({ client_id: 'backend', client_secret: 'a-long-enough-secret' })))
  assert.equal(post.statusCode, 200, post.body)
  const { client_id: _, ...noId } = passwordGrant()
  const viaBasic = await app.inject(tokenRequest(noId, basic('backend', 'a-long-enough-secret')))
  assert.equal(viaBasic.statusCode, 200, viaBasic.body)
  assert.equal(JSON.parse(Buffer.from(viaBasic.json().access_token.split('.')[1], 'base64url').toString()).client_id, 'backend')
})

test('a client that is not first-party may not use the password grant', async (t) => {
  const app = await build(t, { clients: [{ clientId: 'third-party', redirectUris: ['https://app.example.com/callback'] }] })
  await register(app, 'ada@example.com')
  const res = await app.inject(tokenRequest(passwordGrant({ client_id: 'third-party' })))
  assert.equal(res.statusCode, 400)
  assert.equal(res.json().error, 'unauthorized_client')
})

test('malformed token requests get RFC 6749 error bodies, never a 5xx', async (t) => {
  const app = await build(t)
  await register(app, 'ada@example.com')
  const cases: { name: string, error: string, headers?: Record<string, string>, payload: string }[] = [
    { name: 'unknown grant', error: 'unsupported_grant_type', payload: form(passwordGrant({ grant_type: 'magic' })) },
    { name: 'no grant_type', error: 'invalid_request', payload: form({ client_id: 'swagger-ui' }) },
    { name: 'no password', error: 'invalid_request', payload: form({ grant_type: 'password', username: 'ada@example.com', client_id: 'swagger-ui' }) },
    { name: 'no client', error: 'invalid_request', payload: form({ grant_type: 'password', username: 'ada@example.com', password: PASSWORD }) },
    { name: 'repeated parameter', error: 'invalid_request', payload: `${form(passwordGrant())}&grant_type=password` },
    { name: 'JSON body', error: 'invalid_request', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(passwordGrant()) },
    { name: 'text body', error: 'invalid_request', headers: { 'content-type': 'text/plain' }, payload: 'grant_type=password' },
    { name: 'no content type', error: 'invalid_request', headers: { 'content-type': '' }, payload: '' },
    { name: 'huge body', error: 'invalid_request', payload: form(passwordGrant({ password: 'x'.repeat(100_000) })) },
    { name: 'overlong parameter', error: 'invalid_request', payload: form(passwordGrant({ scope: 'x'.repeat(5000) })) },
    { name: 'broken Basic header', error: 'invalid_client', headers: { authorization: 'Basic %%%' }, payload: form(passwordGrant()) },
    { name: 'Basic and body secret', error: 'invalid_request', headers: { authorization: `Basic ${Buffer.from('swagger-ui:').toString('base64')}` }, payload: form(passwordGrant({ client_secret: 'x' })) },
    { name: 'percent garbage', error: 'invalid_request', payload: 'grant_type=%E0%A4%A&username=%' }
  ]
  for (const c of cases) {
    const res = await app.inject({ method: 'POST', url: '/oauth/token', headers: { ...FORM, ...c.headers }, payload: c.payload })
    assert.ok(res.statusCode === 400 || res.statusCode === 401, `${c.name}: ${res.statusCode} ${res.body}`)
    const body = res.json()
    assert.equal(body.error, c.error, `${c.name}: ${res.body}`)
    assert.equal(typeof body.error_description, 'string', c.name)
    assert.deepEqual(Object.keys(body).sort(), ['error', 'error_description'], c.name)
  }
})

test('revocation answers 200 with an empty body (RFC 7009 §2.2), also for a token it does not know', async (t) => {
  const app = await build(t)
  await register(app, 'ada@example.com')
  const { access_token: token } = await passwordToken(app, 'ada@example.com')
  for (const value of [token, 'not-a-token']) {
    const res = await app.inject({ method: 'POST', url: '/oauth/revoke', headers: FORM, payload: form({ token: value, client_id: 'swagger-ui' }) })
    assert.equal(res.statusCode, 200)
    assert.equal(res.body, '')
    assert.equal(res.headers['cache-control'], 'no-store')
  }
})
