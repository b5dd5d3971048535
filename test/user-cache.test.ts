// userCacheTtl: the guard may answer from a user it read before. A change through this
// instance applies at once; one through another instance (another app on the same store)
// only after the ttl, never later. Off by default: then every request reads the store.
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { memoryStore, type UserStore } from '../index.js'
import type { StoredUser } from '../stores/types.js'
import { STORE_METHODS } from '../schemas/options.js'
import { createUserCache } from '../services/user-cache.js'
import { build, passwordToken, register, type BuildOptions } from './support/app.js'

const TTL = 30

/** Two instances of one app on one store: `app` under test, `other` changing users elsewhere. */
async function instances (t: TestContext, options: BuildOptions) {
  const store = memoryStore()
  const routes: BuildOptions['routes'] = (app) => {
    app.get('/items', { config: { auth: { scopes: ['items:read'] } }, schema: { response: { 200: { type: 'object', additionalProperties: true, description: 'The caller' } } } }, async (request) => ({ email: request.auth?.user?.email }))
    app.get('/reports', { config: { auth: { permissions: ['reports'] } }, schema: { response: { 200: { type: 'object', additionalProperties: true, description: 'Reports' } } } }, async () => ({ ok: true }))
  }
  const app = await build(t, { store, routes, ...options })
  const other = await build(t, { store, routes })
  const { id } = await register(app, 'ada@example.com')
  await app.users.store.updateUser(id, { permissions: ['reports'] })
  const { access_token: token } = await passwordToken(app, 'ada@example.com', undefined, 'items:read')
  const get = async (url: string) => (await app.inject({ url, headers: { authorization: `Bearer ${token}` } })).statusCode
  return { app, other, id, get, store }
}

test('with userCacheTtl, a user changed or deleted through this instance is refused at once', async (t) => {
  const { app, id, get } = await instances(t, { userCacheTtl: TTL })
  assert.equal(await get('/items'), 200)
  assert.equal(await get('/reports'), 200)
  assert.equal(app.users.config.userCacheTtl, TTL)

  await app.users.store.updateUser(id, { permissions: [] })
  assert.equal(await get('/reports'), 403, 'the permission is gone at once')
  await app.users.store.updateUser(id, { isActive: false })
  assert.equal(await get('/items'), 401, 'deactivated at once')
  await app.users.store.updateUser(id, { isActive: true })
  assert.equal(await get('/items'), 200)
  await app.users.store.deleteUser(id)
  assert.equal(await get('/items'), 401, 'deleted at once')
})

test('with userCacheTtl, a change made elsewhere applies within the ttl, not before', async (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
  const { other, id, get } = await instances(t, { userCacheTtl: TTL })
  assert.equal(await get('/items'), 200)
  await other.users.store.updateUser(id, { isActive: false })
  t.mock.timers.tick((TTL - 1) * 1000)
  assert.equal(await get('/items'), 200, 'the instance still answers from what it read')
  t.mock.timers.tick(1000)
  assert.equal(await get('/items'), 401, 'never longer than the ttl')
})

test('without userCacheTtl, every request reads the store: a change made elsewhere applies at once', async (t) => {
  const { other, id, get } = await instances(t, {})
  assert.equal(await get('/items'), 200)
  await other.users.store.updateUser(id, { isActive: false })
  assert.equal(await get('/items'), 401)
})

test('the cache: a read that began before a change does not keep the old user; the oldest goes when full; records are frozen', async () => {
  const store = memoryStore()
  await store.init()
  const made = await Promise.all(['a', 'b', 'c'].map((name) => store.createUser({ email: `${name}@example.com`, hashedPassword: null })))
  const [a, b, c] = made as [StoredUser, StoredUser, StoredUser]
  // A store that counts its reads, and holds one until told to finish.
  let reads = 0
  let hold: Promise<void> | undefined
  const counting: UserStore = { ...store, getUserById: async (id) => { reads++; const user = await store.getUserById(id); await hold; return user } }
  const cache = createUserCache(counting, STORE_METHODS, { ttl: 60_000, maxEntries: 2 })

  let release = () => {}
  hold = new Promise<void>((resolve) => { release = resolve })
  const reading = cache.getUserById(a.id)
  await cache.store.updateUser(a.id, { isActive: false })
  release()
  assert.equal((await reading)?.isActive, true, 'the read answers what it read')
  assert.equal(cache.size, 0, 'but does not keep it')
  hold = undefined

  for (const user of [a, b, c]) await cache.getUserById(user.id)
  assert.equal(cache.size, 2, 'bounded')
  reads = 0
  const kept = await cache.getUserById(c.id)
  assert.equal(reads, 0, 'the newest is kept')
  await cache.getUserById(a.id)
  assert.equal(reads, 1, 'the oldest went')
  assert.ok(Object.isFrozen(kept) && Object.isFrozen(kept?.permissions), 'a record shared by requests cannot be changed in place')
})
