// Administration under /users: superusers with a first-party token and the admin scope list,
// read, change and delete users; permissions guard the app's routes.
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import { build, passwordToken, type BuildOptions } from './support/app.js'
import { authorizeCode, CLIENTS, exchange, refresh } from './support/oauth.js'

const PASSWORD = 'correct horse battery'
const ADMIN_SCOPE = 'users:admin'

async function setup (t: TestContext, options: BuildOptions = {}) {
  const app = await build(t, { clients: CLIENTS, ...options })
  const admin = await app.users.manager.register({ email: 'root@example.com', password: PASSWORD }, { isSuperuser: true, isVerified: true })
  const user = await app.users.manager.register({ email: 'ada@example.com', password: PASSWORD })
  const adminToken = (await passwordToken(app, 'root@example.com', PASSWORD, ADMIN_SCOPE)).access_token
  assert.equal((await passwordToken(app, 'root@example.com', PASSWORD, ADMIN_SCOPE)).scope, ADMIN_SCOPE)
  const as = (token: string) => ({ authorization: `Bearer ${token}` })
  return { app, admin, user, adminToken, as }
}

const call = (app: FastifyInstance, method: 'GET' | 'PATCH' | 'DELETE', url: string, token: string, payload?: object) =>
  app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(payload && { payload }) })

test('only a superuser with a first-party token and the admin scope administers users', async (t) => {
  const { app, user, adminToken } = await setup(t)
  assert.equal((await call(app, 'GET', `/users/${user.id}`, adminToken)).statusCode, 200)

  const plain = (await passwordToken(app, 'ada@example.com', PASSWORD, ADMIN_SCOPE))
  assert.equal(plain.scope, '', 'a user who is no superuser does not get the admin scope')
  const noScope = (await passwordToken(app, 'root@example.com', PASSWORD, 'items:read')).access_token
  // A third-party client a superuser authorized with the admin scope.
  const authorized = await authorizeCode(app, { clientId: 'spa', email: 'root@example.com', scope: ADMIN_SCOPE })
  const thirdParty = (await exchange(app, authorized, 'spa')).json<{ access_token: string, scope: string }>()
  for (const [who, token] of [['a plain user', plain.access_token], ['no admin scope', noScope], ['a third-party client', thirdParty.access_token]] as const) {
    for (const [method, url, payload] of [['GET', '/users'], ['GET', `/users/${user.id}`], ['PATCH', `/users/${user.id}`, { isSuperuser: true }], ['DELETE', `/users/${user.id}`]] as const) {
      const res = await call(app, method, url, token, payload)
      assert.equal(res.statusCode, 403, `${who}: ${method} ${url}: ${res.body}`)
    }
  }
  assert.equal((await app.users.store.getUserById(user.id))?.isSuperuser, false)
  assert.equal((await call(app, 'GET', '/users', 'not-a-token')).statusCode, 401)
})

test('listing pages through more than 1,000 users, each once, in a stable order; filters by address or its beginning', async (t) => {
  const { app, adminToken } = await setup(t)
  const { store } = app.users
  for (let i = 0; i < 1000; i += 100) {
    await Promise.all(Array.from({ length: 100 }, (_, j) => store.createUser({ email: `user${String(i + j).padStart(4, '0')}@example.org`, hashedPassword: null })))
  }
  const seen: string[] = []
  let url = '/users?limit=100'
  for (let pages = 0; pages < 20; pages++) {
    const res = await call(app, 'GET', url, adminToken)
    assert.equal(res.statusCode, 200, res.body)
    const page = res.json<{ users: { id: string, email: string }[], next: string | null }>()
    seen.push(...page.users.map((u) => u.id))
    if (page.next === null) break
    url = `/users?limit=100&cursor=${encodeURIComponent(page.next)}`
  }
  assert.equal(seen.length, 1002)
  assert.equal(new Set(seen).size, 1002)

  const exact = (await call(app, 'GET', '/users?email=USER0042@example.org', adminToken)).json<{ users: { email: string }[] }>()
  assert.deepEqual(exact.users.map((u) => u.email), ['user0042@example.org'])
  const prefix = (await call(app, 'GET', '/users?email=user001&limit=1000', adminToken)).json<{ users: { email: string }[] }>()
  assert.equal(prefix.users.length, 10)
  assert.ok(prefix.users.every((u) => u.email.startsWith('user001')))
  const none = (await call(app, 'GET', `/users?email=${encodeURIComponent('.*')}`, adminToken)).json<{ users: unknown[] }>()
  assert.deepEqual(none.users, [], 'a prefix is matched literally')
  const bad = await call(app, 'GET', '/users?cursor=forged', adminToken)
  assert.equal(bad.statusCode, 400)
  assert.equal(bad.json().code, 'INVALID_CURSOR')
})

