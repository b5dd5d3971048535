// Email verification and password reset through the API (fastapi-users' routes), with the
// links taken from the events an app without a mailer sends them from.
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import { build, passwordToken, register } from './support/app.js'
import { authorizeCode, authorizePath, exchange, pkce, refresh, SWAGGER_REDIRECT } from './support/oauth.js'
import type { UsersEvents } from '../index.js'

const PASSWORD = 'correct horse battery'
const NEW_PASSWORD = 'a new and better password'

/** The next link of this kind the app makes, as an app listening to the events gets it. */
function nextLink (app: FastifyInstance, event: 'verifyRequested' | 'forgotPassword') {
  return new Promise<UsersEvents['verifyRequested']>((resolve) => {
    const listener = (payload: UsersEvents['verifyRequested']) => { app.users.off(event, listener); resolve(payload) }
    app.users.on(event, listener)
  })
}

function linksSeen (app: FastifyInstance, event: 'verifyRequested' | 'forgotPassword') {
  const seen: string[] = []
  app.users.on(event, ({ link }) => { seen.push(link) })
  return seen
}

const post = (app: FastifyInstance, url: string, payload: object) => app.inject({ method: 'POST', url, payload })

async function setup (t: TestContext) {
  const app = await build(t)
  const user = await register(app, 'ada@example.com', PASSWORD)
  return { app, user }
}

test('request-verify-token: 202 for any address; a link only for an unverified active user, which verifies once', async (t) => {
  const { app } = await setup(t)
  const seen = linksSeen(app, 'verifyRequested')
  for (const email of ['nobody@example.com', 'ada@example.com']) {
    const res = await post(app, '/auth/request-verify-token', { email })
    assert.equal(res.statusCode, 202, res.body)
    assert.equal(res.body, '')
  }
  assert.equal(seen.length, 1)
  const link = new URL(seen[0] as string)
  assert.equal(`${link.origin}${link.pathname}`, 'http://localhost:3000/account/verify')
  const token = link.searchParams.get('token') as string

  const verified = await post(app, '/auth/verify', { token })
  assert.equal(verified.statusCode, 200, verified.body)
  assert.equal(verified.json().isVerified, true)
  const again = await post(app, '/auth/verify', { token })
  assert.equal(again.statusCode, 400)
  assert.equal(again.json().code, 'VERIFY_USER_ALREADY_VERIFIED')

  // Verified: no more links.
  await post(app, '/auth/request-verify-token', { email: 'ada@example.com' })
  assert.equal(seen.length, 1)
})

test('a verification link is for one address: after an email change it verifies nothing', async (t) => {
  const { app } = await setup(t)
  const pending = nextLink(app, 'verifyRequested')
  await post(app, '/auth/request-verify-token', { email: 'ada@example.com' })
  const { token } = await pending
  const { access_token: accessToken } = await passwordToken(app, 'ada@example.com', PASSWORD)
  const changed = await app.inject({ method: 'PATCH', url: '/users/me', headers: { authorization: `Bearer ${accessToken}` }, payload: { email: 'ada2@example.com', currentPassword: PASSWORD } })
  assert.equal(changed.statusCode, 200, changed.body)
  const res = await post(app, '/auth/verify', { token })
  assert.equal(res.statusCode, 400)
  assert.equal(res.json().code, 'VERIFY_USER_BAD_TOKEN')
  assert.equal((await app.users.store.getUserByEmail('ada2@example.com'))?.isVerified, false)
})

