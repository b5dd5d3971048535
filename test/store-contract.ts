import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { EmailAlreadyExistsError, type UserStore } from '../index.js'
import { build } from './support/app.js'

/**
 * The behaviour every UserStore adapter must have. Each test gets a fresh, empty
 * store from `make` and closes it at the end.
 */
export function storeContract (name: string, make: () => Promise<UserStore>) {
  async function fresh (t: TestContext) {
    const store = await make()
    await store.init()
    await store.init() // idempotent
    t.after(() => store.close())
    return store
  }

  test(`${name}: createUser fills defaults and the user can be read back by id and by any case of its email`, async (t) => {
    const store = await fresh(t)
    const user = await store.createUser({ email: ' Ada@Example.com ', hashedPassword: 'h' })
    assert.equal(user.email, 'Ada@Example.com')
    assert.equal(user.isActive, true)
    assert.equal(user.isVerified, false)
    assert.equal(user.isSuperuser, false)
    assert.ok(user.createdAt instanceof Date)
    assert.equal(user.createdAt.getTime(), user.updatedAt.getTime())
    assert.deepEqual(await store.getUserById(user.id), user)
    assert.deepEqual(await store.getUserByEmail('ADA@example.COM'), user)
    assert.equal(await store.getUserById('no-such-id'), null)
    assert.equal(await store.getUserByEmail('nobody@example.com'), null)
  })

  test(`${name}: flags given at creation are kept`, async (t) => {
    const store = await fresh(t)
    const user = await store.createUser({ email: 'root@example.com', hashedPassword: null, isSuperuser: true, isVerified: true, isActive: false })
    assert.deepEqual(
      [user.isSuperuser, user.isVerified, user.isActive, user.hashedPassword],
      [true, true, false, null]
    )
    assert.deepEqual(await store.getUserById(user.id), user)
  })

  test(`${name}: a second user with the same normalized email is refused and nothing changes`, async (t) => {
    const store = await fresh(t)
    const first = await store.createUser({ email: 'ada@example.com', hashedPassword: 'one' })
    await assert.rejects(store.createUser({ email: 'ADA@EXAMPLE.COM', hashedPassword: 'two' }), EmailAlreadyExistsError)
    assert.deepEqual(await store.getUserByEmail('ada@example.com'), first)
  })

  test(`${name}: 50 parallel creations of one email make exactly one user`, async (t) => {
    const store = await fresh(t)
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) => store.createUser({ email: i % 2 ? 'race@example.com' : 'RACE@example.com', hashedPassword: `h${i}` }))
    )
    const ok = results.filter((r) => r.status === 'fulfilled')
    const refused = results.filter((r) => r.status === 'rejected' && r.reason instanceof EmailAlreadyExistsError)
    assert.equal(ok.length, 1)
    assert.equal(refused.length, 49)
    assert.equal((await store.getUserByEmail('race@example.com'))?.id, ok[0]?.status === 'fulfilled' ? ok[0].value.id : undefined)
  })

  test(`${name}: updateUser applies changes, bumps updatedAt and ignores undefined fields`, async (t) => {
    const store = await fresh(t)
    const user = await store.createUser({ email: 'ada@example.com', hashedPassword: 'h' })
    await new Promise((resolve) => setTimeout(resolve, 5))
    const updated = await store.updateUser(user.id, { isVerified: true, hashedPassword: 'h2', isSuperuser: undefined })
    assert.ok(updated)
    assert.equal(updated.isVerified, true)
    assert.equal(updated.hashedPassword, 'h2')
    assert.equal(updated.isSuperuser, false)
    assert.equal(updated.createdAt.getTime(), user.createdAt.getTime())
    assert.ok(updated.updatedAt.getTime() > user.updatedAt.getTime())
    assert.deepEqual(await store.getUserById(user.id), updated)
    assert.equal(await store.updateUser('no-such-id', { isActive: false }), null)
  })

  test(`${name}: changing the email moves the unique key; taking another user's email is refused`, async (t) => {
    const store = await fresh(t)
    const ada = await store.createUser({ email: 'ada@example.com', hashedPassword: 'h' })
    const bob = await store.createUser({ email: 'bob@example.com', hashedPassword: 'h' })
    await assert.rejects(store.updateUser(ada.id, { email: 'Bob@example.com' }), EmailAlreadyExistsError)
    assert.deepEqual(await store.getUserById(ada.id), ada)
    assert.deepEqual(await store.getUserById(bob.id), bob)
    const moved = await store.updateUser(ada.id, { email: 'ada@new.example' })
    assert.equal(moved?.email, 'ada@new.example')
    assert.equal(await store.getUserByEmail('ada@example.com'), null)
    assert.equal((await store.getUserByEmail('ADA@new.example'))?.id, ada.id)
    // The old address is free again.
    const carol = await store.createUser({ email: 'ada@example.com', hashedPassword: 'h' })
    assert.notEqual(carol.id, ada.id)
    // A change of case only is no conflict with oneself.
    assert.equal((await store.updateUser(ada.id, { email: 'ADA@new.example' }))?.email, 'ADA@new.example')
  })

  test(`${name}: deleteUser removes the user and frees the email`, async (t) => {
    const store = await fresh(t)
    const user = await store.createUser({ email: 'ada@example.com', hashedPassword: 'h' })
    assert.equal(await store.deleteUser(user.id), true)
    assert.equal(await store.deleteUser(user.id), false)
    assert.equal(await store.getUserById(user.id), null)
    assert.equal(await store.getUserByEmail('ada@example.com'), null)
    await store.createUser({ email: 'ada@example.com', hashedPassword: 'h' })
  })

  test(`${name}: returned users are copies`, async (t) => {
    const store = await fresh(t)
    const user = await store.createUser({ email: 'ada@example.com', hashedPassword: 'h' })
    user.isSuperuser = true
    user.createdAt.setFullYear(1999)
    const again = await store.getUserById(user.id)
    assert.ok(again)
    assert.equal(again.isSuperuser, false)
    assert.notEqual(again.createdAt.getFullYear(), 1999)
    again.email = 'changed@example.com'
    assert.equal((await store.getUserById(user.id))?.email, 'ada@example.com')
  })

  test(`${name}: signing keys are listed newest first; a kid is added once`, async (t) => {
    const store = await fresh(t)
    assert.deepEqual(await store.listSigningKeys(), [])
    const old = { kid: 'k1', alg: 'EdDSA' as const, privateJwk: { kty: 'OKP', crv: 'Ed25519', x: 'x1', d: 'd1' }, createdAt: new Date('2026-01-01T00:00:00Z') }
    const recent = { kid: 'k2', alg: 'ES256' as const, privateJwk: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y', d: 'd' }, createdAt: new Date('2026-06-01T00:00:00Z') }
    await store.addSigningKey(old)
    await store.addSigningKey(recent)
    await store.addSigningKey({ ...old, privateJwk: { kty: 'OKP', crv: 'Ed25519', x: 'other', d: 'other' } })
    assert.deepEqual(await store.listSigningKeys(), [recent, old])
  })

  test(`${name}: 50 parallel registrations of one email over HTTP give one 201 and 49 clean 400s`, async (t) => {
    const store = await make()
    const app = await build(t, { store })
    const responses = await Promise.all(Array.from({ length: 50 }, () =>
      app.inject({ method: 'POST', url: '/auth/register', payload: { email: 'race@example.com', password: 'correct horse battery' } })
    ))
    const created = responses.filter((r) => r.statusCode === 201)
    const refused = responses.filter((r) => r.statusCode === 400 && r.json().code === 'REGISTER_USER_ALREADY_EXISTS')
    assert.equal(created.length, 1)
    assert.equal(refused.length, 49, responses.map((r) => r.statusCode).join(','))
    const stored = await app.usersStore.getUserByEmail('race@example.com')
    assert.equal(stored?.id, created[0]?.json().id)
  })
}