test('an administrator changes every field; the user\'s own routes show it', async (t) => {
  const { app, user, adminToken } = await setup(t)
  const res = await call(app, 'PATCH', `/users/${user.id}`, adminToken, {
    email: 'lovelace@example.com', isVerified: true, isSuperuser: true, permissions: ['reports', 'billing'], password: 'set by the admin'
  })
  assert.equal(res.statusCode, 200, res.body)
  assert.deepEqual(
    (({ email, isVerified, isSuperuser, isActive, permissions }) => ({ email, isVerified, isSuperuser, isActive, permissions }))(res.json()),
    { email: 'lovelace@example.com', isVerified: true, isSuperuser: true, isActive: true, permissions: ['reports', 'billing'] }
  )
  assert.ok(await app.users.manager.authenticate('lovelace@example.com', 'set by the admin'))
  const unverified = await call(app, 'PATCH', `/users/${user.id}`, adminToken, { email: 'ada3@example.com' })
  assert.equal(unverified.json().isVerified, false, 'a new address is not verified unless the administrator says so')
  const taken = await call(app, 'PATCH', `/users/${user.id}`, adminToken, { email: 'root@example.com' })
  assert.equal(taken.json().code, 'UPDATE_USER_EMAIL_ALREADY_EXISTS')
  const weak = await call(app, 'PATCH', `/users/${user.id}`, adminToken, { password: 'short' })
  assert.equal(weak.json().code, 'UPDATE_USER_INVALID_PASSWORD')
  const unknown = await call(app, 'PATCH', `/users/${user.id}`, adminToken, { hashedPassword: 'x' })
  assert.equal(unknown.json().code, 'VALIDATION_ERROR')
  assert.equal((await call(app, 'GET', '/users/no-such-user', adminToken)).json().code, 'USER_NOT_FOUND')
})

test('deactivating a user refuses their live token at the next request and ends their refresh tokens and sessions', async (t) => {
  const { app, user, adminToken } = await setup(t)
  const authorized = await authorizeCode(app, { email: 'ada@example.com' })
  const tokens = (await exchange(app, authorized)).json<{ access_token: string, refresh_token: string }>()
  assert.equal((await call(app, 'GET', '/users/me', tokens.access_token)).statusCode, 200)

  assert.equal((await call(app, 'PATCH', `/users/${user.id}`, adminToken, { isActive: false })).statusCode, 200)
  const me = await call(app, 'GET', '/users/me', tokens.access_token)
  assert.equal(me.statusCode, 401)
  assert.equal((await refresh(app, tokens.refresh_token)).statusCode, 400)
  assert.equal(await app.users.manager.authenticate('ada@example.com', PASSWORD), null)
  // Reactivated, the old refresh token stays dead.
  await call(app, 'PATCH', `/users/${user.id}`, adminToken, { isActive: true })
  assert.equal((await refresh(app, tokens.refresh_token)).statusCode, 400)
})