test('a tampered, foreign or oversized verification token is refused', async (t) => {
  const { app } = await setup(t)
  const pending = nextLink(app, 'verifyRequested')
  await post(app, '/auth/request-verify-token', { email: 'ada@example.com' })
  const { token } = await pending
  const [header, payload, signature] = token.split('.') as [string, string, string]
  const flipped = `${header}.${payload}.${signature.slice(0, -2)}${signature.endsWith('AA') ? 'BB' : 'AA'}`
  // A reset token is no verification token, and the reverse.
  const reset = nextLink(app, 'forgotPassword')
  await post(app, '/auth/forgot-password', { email: 'ada@example.com' })
  const { token: resetToken } = await reset
  for (const bad of [flipped, resetToken, 'not-a-token', `${token}x`]) {
    const res = await post(app, '/auth/verify', { token: bad })
    assert.equal(res.statusCode, 400, bad)
    assert.equal(res.json().code, 'VERIFY_USER_BAD_TOKEN', bad)
  }
  const huge = await post(app, '/auth/verify', { token: 'x'.repeat(5000) })
  assert.equal(huge.statusCode, 400)
  assert.equal(huge.json().code, 'VALIDATION_ERROR')
  assert.equal((await app.users.store.getUserByEmail('ada@example.com'))?.isVerified, false)
})

test('a verification link expires', async (t) => {
  const app = await build(t, { verifyTokenTtl: 60 })
  await register(app, 'ada@example.com', PASSWORD)
  const pending = nextLink(app, 'verifyRequested')
  await post(app, '/auth/request-verify-token', { email: 'ada@example.com' })
  const { token } = await pending
  t.mock.timers.enable({ apis: ['Date'], now: Date.now() + 61_000 })
  const res = await post(app, '/auth/verify', { token })
  assert.equal(res.json().code, 'VERIFY_USER_BAD_TOKEN')
})

test('forgot and reset: the new password works, the old does not; the link is single use; sessions and refresh tokens end', async (t) => {
  const { app } = await setup(t)
  const authorized = await authorizeCode(app, { email: 'ada@example.com' })
  const tokens = (await exchange(app, authorized)).json<{ refresh_token?: string }>()
  assert.ok(tokens.refresh_token, 'a refresh token to be ended')

  const seen = linksSeen(app, 'forgotPassword')
  for (const email of ['nobody@example.com', 'ada@example.com']) {
    const res = await post(app, '/auth/forgot-password', { email })
    assert.equal(res.statusCode, 202)
  }
  assert.equal(seen.length, 1)
  const link = new URL(seen[0] as string)
  assert.equal(`${link.origin}${link.pathname}`, 'http://localhost:3000/account/reset-password')
  const token = link.searchParams.get('token') as string

  const short = await post(app, '/auth/reset-password', { token, password: 'short' })
  assert.equal(short.statusCode, 400)
  assert.equal(short.json().code, 'RESET_PASSWORD_INVALID_PASSWORD')

  const reset = await post(app, '/auth/reset-password', { token, password: NEW_PASSWORD })
  assert.equal(reset.statusCode, 204, reset.body)
  assert.equal(await app.users.manager.authenticate('ada@example.com', PASSWORD), null)
  assert.ok(await app.users.manager.authenticate('ada@example.com', NEW_PASSWORD))

  const again = await post(app, '/auth/reset-password', { token, password: 'yet another password' })
  assert.equal(again.statusCode, 400)
  assert.equal(again.json().code, 'RESET_PASSWORD_BAD_TOKEN')
  assert.ok(await app.users.manager.authenticate('ada@example.com', NEW_PASSWORD))

  assert.equal((await refresh(app, tokens.refresh_token)).statusCode, 400, 'the refresh token is revoked')
  // The browser session is gone: authorizing again shows the login page.
  const page = await authorized.browser.get(authorizePath({
    response_type: 'code', client_id: 'swagger-ui', redirect_uri: SWAGGER_REDIRECT, code_challenge: pkce().challenge, code_challenge_method: 'S256'
  }))
  assert.equal(page.statusCode, 200)
  assert.match(page.body, /name="password"/)
})

