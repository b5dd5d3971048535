import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import Fastify from 'fastify'
import fastifyUsers, {
  EmailAlreadyExistsError,
  InvalidCursorError,
  OAuthAccountExistsError,
  type StoredGrant,
  type StoredGrantFamily,
  type StoredOAuthAccount,
  type StoredSession,
  type StoredUpstreamState,
  type StoredUser,
  type UserStore
} from '../index.js'
import type { UserListQuery, UserPage } from '../stores/types.js'

/**
 * The behaviour every UserStore adapter must have, as node:test tests: call it at the top
 * level of a test file with a name and a function that makes a fresh, empty store (each
 * test closes its store at the end; drop the store's data in `close` if it must not stay).
 *
 * ```ts
 * import { storeContract } from 'fastify-users/testing'
 * storeContract('myStore', async () => myStore({ ... }))
 * ```
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

  test(`${name}: updateUser with an expected password hash: applied only from that hash, once among concurrent changes`, async (t) => {
    const store = await fresh(t)
    const user = await store.createUser({ email: 'ada@example.com', hashedPassword: 'h1' })
    assert.equal(await store.updateUser(user.id, { hashedPassword: 'x' }, { hashedPassword: 'other' }), null)
    assert.equal((await store.getUserById(user.id))?.hashedPassword, 'h1')
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.updateUser(user.id, { hashedPassword: `new-${i}` }, { hashedPassword: 'h1' })))
    const winners = results.filter((r) => r !== null)
    assert.equal(winners.length, 1)
    assert.equal((await store.getUserById(user.id))?.hashedPassword, winners[0]?.hashedPassword)
    // No password yet: null is a hash to expect too.
    const providerOnly = await store.createUser({ email: 'bob@example.com', hashedPassword: null })
    assert.equal((await store.updateUser(providerOnly.id, { hashedPassword: 'first' }, { hashedPassword: null }))?.hashedPassword, 'first')
    assert.equal(await store.updateUser(providerOnly.id, { hashedPassword: 'second' }, { hashedPassword: null }), null)
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

  test(`${name}: permissions and fields are kept as given, [] and {} by default`, async (t) => {
    const store = await fresh(t)
    const fields = { displayName: 'Ada', plan: { name: 'pro', seats: 3, trial: false }, tags: ['math', 'engines'], referrer: null }
    const ada = await store.createUser({ email: 'ada@example.com', hashedPassword: 'h', permissions: ['admin', 'billing'], fields })
    assert.deepEqual(ada.permissions, ['admin', 'billing'])
    assert.deepEqual(ada.fields, fields)
    assert.deepEqual(await store.getUserById(ada.id), ada)
    assert.deepEqual(await store.getUserByEmail('ada@example.com'), ada)
    const bob = await store.createUser({ email: 'bob@example.com', hashedPassword: 'h' })
    assert.deepEqual([bob.permissions, bob.fields], [[], {}])
    assert.deepEqual(await store.getUserById(bob.id), bob)
  })

  test(`${name}: updateUser replaces permissions and fields as a whole, and leaves them alone when not given`, async (t) => {
    const store = await fresh(t)
    const user = await store.createUser({ email: 'ada@example.com', hashedPassword: 'h', permissions: ['admin', 'billing'], fields: { displayName: 'Ada', plan: { name: 'pro', seats: 3 } } })
    const fieldsChanged = await store.updateUser(user.id, { fields: { plan: { name: 'free' } } })
    assert.deepEqual(fieldsChanged?.fields, { plan: { name: 'free' } }, 'not merged into the old fields')
    assert.deepEqual(fieldsChanged?.permissions, ['admin', 'billing'])
    const permissionsChanged = await store.updateUser(user.id, { permissions: ['support'] })
    assert.deepEqual(permissionsChanged?.permissions, ['support'])
    assert.deepEqual(permissionsChanged?.fields, { plan: { name: 'free' } })
    const other = await store.updateUser(user.id, { isVerified: true, permissions: undefined, fields: undefined })
    assert.deepEqual([other?.permissions, other?.fields], [['support'], { plan: { name: 'free' } }])
    const cleared = await store.updateUser(user.id, { permissions: [], fields: {} })
    assert.deepEqual([cleared?.permissions, cleared?.fields], [[], {}])
    assert.deepEqual(await store.getUserById(user.id), cleared)
  })

  test(`${name}: permissions and fields given or returned are copies, to their nested values`, async (t) => {
    const store = await fresh(t)
    const permissions = ['admin']
    const fields = { plan: { name: 'pro', limits: [1, 2] } }
    const user = await store.createUser({ email: 'ada@example.com', hashedPassword: 'h', permissions, fields })
    permissions.push('given-after-create')
    fields.plan.name = 'given-after-create'
    fields.plan.limits.push(3)
    const expected = { permissions: ['admin'], fields: { plan: { name: 'pro', limits: [1, 2] } } }
    const fieldsOf = (u: StoredUser | null | undefined) => ({ permissions: u?.permissions, fields: u?.fields })
    assert.deepEqual(fieldsOf(user), expected)
    assert.deepEqual(fieldsOf(await store.getUserById(user.id)), expected)

    const spoil = (u: StoredUser | null | undefined) => {
      assert.ok(u)
      u.permissions.push('mutated')
      u.fields.extra = 'mutated'
      const plan = u.fields.plan as { name: string, limits: number[] }
      plan.name = 'mutated'
      plan.limits.push(99)
    }
    spoil(user)
    spoil(await store.getUserById(user.id))
    spoil(await store.getUserByEmail('ada@example.com'))
    spoil((await store.listUsers({ limit: 10 })).users[0])
    assert.deepEqual(fieldsOf(await store.getUserById(user.id)), expected)

    const newPermissions = ['support']
    const newFields = { plan: { name: 'free', limits: [5] } }
    const updated = await store.updateUser(user.id, { permissions: newPermissions, fields: newFields })
    newPermissions.push('given-after-update')
    newFields.plan.limits.push(6)
    spoil(updated)
    assert.deepEqual(fieldsOf(await store.getUserById(user.id)), { permissions: ['support'], fields: { plan: { name: 'free', limits: [5] } } })
  })

  /** Every page of a listing, from the first; each must hold at most `limit` users. */
  async function allPages (store: UserStore, query: Omit<UserListQuery, 'cursor'>): Promise<StoredUser[][]> {
    const pages: StoredUser[][] = []
    let cursor: string | undefined
    do {
      const page: UserPage = await store.listUsers(cursor === undefined ? query : { ...query, cursor })
      assert.ok(page.users.length <= query.limit)
      pages.push(page.users)
      cursor = page.next ?? undefined
      assert.ok(pages.length <= 10_000, 'the listing ends')
    } while (cursor !== undefined)
    return pages
  }
  const listingOrder = (a: StoredUser, b: StoredUser) =>
    a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

  test(`${name}: listUsers pages through 1,000 users by 100: each once, ordered by createdAt then id`, async (t) => {
    const store = await fresh(t)
    const created: StoredUser[] = []
    // In batches, as fast as the store takes them: many users share a millisecond, so the
    // order among them is the id's.
    for (let batch = 0; batch < 10; batch++) {
      created.push(...await Promise.all(Array.from({ length: 100 }, (_, i) =>
        store.createUser({ email: `user${batch * 100 + i}@example.com`, hashedPassword: null })
      )))
    }
    const started = performance.now()
    const pages = await allPages(store, { limit: 100 })
    t.diagnostic(`10 pages of 100 users read in ${Math.round(performance.now() - started)} ms`)
    assert.deepEqual(pages.map((p) => p.length), Array(10).fill(100), 'the 10th page is the last')
    assert.deepEqual(pages.flat(), created.sort(listingOrder))
  })

  test(`${name}: listUsers of no users is one empty page; a page with the last user has no next`, async (t) => {
    const store = await fresh(t)
    assert.deepEqual(await store.listUsers({ limit: 10 }), { users: [], next: null })
    const users: StoredUser[] = []
    for (const email of ['a@example.com', 'b@example.com', 'c@example.com']) users.push(await store.createUser({ email, hashedPassword: null }))
    users.sort(listingOrder)
    assert.deepEqual(await store.listUsers({ limit: 3 }), { users, next: null })
    const first = await store.listUsers({ limit: 2 })
    assert.deepEqual(first.users, users.slice(0, 2))
    assert.equal(typeof first.next, 'string')
    assert.deepEqual(await store.listUsers({ limit: 2, cursor: first.next as string }), { users: users.slice(2), next: null })
    assert.deepEqual(await store.listUsers({ limit: 1000 }), { users, next: null })
  })

  test(`${name}: listUsers filters by exact address, in normalized form`, async (t) => {
    const store = await fresh(t)
    const ada = await store.createUser({ email: 'Ada@Example.com', hashedPassword: null })
    await store.createUser({ email: 'ada@example.community', hashedPassword: null })
    await store.createUser({ email: 'bob@example.com', hashedPassword: null })
    assert.deepEqual(await store.listUsers({ limit: 10, email: ' ADA@example.COM ' }), { users: [ada], next: null })
    assert.deepEqual(await store.listUsers({ limit: 10, email: 'ada@example.co' }), { users: [], next: null }, 'not a prefix')
    assert.deepEqual(await store.listUsers({ limit: 10, email: 'nobody@example.com' }), { users: [], next: null })
  })

  test(`${name}: listUsers filters by address prefix, case-insensitively and literally: regex metacharacters match themselves`, async (t) => {
    const store = await fresh(t)
    const create = (email: string) => store.createUser({ email, hashedPassword: null })
    const abc = await create('a.b+c@example.com')
    const abd = await create('A.B+d@example.com')
    for (const email of ['axb+c@example.com', 'a.bbc@example.com', 'a.b@example.com', 'za.b+c@example.com', 'ab@example.com']) await create(email)
    const paren = await create('(x)[y]@example.com')
    const star = await create('*^$|?{}\\@example.com')
    const prefixed = async (emailPrefix: string, limit = 10) => (await allPages(store, { limit, emailPrefix })).flat().map((u) => u.email)
    const expected = [abc, abd].sort(listingOrder).map((u) => u.email)
    assert.deepEqual(await prefixed('a.b+'), expected)
    assert.deepEqual(await prefixed('A.B+'), expected)
    assert.deepEqual(await prefixed('a.b+', 1), expected, 'paged')
    assert.deepEqual(await prefixed('(x)['), [paren.email])
    assert.deepEqual(await prefixed('*^$|?{}\\'), [star.email])
    for (const pattern of ['.*', '.', 'a.b+c$', '[a]', 'a|z', '\\']) {
      assert.deepEqual(await prefixed(pattern), [], pattern)
    }
    assert.deepEqual(await store.listUsers({ limit: 10, email: 'a.b+c@example.com', emailPrefix: 'a.b+' }), { users: [abc], next: null }, 'both filters')
    assert.deepEqual(await store.listUsers({ limit: 10, email: 'a.b+c@example.com', emailPrefix: 'z' }), { users: [], next: null }, 'both filters')
  })

  test(`${name}: listUsers: users deleted or created between pages make the others neither skipped nor repeated`, async (t) => {
    const store = await fresh(t)
    const originals = await Promise.all(Array.from({ length: 30 }, (_, i) => store.createUser({ email: `user${i}@example.com`, hashedPassword: null })))
    originals.sort(listingOrder)
    const first = await store.listUsers({ limit: 10 })
    assert.deepEqual(first.users, originals.slice(0, 10))
    // The very user the cursor stands after, one of the next page and one of the first.
    const deleted = [originals[9], originals[12], originals[3]] as StoredUser[]
    for (const user of deleted) assert.equal(await store.deleteUser(user.id), true)
    await sleep(5)
    const added: StoredUser[] = []
    for (let i = 0; i < 5; i++) added.push(await store.createUser({ email: `new${i}@example.com`, hashedPassword: null }))
    added.sort(listingOrder)
    const rest: StoredUser[] = []
    let cursor = first.next
    while (cursor !== null) {
      const page: UserPage = await store.listUsers({ limit: 10, cursor })
      rest.push(...page.users)
      cursor = page.next
    }
    assert.deepEqual(rest, [...originals.slice(10).filter((u) => !deleted.includes(u)), ...added])
  })

  test(`${name}: listUsers rejects a cursor it did not give with InvalidCursorError`, async (t) => {
    const store = await fresh(t)
    for (let i = 0; i < 3; i++) await store.createUser({ email: `user${i}@example.com`, hashedPassword: null })
    const { next } = await store.listUsers({ limit: 1 })
    assert.ok(next)
    const forged = [
      'not a cursor', '', next.slice(0, 4), next.slice(0, 5), `${next}!`, `${next}==`, `%${next}`,
      Buffer.from('hello').toString('base64url'), Buffer.from(`${Date.now()}:`).toString('base64url'), Buffer.from('yesterday:1').toString('base64url')
    ]
    for (const cursor of forged) await assert.rejects(store.listUsers({ limit: 1, cursor }), InvalidCursorError, JSON.stringify(cursor))
    assert.equal((await store.listUsers({ limit: 1, cursor: next })).users.length, 1)
  })

  test(`${name}: listUsers refuses a limit outside 1..1000 with a RangeError`, async (t) => {
    const store = await fresh(t)
    await store.createUser({ email: 'ada@example.com', hashedPassword: null })
    for (const limit of [0, -1, 1001, 1.5, Number.NaN, Infinity]) await assert.rejects(store.listUsers({ limit }), RangeError, String(limit))
    assert.equal((await store.listUsers({ limit: 1 })).users.length, 1)
  })

  test(`${name}: countSuperusers counts the superusers, active or not`, async (t) => {
    const store = await fresh(t)
    assert.equal(await store.countSuperusers(), 0)
    const root = await store.createUser({ email: 'root@example.com', hashedPassword: null, isSuperuser: true })
    await store.createUser({ email: 'retired@example.com', hashedPassword: null, isSuperuser: true, isActive: false })
    const ada = await store.createUser({ email: 'ada@example.com', hashedPassword: null })
    assert.equal(await store.countSuperusers(), 2)
    await store.updateUser(ada.id, { isSuperuser: true })
    assert.equal(await store.countSuperusers(), 3)
    await store.updateUser(root.id, { isSuperuser: false })
    assert.equal(await store.countSuperusers(), 2)
    await store.deleteUser(ada.id)
    assert.equal(await store.countSuperusers(), 1)
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

  test(`${name}: removeSigningKey removes only that kid and says whether it existed`, async (t) => {
    const store = await fresh(t)
    const k1 = { kid: 'k1', alg: 'EdDSA' as const, privateJwk: { kty: 'OKP', crv: 'Ed25519', x: 'x1', d: 'd1' }, createdAt: new Date('2026-01-01T00:00:00Z') }
    const k2 = { kid: 'k2', alg: 'EdDSA' as const, privateJwk: { kty: 'OKP', crv: 'Ed25519', x: 'x2', d: 'd2' }, createdAt: new Date('2026-02-01T00:00:00Z') }
    const k3 = { kid: 'k3', alg: 'EdDSA' as const, privateJwk: { kty: 'OKP', crv: 'Ed25519', x: 'x3', d: 'd3' }, createdAt: new Date('2026-03-01T00:00:00Z') }
    for (const key of [k1, k2, k3]) await store.addSigningKey(key)
    assert.equal(await store.removeSigningKey('k2'), true)
    assert.deepEqual(await store.listSigningKeys(), [k3, k1])
    assert.equal(await store.removeSigningKey('k2'), false)
    assert.equal(await store.removeSigningKey('no-such-kid'), false)
    assert.deepEqual(await store.listSigningKeys(), [k3, k1])
  })

  test(`${name}: returned signing keys are copies`, async (t) => {
    const store = await fresh(t)
    const key = { kid: 'k1', alg: 'EdDSA' as const, privateJwk: { kty: 'OKP', crv: 'Ed25519', x: 'x1', d: 'd1' }, createdAt: new Date('2026-01-01T00:00:00Z') }
    await store.addSigningKey(key)
    key.privateJwk.d = 'changed-after-add'
    const [listed] = await store.listSigningKeys()
    assert.ok(listed)
    assert.equal(listed.privateJwk.d, 'd1')
    listed.privateJwk.d = 'changed-after-list'
    listed.createdAt.setFullYear(1999)
    const [again] = await store.listSigningKeys()
    assert.equal(again?.privateJwk.d, 'd1')
    assert.equal(again?.createdAt.getTime(), new Date('2026-01-01T00:00:00Z').getTime())
  })

  // Expiry dates lie in the wall-clock future, so that a real MongoDB's TTL monitor leaves
  // the records alone; expiry is tested by passing a later `now`.
  const HOUR = 3_600_000
  const MINUTE = 60_000
  const at = (base: Date, ms: number) => new Date(base.getTime() + ms)
  function sampleGrant (overrides: Partial<StoredGrant> = {}): StoredGrant {
    const createdAt = new Date()
    return {
      tokenHash: 'hash-of-code',
      kind: 'authorization_code',
      familyId: 'family-1',
      clientId: 'client-1',
      userId: 'user-1',
      scope: 'openid profile',
      createdAt,
      expiresAt: at(createdAt, HOUR),
      consumedAt: null,
      redirectUri: 'https://app.example/callback',
      codeChallenge: 'challenge',
      nonce: 'nonce-1',
      authTime: at(createdAt, -1000),
      ...overrides
    }
  }
  function sampleFamily (overrides: Partial<StoredGrantFamily> = {}): StoredGrantFamily {
    const createdAt = new Date()
    return {
      familyId: 'family-1',
      clientId: 'client-1',
      userId: 'user-1',
      sessionId: 'session-1',
      createdAt,
      expiresAt: at(createdAt, 24 * HOUR),
      revokedAt: null,
      ...overrides
    }
  }
  function sampleSession (overrides: Partial<StoredSession> = {}): StoredSession {
    const createdAt = new Date()
    return { idHash: 'hash-of-session', userId: 'user-1', createdAt, expiresAt: at(createdAt, HOUR), ...overrides }
  }

  test(`${name}: createGrant then getGrant gives the grant back until it expires`, async (t) => {
    const store = await fresh(t)
    const grant = sampleGrant()
    await store.createGrant(grant)
    const now = grant.createdAt
    assert.deepEqual(await store.getGrant(grant.tokenHash, now), grant)
    assert.deepEqual(await store.getGrant(grant.tokenHash, at(grant.expiresAt, -1)), grant)
    assert.equal(await store.getGrant(grant.tokenHash, grant.expiresAt), null)
    assert.equal(await store.getGrant(grant.tokenHash, at(grant.expiresAt, 1)), null)
    assert.equal(await store.getGrant('no-such-hash', now), null)
  })

  test(`${name}: optional grant fields that are absent stay absent; a null redirectUri stays null`, async (t) => {
    const store = await fresh(t)
    const refresh = sampleGrant({ tokenHash: 'hash-of-refresh', kind: 'refresh_token' })
    delete refresh.redirectUri
    delete refresh.codeChallenge
    delete refresh.nonce
    delete refresh.authTime
    await store.createGrant(refresh)
    const code = sampleGrant({ redirectUri: null })
    await store.createGrant(code)
    assert.deepEqual(await store.getGrant(refresh.tokenHash, refresh.createdAt), refresh)
    assert.deepEqual(await store.getGrant(code.tokenHash, code.createdAt), code)
  })

  test(`${name}: a second grant with the same tokenHash is refused and the first is kept`, async (t) => {
    const store = await fresh(t)
    const grant = sampleGrant()
    await store.createGrant(grant)
    await assert.rejects(store.createGrant(sampleGrant({ userId: 'someone-else' })), Error)
    assert.deepEqual(await store.getGrant(grant.tokenHash, grant.createdAt), grant)
  })

  test(`${name}: consumeGrant resolves the grant as it was, once; getGrant then shows it consumed`, async (t) => {
    const store = await fresh(t)
    const grant = sampleGrant()
    await store.createGrant(grant)
    const now = at(grant.createdAt, 1000)
    assert.deepEqual(await store.consumeGrant(grant.tokenHash, 'authorization_code', now), grant)
    assert.equal(await store.consumeGrant(grant.tokenHash, 'authorization_code', at(now, 1)), null)
    assert.deepEqual(await store.getGrant(grant.tokenHash, at(now, 2)), { ...grant, consumedAt: now })
    assert.equal(await store.consumeGrant('no-such-hash', 'authorization_code', now), null)
  })

  test(`${name}: consumeGrant with the wrong kind resolves null and leaves the grant consumable`, async (t) => {
    const store = await fresh(t)
    const grant = sampleGrant({ tokenHash: 'hash-of-refresh', kind: 'refresh_token' })
    await store.createGrant(grant)
    const now = grant.createdAt
    assert.equal(await store.consumeGrant(grant.tokenHash, 'authorization_code', now), null)
    assert.deepEqual(await store.getGrant(grant.tokenHash, now), grant)
    assert.deepEqual(await store.consumeGrant(grant.tokenHash, 'refresh_token', now), grant)
  })

  test(`${name}: an expired grant cannot be consumed`, async (t) => {
    const store = await fresh(t)
    const grant = sampleGrant()
    await store.createGrant(grant)
    assert.equal(await store.consumeGrant(grant.tokenHash, 'authorization_code', grant.expiresAt), null)
    assert.equal(await store.consumeGrant(grant.tokenHash, 'authorization_code', at(grant.expiresAt, 1)), null)
    // Nothing was written: before its expiry it is still unconsumed.
    assert.deepEqual(await store.getGrant(grant.tokenHash, grant.createdAt), grant)
  })

  test(`${name}: 50 parallel consumeGrant calls of one grant: exactly one gets it`, async (t) => {
    const store = await fresh(t)
    const grant = sampleGrant({ tokenHash: 'hash-of-refresh', kind: 'refresh_token' })
    await store.createGrant(grant)
    const now = grant.createdAt
    const results = await Promise.all(
      Array.from({ length: 50 }, () => store.consumeGrant(grant.tokenHash, 'refresh_token', now))
    )
    const winners = results.filter((r) => r !== null)
    assert.equal(winners.length, 1)
    assert.deepEqual(winners[0], grant)
    assert.equal(results.filter((r) => r === null).length, 49)
    assert.deepEqual((await store.getGrant(grant.tokenHash, now))?.consumedAt, now)
  })

  test(`${name}: returned grants are copies`, async (t) => {
    const store = await fresh(t)
    const grant = sampleGrant()
    const original = structuredClone(grant)
    await store.createGrant(grant)
    grant.scope = 'changed-after-create'
    grant.expiresAt.setFullYear(1999)
    const now = original.createdAt
    const read = await store.getGrant(original.tokenHash, now)
    assert.deepEqual(read, original)
    assert.ok(read)
    read.scope = 'changed-after-get'
    read.authTime?.setFullYear(1999)
    const consumed = await store.consumeGrant(original.tokenHash, 'authorization_code', now)
    assert.deepEqual(consumed, original)
    assert.ok(consumed)
    consumed.userId = 'changed-after-consume'
    assert.deepEqual(await store.getGrant(original.tokenHash, now), { ...original, consumedAt: now })
  })

  test(`${name}: createGrantFamily then getGrantFamily gives the family back until it expires`, async (t) => {
    const store = await fresh(t)
    const family = sampleFamily()
    await store.createGrantFamily(family)
    const withoutSession = sampleFamily({ familyId: 'family-2' })
    delete withoutSession.sessionId
    await store.createGrantFamily(withoutSession)
    const now = family.createdAt
    assert.deepEqual(await store.getGrantFamily(family.familyId, now), family)
    assert.deepEqual(await store.getGrantFamily(withoutSession.familyId, now), withoutSession)
    assert.equal(await store.getGrantFamily(family.familyId, family.expiresAt), null)
    assert.equal(await store.getGrantFamily(family.familyId, at(family.expiresAt, 1)), null)
    assert.equal(await store.getGrantFamily('no-such-family', now), null)
  })

  test(`${name}: extendGrantFamily moves the end of a live family and resolves it; an ended or unknown one stays ended`, async (t) => {
    const store = await fresh(t)
    const family = sampleFamily({ expiresAt: at(new Date(), MINUTE) })
    await store.createGrantFamily(family)
    const now = family.createdAt
    const later = at(now, 90 * 24 * HOUR)
    assert.deepEqual(await store.extendGrantFamily(family.familyId, later, now), { ...family, expiresAt: later })
    assert.deepEqual(await store.getGrantFamily(family.familyId, at(now, 2 * MINUTE)), { ...family, expiresAt: later })

    const revoked = sampleFamily({ familyId: 'family-2', expiresAt: at(now, MINUTE) })
    await store.createGrantFamily(revoked)
    await store.revokeGrantFamilies({ familyId: 'family-2' }, now)
    assert.deepEqual(await store.extendGrantFamily('family-2', later, now), { ...revoked, revokedAt: now, expiresAt: later }, 'revoked stays revoked')

    const ended = sampleFamily({ familyId: 'family-3', expiresAt: at(now, MINUTE) })
    await store.createGrantFamily(ended)
    assert.equal(await store.extendGrantFamily('family-3', later, at(now, MINUTE)), null)
    assert.equal(await store.getGrantFamily('family-3', at(now, MINUTE)), null, 'not brought back to life')
    assert.equal(await store.extendGrantFamily('no-such-family', later, now), null)
  })

  test(`${name}: a second family with the same familyId is refused`, async (t) => {
    const store = await fresh(t)
    const family = sampleFamily()
    await store.createGrantFamily(family)
    await assert.rejects(store.createGrantFamily(sampleFamily({ userId: 'someone-else' })), Error)
    assert.deepEqual(await store.getGrantFamily(family.familyId, family.createdAt), family)
  })

  test(`${name}: revokeGrantFamilies revokes exactly the matching families and counts them`, async (t) => {
    const store = await fresh(t)
    // f1, f2: ada in session s1; f3: ada in session s2; f4: ada without a session; f5: bob in s3.
    const families = [
      sampleFamily({ familyId: 'f1', userId: 'ada', sessionId: 's1' }),
      sampleFamily({ familyId: 'f2', userId: 'ada', sessionId: 's1', clientId: 'client-2' }),
      sampleFamily({ familyId: 'f3', userId: 'ada', sessionId: 's2' }),
      sampleFamily({ familyId: 'f4', userId: 'ada' }),
      sampleFamily({ familyId: 'f5', userId: 'bob', sessionId: 's3' })
    ]
    delete families[3]?.sessionId
    for (const family of families) await store.createGrantFamily(family)
    const base = new Date()
    const revokedAt = async () => Promise.all(families.map(async (f) => (await store.getGrantFamily(f.familyId, base))?.revokedAt?.getTime() ?? null))
    const t1 = at(base, 1000)
    const t2 = at(base, 2000)
    const t3 = at(base, 3000)
    const t4 = at(base, 4000)

    assert.equal(await store.revokeGrantFamilies({ familyId: 'f3' }, t1), 1)
    assert.deepEqual(await revokedAt(), [null, null, t1.getTime(), null, null])
    assert.equal(await store.revokeGrantFamilies({ familyId: 'f3' }, t2), 0, 'an already revoked family is not counted')
    assert.equal(await store.revokeGrantFamilies({ familyId: 'no-such-family' }, t2), 0)

    assert.equal(await store.revokeGrantFamilies({ sessionId: 's1' }, t2), 2)
    assert.deepEqual(await revokedAt(), [t2.getTime(), t2.getTime(), t1.getTime(), null, null])
    assert.equal(await store.revokeGrantFamilies({ sessionId: 'no-such-session' }, t2), 0)

    // Only f4 of ada's families is left; the revokedAt of the others is not moved.
    assert.equal(await store.revokeGrantFamilies({ userId: 'ada' }, t3), 1)
    assert.deepEqual(await revokedAt(), [t2.getTime(), t2.getTime(), t1.getTime(), t3.getTime(), null])
    assert.equal(await store.revokeGrantFamilies({ userId: 'ada' }, t4), 0)

    assert.equal(await store.revokeGrantFamilies({ userId: 'bob' }, t4), 1)
    assert.deepEqual(await revokedAt(), [t2.getTime(), t2.getTime(), t1.getTime(), t3.getTime(), t4.getTime()])
    // Everything else about a family is left as it was.
    assert.deepEqual(await store.getGrantFamily('f1', base), { ...families[0], revokedAt: t2 })
    assert.deepEqual(await store.getGrantFamily('f4', base), { ...families[3], revokedAt: t3 })
  })

  test(`${name}: returned grant families are copies`, async (t) => {
    const store = await fresh(t)
    const family = sampleFamily()
    const original = structuredClone(family)
    await store.createGrantFamily(family)
    family.userId = 'changed-after-create'
    family.expiresAt.setFullYear(1999)
    const read = await store.getGrantFamily(original.familyId, original.createdAt)
    assert.deepEqual(read, original)
    assert.ok(read)
    read.revokedAt = new Date()
    read.createdAt.setFullYear(1999)
    assert.deepEqual(await store.getGrantFamily(original.familyId, original.createdAt), original)
  })

  test(`${name}: sessions are created, read until they expire, and deleted`, async (t) => {
    const store = await fresh(t)
    const session = sampleSession()
    const other = sampleSession({ idHash: 'hash-of-other-session', userId: 'user-2' })
    await store.createSession(session)
    await store.createSession(other)
    const now = session.createdAt
    assert.deepEqual(await store.getSession(session.idHash, now), session)
    assert.deepEqual(await store.getSession(session.idHash, at(session.expiresAt, -1)), session)
    assert.equal(await store.getSession(session.idHash, session.expiresAt), null)
    assert.equal(await store.getSession(session.idHash, at(session.expiresAt, 1)), null)
    assert.equal(await store.getSession('no-such-hash', now), null)

    assert.equal(await store.deleteSession(session.idHash), true)
    assert.equal(await store.deleteSession(session.idHash), false)
    assert.equal(await store.deleteSession('no-such-hash'), false)
    assert.equal(await store.getSession(session.idHash, now), null)
    assert.deepEqual(await store.getSession(other.idHash, now), other)
  })

  test(`${name}: a second session with the same idHash is refused`, async (t) => {
    const store = await fresh(t)
    const session = sampleSession()
    await store.createSession(session)
    await assert.rejects(store.createSession(sampleSession({ userId: 'someone-else' })), Error)
    assert.deepEqual(await store.getSession(session.idHash, session.createdAt), session)
  })

  test(`${name}: returned sessions are copies`, async (t) => {
    const store = await fresh(t)
    const session = sampleSession()
    const original = structuredClone(session)
    await store.createSession(session)
    session.userId = 'changed-after-create'
    session.expiresAt.setFullYear(1999)
    const read = await store.getSession(original.idHash, original.createdAt)
    assert.deepEqual(read, original)
    assert.ok(read)
    read.userId = 'changed-after-get'
    read.expiresAt.setFullYear(1999)
    assert.deepEqual(await store.getSession(original.idHash, original.createdAt), original)
  })

  function sampleAccount (overrides: Partial<StoredOAuthAccount> = {}): StoredOAuthAccount {
    const createdAt = new Date()
    return {
      provider: 'github',
      accountId: '12345',
      userId: 'user-1',
      accountEmail: 'ada@example.com',
      accessToken: 'upstream-access-token',
      refreshToken: 'upstream-refresh-token',
      expiresAt: at(createdAt, HOUR),
      createdAt,
      updatedAt: createdAt,
      ...overrides
    }
  }
  function sampleState (overrides: Partial<StoredUpstreamState> = {}): StoredUpstreamState {
    const createdAt = new Date()
    return {
      stateHash: 'hash-of-state',
      provider: 'github',
      purpose: 'login',
      authorizeQuery: 'response_type=code&client_id=client-1&state=xyz',
      nonce: 'nonce-1',
      createdAt,
      expiresAt: at(createdAt, 10 * 60_000),
      ...overrides
    }
  }

  test(`${name}: createOAuthAccount then getOAuthAccount gives the account back, null fields included`, async (t) => {
    const store = await fresh(t)
    const full = sampleAccount()
    const bare = sampleAccount({ accountId: '67890', userId: 'user-2', accountEmail: null, accessToken: null, refreshToken: null, expiresAt: null })
    await store.createOAuthAccount(full)
    await store.createOAuthAccount(bare)
    const read = await store.getOAuthAccount('github', '12345')
    assert.deepEqual(read, full)
    assert.ok(read?.createdAt instanceof Date && read.updatedAt instanceof Date && read.expiresAt instanceof Date)
    assert.deepEqual(await store.getOAuthAccount('github', '67890'), bare)
    assert.equal(await store.getOAuthAccount('github', 'no-such-account'), null)
    assert.equal(await store.getOAuthAccount('google', '12345'), null)
  })

  test(`${name}: a second account with the same (provider, accountId) is refused, even for another user, and the first is kept`, async (t) => {
    const store = await fresh(t)
    const account = sampleAccount()
    await store.createOAuthAccount(account)
    await assert.rejects(store.createOAuthAccount(sampleAccount({ userId: 'user-2', accountEmail: 'bob@example.com' })), OAuthAccountExistsError)
    await assert.rejects(store.createOAuthAccount(sampleAccount({ accessToken: 'other-token' })), OAuthAccountExistsError)
    assert.deepEqual(await store.getOAuthAccount('github', '12345'), account)
    assert.deepEqual(await store.listOAuthAccounts('user-1'), [account])
    assert.deepEqual(await store.listOAuthAccounts('user-2'), [])
  })

  test(`${name}: the same accountId at two providers makes two accounts`, async (t) => {
    const store = await fresh(t)
    const github = sampleAccount({ accountId: '42' })
    const google = sampleAccount({ provider: 'google', accountId: '42', userId: 'user-2' })
    await store.createOAuthAccount(github)
    await store.createOAuthAccount(google)
    assert.deepEqual(await store.getOAuthAccount('github', '42'), github)
    assert.deepEqual(await store.getOAuthAccount('google', '42'), google)
  })

  test(`${name}: 20 parallel links of one provider account to different users: exactly one succeeds`, async (t) => {
    const store = await fresh(t)
    const accounts = Array.from({ length: 20 }, (_, i) => sampleAccount({ userId: `user-${i}` }))
    const results = await Promise.allSettled(accounts.map((a) => store.createOAuthAccount(a)))
    const winners = results.flatMap((r, i) => r.status === 'fulfilled' ? [i] : [])
    const refused = results.filter((r) => r.status === 'rejected' && r.reason instanceof OAuthAccountExistsError)
    assert.equal(winners.length, 1)
    assert.equal(refused.length, 19)
    assert.deepEqual(await store.getOAuthAccount('github', '12345'), accounts[winners[0] as number])
  })

  test(`${name}: listOAuthAccounts gives only the user's accounts, oldest first`, async (t) => {
    const store = await fresh(t)
    const base = new Date()
    const gitlab = sampleAccount({ provider: 'gitlab', accountId: 'g1', createdAt: at(base, 3 * HOUR), updatedAt: at(base, 3 * HOUR) })
    const github = sampleAccount({ provider: 'github', accountId: 'h1', createdAt: at(base, 2 * HOUR), updatedAt: at(base, 2 * HOUR) })
    const google = sampleAccount({ provider: 'google', accountId: 'o1', createdAt: at(base, HOUR), updatedAt: at(base, 4 * HOUR) })
    const bobs = sampleAccount({ provider: 'github', accountId: 'h2', userId: 'user-2', createdAt: base, updatedAt: base })
    for (const account of [gitlab, bobs, github, google]) await store.createOAuthAccount(account)
    assert.deepEqual(await store.listOAuthAccounts('user-1'), [google, github, gitlab])
    assert.deepEqual(await store.listOAuthAccounts('user-2'), [bobs])
    assert.deepEqual(await store.listOAuthAccounts('no-such-user'), [])
  })

  test(`${name}: updateOAuthAccount applies the given changes only and bumps updatedAt`, async (t) => {
    const store = await fresh(t)
    const account = sampleAccount()
    const other = sampleAccount({ accountId: '67890', userId: 'user-2' })
    await store.createOAuthAccount(account)
    await store.createOAuthAccount(other)
    await new Promise((resolve) => setTimeout(resolve, 5))
    const newExpiry = at(account.createdAt, 2 * HOUR)
    const updated = await store.updateOAuthAccount('github', '12345', {
      accessToken: 'new-access-token', expiresAt: newExpiry, accountEmail: null, refreshToken: undefined
    })
    assert.ok(updated)
    assert.ok(updated.updatedAt.getTime() > account.updatedAt.getTime())
    assert.deepEqual(updated, { ...account, accessToken: 'new-access-token', expiresAt: newExpiry, accountEmail: null, updatedAt: updated.updatedAt })
    assert.deepEqual(await store.getOAuthAccount('github', '12345'), updated)

    await new Promise((resolve) => setTimeout(resolve, 5))
    const cleared = await store.updateOAuthAccount('github', '12345', { accessToken: null, refreshToken: null, expiresAt: null })
    assert.ok(cleared)
    assert.ok(cleared.updatedAt.getTime() > updated.updatedAt.getTime())
    assert.deepEqual(cleared, { ...updated, accessToken: null, refreshToken: null, expiresAt: null, updatedAt: cleared.updatedAt })
    assert.deepEqual(await store.getOAuthAccount('github', '12345'), cleared)

    assert.equal(await store.updateOAuthAccount('github', 'no-such-account', { accessToken: 'x' }), null)
    assert.equal(await store.updateOAuthAccount('google', '12345', { accessToken: 'x' }), null)
    assert.equal(await store.getOAuthAccount('google', '12345'), null)
    assert.deepEqual(await store.getOAuthAccount('github', '67890'), other)
  })

  test(`${name}: deleteOAuthAccount unlinks only that user's account at that provider`, async (t) => {
    const store = await fresh(t)
    const adaGithub = sampleAccount({ accountId: 'a1', userId: 'ada' })
    const adaGoogle = sampleAccount({ provider: 'google', accountId: 'a2', userId: 'ada' })
    const bobGithub = sampleAccount({ accountId: 'b1', userId: 'bob' })
    for (const account of [adaGithub, adaGoogle, bobGithub]) await store.createOAuthAccount(account)
    assert.equal(await store.deleteOAuthAccount('ada', 'gitlab'), false)
    assert.equal(await store.deleteOAuthAccount('nobody', 'github'), false)
    assert.equal(await store.deleteOAuthAccount('ada', 'github'), true)
    assert.equal(await store.deleteOAuthAccount('ada', 'github'), false)
    assert.equal(await store.getOAuthAccount('github', 'a1'), null)
    assert.deepEqual(await store.listOAuthAccounts('ada'), [adaGoogle])
    assert.deepEqual(await store.getOAuthAccount('github', 'b1'), bobGithub)
    assert.deepEqual(await store.listOAuthAccounts('bob'), [bobGithub])
  })

  test(`${name}: deleteUser removes the user's OAuth accounts, so they can be linked again`, async (t) => {
    const store = await fresh(t)
    const ada = await store.createUser({ email: 'ada@example.com', hashedPassword: null })
    const bob = await store.createUser({ email: 'bob@example.com', hashedPassword: null })
    const adaGithub = sampleAccount({ accountId: 'a1', userId: ada.id })
    const adaGoogle = sampleAccount({ provider: 'google', accountId: 'a2', userId: ada.id })
    const bobGithub = sampleAccount({ accountId: 'b1', userId: bob.id })
    for (const account of [adaGithub, adaGoogle, bobGithub]) await store.createOAuthAccount(account)
    assert.equal(await store.deleteUser(ada.id), true)
    assert.deepEqual(await store.listOAuthAccounts(ada.id), [])
    assert.equal(await store.getOAuthAccount('github', 'a1'), null)
    assert.equal(await store.getOAuthAccount('google', 'a2'), null)
    assert.deepEqual(await store.listOAuthAccounts(bob.id), [bobGithub])
    const carol = await store.createUser({ email: 'carol@example.com', hashedPassword: null })
    const relinked = sampleAccount({ accountId: 'a1', userId: carol.id })
    await store.createOAuthAccount(relinked)
    assert.deepEqual(await store.getOAuthAccount('github', 'a1'), relinked)
  })

  test(`${name}: deleteUserSessions deletes every session of the user, only theirs, and counts them`, async (t) => {
    const store = await fresh(t)
    const ada = ['ada-1', 'ada-2', 'ada-3'].map((idHash) => sampleSession({ idHash, userId: 'ada' }))
    const bob = sampleSession({ idHash: 'bob-1', userId: 'bob' })
    for (const session of [...ada, bob]) await store.createSession(session)
    assert.equal(await store.deleteUserSessions('ada'), 3)
    for (const session of ada) assert.equal(await store.getSession(session.idHash, session.createdAt), null)
    assert.deepEqual(await store.getSession(bob.idHash, bob.createdAt), bob)
    assert.equal(await store.deleteUserSessions('ada'), 0)
    assert.equal(await store.deleteUserSessions('nobody'), 0)
  })

  test(`${name}: deleteUser leaves nothing of the user: accounts, grant families, grants, sessions, associate states; others keep theirs`, async (t) => {
    const store = await fresh(t)
    const ada = await store.createUser({ email: 'ada@example.com', hashedPassword: null })
    const bob = await store.createUser({ email: 'bob@example.com', hashedPassword: null })
    const recordsOf = (userId: string, tag: string) => ({
      account: sampleAccount({ accountId: `account-${tag}`, userId }),
      family: sampleFamily({ familyId: `family-${tag}`, userId, sessionId: `session-${tag}` }),
      code: sampleGrant({ tokenHash: `code-${tag}`, familyId: `family-${tag}`, userId }),
      refresh: sampleGrant({ tokenHash: `refresh-${tag}`, kind: 'refresh_token', familyId: `family-${tag}`, userId }),
      session: sampleSession({ idHash: `session-${tag}`, userId }),
      associate: sampleState({ stateHash: `associate-${tag}`, purpose: 'associate', userId })
    })
    const adas = recordsOf(ada.id, 'ada')
    const bobs = recordsOf(bob.id, 'bob')
    const login = sampleState({ stateHash: 'login-of-nobody-yet' })
    for (const records of [adas, bobs]) {
      await store.createOAuthAccount(records.account)
      await store.createGrantFamily(records.family)
      await store.createGrant(records.code)
      await store.createGrant(records.refresh)
      await store.createSession(records.session)
      await store.createUpstreamState(records.associate)
    }
    await store.createUpstreamState(login)
    const now = new Date()
    await store.grantConsent(ada.id, 'client-1', ['openid'], now)
    await store.grantConsent(bob.id, 'client-1', ['openid'], now)

    assert.equal(await store.deleteUser(ada.id), true)
    assert.equal(await store.getConsent(ada.id, 'client-1'), null)
    assert.ok(await store.getConsent(bob.id, 'client-1'), 'another user\'s consent stays')
    assert.equal(await store.getUserById(ada.id), null)
    assert.deepEqual(await store.listOAuthAccounts(ada.id), [])
    assert.equal(await store.getOAuthAccount('github', adas.account.accountId), null)
    assert.equal(await store.getGrantFamily(adas.family.familyId, now), null)
    assert.equal(await store.getGrant(adas.code.tokenHash, now), null)
    assert.equal(await store.getGrant(adas.refresh.tokenHash, now), null)
    assert.equal(await store.consumeGrant(adas.refresh.tokenHash, 'refresh_token', now), null)
    assert.equal(await store.getSession(adas.session.idHash, now), null)
    assert.equal(await store.deleteUserSessions(ada.id), 0)
    assert.equal(await store.consumeUpstreamState(adas.associate.stateHash, now), null)
    assert.equal(await store.deleteUser(ada.id), false)

    assert.deepEqual(await store.getUserById(bob.id), bob)
    assert.deepEqual(await store.listOAuthAccounts(bob.id), [bobs.account])
    assert.deepEqual(await store.getGrantFamily(bobs.family.familyId, now), bobs.family)
    assert.deepEqual(await store.getGrant(bobs.code.tokenHash, now), bobs.code)
    assert.deepEqual(await store.getGrant(bobs.refresh.tokenHash, now), bobs.refresh)
    assert.deepEqual(await store.getSession(bobs.session.idHash, now), bobs.session)
    assert.deepEqual(await store.consumeUpstreamState(bobs.associate.stateHash, now), bobs.associate)
    assert.deepEqual(await store.consumeUpstreamState(login.stateHash, now), login, 'a login state names no user')
  })

  test(`${name}: returned OAuth accounts are copies`, async (t) => {
    const store = await fresh(t)
    const account = sampleAccount()
    const original = structuredClone(account)
    await store.createOAuthAccount(account)
    account.accessToken = 'changed-after-create'
    account.expiresAt?.setFullYear(1999)
    const read = await store.getOAuthAccount('github', '12345')
    assert.deepEqual(read, original)
    assert.ok(read)
    read.userId = 'changed-after-get'
    read.createdAt.setFullYear(1999)
    const [listed] = await store.listOAuthAccounts('user-1')
    assert.deepEqual(listed, original)
    assert.ok(listed)
    listed.refreshToken = 'changed-after-list'
    listed.updatedAt.setFullYear(1999)
    const updated = await store.updateOAuthAccount('github', '12345', { accountEmail: 'new@example.com' })
    assert.ok(updated)
    const expected = { ...original, accountEmail: 'new@example.com', updatedAt: updated.updatedAt }
    assert.deepEqual(updated, expected)
    updated.accessToken = 'changed-after-update'
    updated.expiresAt?.setFullYear(1999)
    assert.deepEqual(await store.getOAuthAccount('github', '12345'), structuredClone(expected))
  })

  test(`${name}: consumeUpstreamState gives the state back as created, absent fields absent`, async (t) => {
    const store = await fresh(t)
    const login = sampleState()
    const original = structuredClone(login)
    const associate = sampleState({ stateHash: 'hash-of-associate', purpose: 'associate', userId: 'user-1' })
    delete associate.authorizeQuery
    delete associate.nonce
    await store.createUpstreamState(login)
    await store.createUpstreamState(associate)
    login.authorizeQuery = 'changed-after-create'
    login.expiresAt.setFullYear(1999)
    const now = original.createdAt
    const gotLogin = await store.consumeUpstreamState(original.stateHash, now)
    assert.deepEqual(gotLogin, original)
    assert.ok(gotLogin && !('userId' in gotLogin))
    const gotAssociate = await store.consumeUpstreamState(associate.stateHash, at(associate.expiresAt, -1))
    assert.deepEqual(gotAssociate, associate)
    assert.ok(gotAssociate && !('authorizeQuery' in gotAssociate) && !('nonce' in gotAssociate))
    assert.equal(await store.consumeUpstreamState('no-such-hash', now), null)
  })

  test(`${name}: an upstream state is consumed once`, async (t) => {
    const store = await fresh(t)
    const state = sampleState()
    await store.createUpstreamState(state)
    const now = state.createdAt
    assert.deepEqual(await store.consumeUpstreamState(state.stateHash, now), state)
    assert.equal(await store.consumeUpstreamState(state.stateHash, now), null)
    assert.equal(await store.consumeUpstreamState(state.stateHash, at(now, 1000)), null)
  })

  test(`${name}: an expired upstream state cannot be consumed`, async (t) => {
    const store = await fresh(t)
    const exactly = sampleState()
    const after = sampleState({ stateHash: 'hash-of-other-state' })
    await store.createUpstreamState(exactly)
    await store.createUpstreamState(after)
    assert.equal(await store.consumeUpstreamState(exactly.stateHash, exactly.expiresAt), null)
    assert.equal(await store.consumeUpstreamState(after.stateHash, at(after.expiresAt, 1)), null)
  })

  test(`${name}: 50 parallel consumeUpstreamState calls of one state: exactly one gets it`, async (t) => {
    const store = await fresh(t)
    const state = sampleState()
    await store.createUpstreamState(state)
    const now = state.createdAt
    const results = await Promise.all(Array.from({ length: 50 }, () => store.consumeUpstreamState(state.stateHash, now)))
    const winners = results.filter((r) => r !== null)
    assert.equal(winners.length, 1)
    assert.deepEqual(winners[0], state)
    assert.equal(results.filter((r) => r === null).length, 49)
  })

  test(`${name}: consents: granted scopes add up, each once, also when granted at once; listed oldest first; deleted per client`, async (t) => {
    const store = await fresh(t)
    const t0 = new Date()
    assert.equal(await store.getConsent('ada', 'spa'), null)
    const first = await store.grantConsent('ada', 'spa', ['openid', 'email'], t0)
    assert.deepEqual([first.userId, first.clientId, [...first.scopes].sort()], ['ada', 'spa', ['email', 'openid']])
    assert.equal(first.createdAt.getTime(), t0.getTime())
    const t1 = new Date(t0.getTime() + 1000)
    const second = await store.grantConsent('ada', 'spa', ['email', 'items:read'], t1)
    assert.deepEqual([...second.scopes].sort(), ['email', 'items:read', 'openid'])
    assert.equal(second.createdAt.getTime(), t0.getTime(), 'created once')
    assert.equal(second.updatedAt.getTime(), t1.getTime())
    await Promise.all(['a', 'b', 'c', 'd', 'e'].map((scope) => store.grantConsent('ada', 'cli', [scope], t1)))
    assert.deepEqual([...(await store.getConsent('ada', 'cli'))?.scopes ?? []].sort(), ['a', 'b', 'c', 'd', 'e'], 'no concurrent grant lost')
    second.scopes.push('mutated')
    assert.ok(!(await store.getConsent('ada', 'spa'))?.scopes.includes('mutated'), 'a copy')
    await store.grantConsent('bob', 'spa', ['openid'], t1)
    assert.deepEqual((await store.listConsents('ada')).map((c) => c.clientId), ['spa', 'cli'])
    assert.equal(await store.deleteConsent('ada', 'spa'), true)
    assert.equal(await store.deleteConsent('ada', 'spa'), false)
    assert.equal(await store.getConsent('ada', 'spa'), null)
    assert.ok(await store.getConsent('bob', 'spa'), 'another user\'s consent stays')
  })

  test(`${name}: listUserSessions lists the user's live sessions, oldest first, and only theirs`, async (t) => {
    const store = await fresh(t)
    const now = new Date()
    const shift = (ms: number) => new Date(now.getTime() + ms)
    await store.createSession(sampleSession({ idHash: 'newer', userId: 'ada', createdAt: shift(-1000), expiresAt: shift(HOUR) }))
    await store.createSession(sampleSession({ idHash: 'older', userId: 'ada', createdAt: shift(-5000), expiresAt: shift(HOUR) }))
    await store.createSession(sampleSession({ idHash: 'expired', userId: 'ada', createdAt: shift(-9000), expiresAt: shift(-1) }))
    await store.createSession(sampleSession({ idHash: 'bobs', userId: 'bob', createdAt: shift(-2000), expiresAt: shift(HOUR) }))
    const listed = await store.listUserSessions('ada', now)
    assert.deepEqual(listed.map((s) => s.idHash), ['older', 'newer'])
    assert.equal(listed[0]?.userId, 'ada')
    assert.deepEqual(await store.listUserSessions('nobody', now), [])
  })

  test(`${name}: revokeGrantFamilies by user and client revokes that client's families of that user only`, async (t) => {
    const store = await fresh(t)
    await store.createGrantFamily(sampleFamily({ familyId: 'ada-spa', userId: 'ada', clientId: 'spa' }))
    await store.createGrantFamily(sampleFamily({ familyId: 'ada-cli', userId: 'ada', clientId: 'cli' }))
    await store.createGrantFamily(sampleFamily({ familyId: 'bob-spa', userId: 'bob', clientId: 'spa' }))
    const now = new Date()
    assert.equal(await store.revokeGrantFamilies({ userId: 'ada', clientId: 'spa' }, now), 1)
    assert.ok((await store.getGrantFamily('ada-spa', now))?.revokedAt)
    assert.equal((await store.getGrantFamily('ada-cli', now))?.revokedAt, null)
    assert.equal((await store.getGrantFamily('bob-spa', now))?.revokedAt, null)
  })

  test(`${name}: a second upstream state with the same stateHash is refused and the first is kept`, async (t) => {
    const store = await fresh(t)
    const state = sampleState()
    await store.createUpstreamState(state)
    await assert.rejects(store.createUpstreamState(sampleState({ provider: 'google', purpose: 'associate', userId: 'someone-else' })), Error)
    assert.deepEqual(await store.consumeUpstreamState(state.stateHash, state.createdAt), state)
  })

  test(`${name}: 50 parallel registrations of one email over HTTP give one 201 and 49 clean 400s`, async (t) => {
    const store = await make()
    // Registration's limit would answer 429 long before 50: this is about the store.
    const app = Fastify()
    t.after(() => app.close())
    await app.register(fastifyUsers, { issuer: 'http://localhost', store, rateLimit: { register: false } })
    const responses = await Promise.all(Array.from({ length: 50 }, () =>
      app.inject({ method: 'POST', url: '/auth/register', payload: { email: 'race@example.com', password: 'correct horse battery' } })
    ))
    const created = responses.filter((r) => r.statusCode === 201)
    const refused = responses.filter((r) => r.statusCode === 400 && r.json().code === 'REGISTER_USER_ALREADY_EXISTS')
    assert.equal(created.length, 1)
    assert.equal(refused.length, 49, responses.map((r) => r.statusCode).join(','))
    const stored = await app.users.store.getUserByEmail('race@example.com')
    assert.equal(stored?.id, created[0]?.json().id)
  })
}
