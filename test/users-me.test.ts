import { test } from 'node:test'
import assert from 'node:assert/strict'
import { build, passwordToken, register } from './support/app.js'

const PASSWORD = 'correct horse battery'

async function signedIn (t: Parameters<typeof build>[0]) {
  const app = await build(t)
  const user = await register(app, 'ada@example.com')
  await app.users.store.updateUser(user.id, { isVerified: true })
  const { access_token: token } = await passwordToken(app, 'ada@example.com')
  return { app, user, headers: { authorization: `Bearer ${token}` } }
}

test('GET /users/me returns the public user and never the password hash', async (t) => {
  const { app, user, headers } = await signedIn(t)
  const res = await app.inject({ url: '/users/me', headers })
  assert.equal(res.statusCode, 200)
  assert.equal(res.json().id, user.id)
  assert.equal(res.json().isVerified, true)
  assert.doesNotMatch(res.body, /argon2|hashedPassword/)
  assert.equal((await app.inject({ url: '/users/me' })).statusCode, 401)
})

test('PATCH /users/me changes the email and marks it unverified; a change of case keeps it verified', async (t) => {
  const { app, headers } = await signedIn(t)
  const sameAddress = await app.inject({ method: 'PATCH', url: '/users/me', headers, payload: { email: 'Ada@Example.com' } })
  assert.equal(sameAddress.statusCode, 200)
  assert.equal(sameAddress.json().email, 'Ada@Example.com')
  assert.equal(sameAddress.json().isVerified, true)
  const res = await app.inject({ method: 'PATCH', url: '/users/me', headers, payload: { email: 'ada@new.example' } })
  assert.equal(res.statusCode, 200)
  assert.equal(res.json().email, 'ada@new.example')
  assert.equal(res.json().isVerified, false)
  assert.ok(await app.users.store.getUserByEmail('ada@new.example'))
  assert.equal(await app.users.store.getUserByEmail('ada@example.com'), null)
})

test('PATCH /users/me refuses an email another user has', async (t) => {
  const { app, headers } = await signedIn(t)
  await register(app, 'bob@example.com')
  const res = await app.inject({ method: 'PATCH', url: '/users/me', headers, payload: { email: 'BOB@example.com' } })
  assert.equal(res.statusCode, 400)
  assert.equal(res.json().code, 'UPDATE_USER_EMAIL_ALREADY_EXISTS')
  assert.ok(await app.users.store.getUserByEmail('ada@example.com'))
})

test('PATCH /users/me changes the password only with the current one, and the new one logs in', async (t) => {
  const { app, headers } = await signedIn(t)
  const without = await app.inject({ method: 'PATCH', url: '/users/me', headers, payload: { password: 'a brand new password' } })
  assert.equal(without.statusCode, 400)
  assert.equal(without.json().code, 'UPDATE_USER_INVALID_PASSWORD')
  const wrong = await app.inject({ method: 'PATCH', url: '/users/me', headers, payload: { password: 'a brand new password', currentPassword: 'nope nope nope' } })
  assert.equal(wrong.statusCode, 400)
  const weak = await app.inject({ method: 'PATCH', url: '/users/me', headers, payload: { password: 'short', currentPassword: PASSWORD } })
  assert.equal(weak.statusCode, 400)
  assert.match(weak.json().detail, /at least 8/)
  await passwordToken(app, 'ada@example.com', PASSWORD)
  const ok = await app.inject({ method: 'PATCH', url: '/users/me', headers, payload: { password: 'a brand new password', currentPassword: PASSWORD } })
  assert.equal(ok.statusCode, 200)
  await passwordToken(app, 'ada@example.com', 'a brand new password')
  await assert.rejects(passwordToken(app, 'ada@example.com', PASSWORD), /invalid_grant/)
})

test('PATCH /users/me refuses fields a user may not set', async (t) => {
  const { app, headers } = await signedIn(t)
  for (const payload of [{ isSuperuser: true }, { isVerified: true }, { id: 'x' }, {}]) {
    const res = await app.inject({ method: 'PATCH', url: '/users/me', headers, payload })
    assert.equal(res.statusCode, 400, JSON.stringify(payload))
    assert.equal(res.json().code, 'VALIDATION_ERROR')
  }
  const me = await app.inject({ url: '/users/me', headers })
  assert.equal(me.json().isSuperuser, false)
})

test('what a token shows of its user is never cached: /users/me, its provider accounts, userinfo', async (t) => {
  const { app } = await signedIn(t)
  const { access_token: token } = await passwordToken(app, 'ada@example.com', PASSWORD, 'openid email')
  const headers = { authorization: `Bearer ${token}` }
  for (const url of ['/users/me', '/users/me/oauth-accounts', '/oauth/userinfo']) {
    const res = await app.inject({ url, headers })
    assert.equal(res.statusCode, 200, `${url}: ${res.body}`)
    assert.equal(res.headers['cache-control'], 'no-store', url)
  }
  assert.equal((await app.inject({ url: '/users/me' })).headers['cache-control'], 'no-store', 'nor its refusals')
})