test('every outstanding reset link dies with any password change', async (t) => {
  const { app } = await setup(t)
  const seen = linksSeen(app, 'forgotPassword')
  await post(app, '/auth/forgot-password', { email: 'ada@example.com' })
  await post(app, '/auth/forgot-password', { email: 'ada@example.com' })
  await post(app, '/auth/forgot-password', { email: 'ada@example.com' })
  const [first, second, third] = seen.map((l) => new URL(l).searchParams.get('token') as string)
  assert.ok(first && second && third)

  assert.equal((await post(app, '/auth/reset-password', { token: first, password: NEW_PASSWORD })).statusCode, 204)
  const stale = await post(app, '/auth/reset-password', { token: second, password: 'attacker password 1' })
  assert.equal(stale.json().code, 'RESET_PASSWORD_BAD_TOKEN')

  // A change through the account, too.
  const { access_token: accessToken } = await passwordToken(app, 'ada@example.com', NEW_PASSWORD)
  await post(app, '/auth/forgot-password', { email: 'ada@example.com' })
  const fourth = new URL(seen[3] as string).searchParams.get('token') as string
  const patched = await app.inject({ method: 'PATCH', url: '/users/me', headers: { authorization: `Bearer ${accessToken}` }, payload: { password: 'changed in the account', currentPassword: NEW_PASSWORD } })
  assert.equal(patched.statusCode, 200, patched.body)
  for (const token of [third, fourth]) {
    const res = await post(app, '/auth/reset-password', { token, password: 'attacker password 2' })
    assert.equal(res.json().code, 'RESET_PASSWORD_BAD_TOKEN')
  }
  assert.ok(await app.users.manager.authenticate('ada@example.com', 'changed in the account'))
})

test('no link for an inactive user, and an inactive user\'s link does nothing', async (t) => {
  const { app, user } = await setup(t)
  const pending = nextLink(app, 'forgotPassword')
  await post(app, '/auth/forgot-password', { email: 'ada@example.com' })
  const { token } = await pending
  await app.users.store.updateUser(user.id, { isActive: false })
  const seen = linksSeen(app, 'forgotPassword')
  await post(app, '/auth/forgot-password', { email: 'ada@example.com' })
  assert.equal(seen.length, 0)
  const res = await post(app, '/auth/reset-password', { token, password: NEW_PASSWORD })
  assert.equal(res.json().code, 'RESET_PASSWORD_BAD_TOKEN')
})

test('mail requests are limited per client address (429) and per recipient (silently, still 202)', async (t) => {
  const app = await build(t, { rateLimit: { accountMail: { max: 3, timeWindow: 3600 }, mailRecipient: { max: 2, timeWindow: 3600 } } })
  await register(app, 'ada@example.com', PASSWORD)
  const seen = linksSeen(app, 'forgotPassword')
  const statuses = []
  for (let i = 0; i < 4; i++) statuses.push((await post(app, '/auth/forgot-password', { email: 'ada@example.com' })).statusCode)
  assert.deepEqual(statuses, [202, 202, 202, 429])
  assert.equal(seen.length, 2, 'the third request for one recipient sends nothing')
  // From another client address the recipient's budget still holds.
  const other = await app.inject({ method: 'POST', url: '/auth/forgot-password', payload: { email: 'ada@example.com' }, remoteAddress: '10.0.0.2' })
  assert.equal(other.statusCode, 202)
  assert.equal(seen.length, 2)
})

test('one reset link used twice at once: one new password wins, the other use is refused', async (t) => {
  const { app } = await setup(t)
  const pending = nextLink(app, 'forgotPassword')
  await post(app, '/auth/forgot-password', { email: 'ada@example.com' })
  const { token } = await pending
  const results = await Promise.all(['first new password', 'second new password'].map((password) => post(app, '/auth/reset-password', { token, password })))
  assert.deepEqual(results.map((r) => r.statusCode).sort(), [204, 400])
  const winner = results[0]?.statusCode === 204 ? 'first new password' : 'second new password'
  assert.ok(await app.users.manager.authenticate('ada@example.com', winner))
})