test('nobody takes their own superuser flag or deactivates themselves; the last superuser stays', async (t) => {
  const { app, admin, user, adminToken } = await setup(t)
  const self = await call(app, 'PATCH', `/users/${admin.id}`, adminToken, { isSuperuser: false })
  assert.equal(self.statusCode, 403)
  assert.equal(self.json().code, 'ADMIN_SELF_CHANGE')
  assert.equal((await call(app, 'PATCH', `/users/${admin.id}`, adminToken, { isActive: false })).json().code, 'ADMIN_SELF_CHANGE')
  const last = await call(app, 'DELETE', `/users/${admin.id}`, adminToken)
  assert.equal(last.statusCode, 409)
  assert.equal(last.json().code, 'ADMIN_LAST_SUPERUSER')

  // With a second superuser, the first may leave.
  await call(app, 'PATCH', `/users/${user.id}`, adminToken, { isSuperuser: true })
  assert.equal((await call(app, 'DELETE', `/users/${admin.id}`, adminToken)).statusCode, 204)
  assert.equal(await app.users.store.getUserById(admin.id), null)
  assert.equal(await app.users.store.countSuperusers(), 1)
})

test('deletion takes everything of the user; a beforeUserDelete listener that throws stops it', async (t) => {
  const { app, user, adminToken } = await setup(t)
  const authorized = await authorizeCode(app, { email: 'ada@example.com' })
  const tokens = (await exchange(app, authorized)).json<{ access_token: string, refresh_token: string }>()

  let refuse = true
  app.users.on('beforeUserDelete', async () => { if (refuse) throw Object.assign(new Error('billing says no'), { statusCode: 409 }) })
  const deleted: string[] = []
  app.users.on('userDeleted', ({ user: gone, by }) => { deleted.push(`${gone.email} by ${String(by)}`) })
  const refused = await call(app, 'DELETE', `/users/${user.id}`, adminToken)
  assert.equal(refused.statusCode, 409, refused.body)
  assert.ok(await app.users.store.getUserById(user.id), 'nothing deleted')
  assert.equal((await refresh(app, tokens.refresh_token)).statusCode, 200, 'nothing revoked')

  refuse = false
  const res = await call(app, 'DELETE', `/users/${user.id}`, adminToken)
  assert.equal(res.statusCode, 204, res.body)
  assert.equal(await app.users.store.getUserById(user.id), null)
  assert.equal((await call(app, 'GET', '/users/me', tokens.access_token)).statusCode, 401)
  assert.equal(deleted.length, 1)
  assert.match(deleted[0] as string, /^ada@example\.com by /)
  assert.equal((await call(app, 'DELETE', `/users/${user.id}`, adminToken)).statusCode, 404)
})

test('permissions guard the app\'s routes, and the OpenAPI operation says which', async (t) => {
  const { app, user, adminToken } = await setup(t, {
    routes: (app) => {
      app.get('/reports', { config: { auth: { permissions: ['reports'] } }, schema: { operationId: 'getReports', response: { 200: { type: 'object', properties: { ok: { type: 'boolean' } } } } } }, async () => ({ ok: true }))
    }
  })
  const token = (await passwordToken(app, 'ada@example.com', PASSWORD)).access_token
  const refused = await call(app, 'GET', '/reports', token)
  assert.equal(refused.statusCode, 403)
  assert.equal(refused.json().code, 'INSUFFICIENT_PERMISSIONS')
  await call(app, 'PATCH', `/users/${user.id}`, adminToken, { permissions: ['reports'] })
  assert.equal((await call(app, 'GET', '/reports', token)).statusCode, 200)
  // A superuser has no permission implicitly.
  assert.equal((await call(app, 'GET', '/reports', adminToken)).statusCode, 403)

  const doc = (await app.inject({ url: '/docs/json' })).json<{ paths: Record<string, Record<string, { description?: string, 'x-permissions'?: string[], responses: Record<string, unknown> }>> }>()
  const op = doc.paths['/reports']?.get
  assert.deepEqual(op?.['x-permissions'], ['reports'])
  assert.match(op?.description ?? '', /Needs the permissions reports/)
  assert.match(JSON.stringify(op?.responses['403']), /INSUFFICIENT_PERMISSIONS/)
  assert.throws(() => app.users.guard({ permissions: ['has space'] }), /permission names/)
})
