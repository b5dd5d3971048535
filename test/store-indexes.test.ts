import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { MongoClient } from 'mongodb'
import { mongoStore, type UserStore } from '../index.js'
import { storeContract } from '../testing/index.js'
import { startMongoWireServer, type MongoWireServer } from './support/mongo-wire-server.js'
import {
  CommandLog, describeFilter, describeSort, explainCommand, planVerdict, servingIndex,
  type IndexSpec, type Query
} from './support/mongo-index-check.js'

/**
 * Every query on a request path is served by an index. Each store operation's commands are
 * recorded (the whole store contract suite, then every operation with every filter it
 * builds); each filter is checked against the indexes the adapter creates at init(); with
 * MONGODB_URL, explain shows the server reading an index and never scanning a collection.
 */

/**
 * Queries let off the rule. Only a query that no request can send (maintenance) belongs
 * here, with the reason: { operation, collection, filter: describeFilter's text, reason }.
 * Every store operation can run on a request, so there are none.
 */
const EXEMPT: Array<{ operation: string, collection: string, filter: string, reason: string }> = []

function exemption (query: Query) {
  return EXEMPT.find((e) => e.operation === query.operation && e.collection === query.collection && e.filter === describeFilter(query.filter))
}

let server: MongoWireServer
let monitored: MongoClient
const log = new CommandLog()

before(async () => {
  server = await startMongoWireServer()
  monitored = new MongoClient(server.url, { monitorCommands: true })
  log.attach(monitored)
  await monitored.connect()
})
after(async () => {
  await monitored.close()
  await server.close()
})

const freshDbName = () => `fastify_users_test_${randomUUID().replace(/-/g, '')}`

/** A store whose operations tag what they send, on its own database, dropped when it closes. */
function recorded (client: () => MongoClient, into: () => CommandLog): () => Promise<UserStore> {
  return async () => {
    const c = client()
    const dbName = freshDbName()
    const store = into().tag(mongoStore({ client: c, dbName }))
    return {
      ...store,
      async close () {
        await store.close()
        await c.db(dbName).dropDatabase()
      }
    }
  }
}

storeContract('mongoStore, each command recorded', recorded(() => monitored, () => log))

const HOUR = 3600_000
const at = (date: Date, ms: number) => new Date(date.getTime() + ms)

/** Calls every operation of the store, each with every form of filter it builds. */
async function exercise (store: UserStore): Promise<void> {
  const now = new Date()
  const ada = await store.createUser({ email: 'ada@example.com', hashedPassword: 'h1' })
  const root = await store.createUser({ email: 'root@example.com', hashedPassword: null, isSuperuser: true })
  await store.createUser({ email: 'adam@example.com', hashedPassword: null })
  await store.getUserById(ada.id)
  await store.getUserByEmail('ADA@example.com')
  await store.updateUser(ada.id, { isVerified: true, email: 'Ada@Example.com' })
  await store.updateUser(ada.id, { hashedPassword: 'h2' }, { hashedPassword: 'h1' })
  const first = await store.listUsers({ limit: 1 })
  assert.ok(first.next)
  await store.listUsers({ limit: 1, cursor: first.next })
  await store.listUsers({ limit: 10, email: 'ada@example.com' })
  await store.listUsers({ limit: 10, emailPrefix: 'ad' })
  await store.listUsers({ limit: 10, email: 'ada@example.com', emailPrefix: 'ad' })
  await store.listUsers({ limit: 1, cursor: first.next, emailPrefix: 'ad' })
  await store.countSuperusers()

  await store.addSigningKey({ kid: 'k1', alg: 'EdDSA', privateJwk: { kty: 'OKP' }, createdAt: now })
  await store.listSigningKeys()
  await store.removeSigningKey('k1')

  const grant = { tokenHash: 'g1', kind: 'authorization_code' as const, familyId: 'f1', clientId: 'c1', userId: ada.id, scope: 'openid', createdAt: now, expiresAt: at(now, HOUR), consumedAt: null }
  await store.createGrant(grant)
  await store.getGrant('g1', now)
  await store.consumeGrant('g1', 'authorization_code', now)

  await store.createGrantFamily({ familyId: 'f1', clientId: 'c1', userId: ada.id, sessionId: 's1', createdAt: now, expiresAt: at(now, HOUR), revokedAt: null })
  await store.getGrantFamily('f1', now)
  await store.extendGrantFamily('f1', at(now, 2 * HOUR), now)
  await store.revokeGrantFamilies({ familyId: 'f1' }, now)
  await store.revokeGrantFamilies({ sessionId: 's1' }, now)
  await store.revokeGrantFamilies({ userId: ada.id }, now)
  await store.revokeGrantFamilies({ userId: ada.id, clientId: 'c1' }, now)

  await store.grantConsent(ada.id, 'c1', ['openid'], now)
  await store.getConsent(ada.id, 'c1')
  await store.listConsents(ada.id)
  await store.deleteConsent(ada.id, 'c1')

  await store.createSession({ idHash: 's1', userId: ada.id, createdAt: now, expiresAt: at(now, HOUR) })
  await store.getSession('s1', now)
  await store.listUserSessions(ada.id, now)
  await store.deleteSession('s1')
  await store.deleteUserSessions(ada.id)

  const account = { provider: 'github', accountId: '1', userId: ada.id, accountEmail: null, accessToken: null, refreshToken: null, expiresAt: null, createdAt: now, updatedAt: now }
  await store.createOAuthAccount(account)
  await store.getOAuthAccount('github', '1')
  await store.listOAuthAccounts(ada.id)
  await store.updateOAuthAccount('github', '1', { accessToken: 'a' })
  await store.deleteOAuthAccount(ada.id, 'github')

  await store.createUpstreamState({ stateHash: 'u1', provider: 'github', purpose: 'associate', userId: ada.id, createdAt: now, expiresAt: at(now, HOUR) })
  await store.consumeUpstreamState('u1', now)

  await store.deleteUser(ada.id)
  await store.deleteUser(root.id)
}

interface Row { line: string, failure?: string }

/** One row per store operation, collection and filter shape: the index that serves it, or why none does. */
function check (from: CommandLog): Row[] {
  const indexes = new Map<string, IndexSpec[]>()
  const indexesOf = (collection: string) => {
    let list = indexes.get(collection)
    if (!list) {
      // Every collection has its unique _id index.
      list = [{ collection, name: '_id_', key: [['_id', 1]], unique: true }]
      indexes.set(collection, list)
    }
    return list
  }
  for (const index of from.indexes) {
    const list = indexesOf(index.collection)
    if (!list.some((i) => i.name === index.name)) list.push(index)
  }
  const rows = new Map<string, Row>()
  for (const { operation, collection } of from.inserts) {
    const key = `${operation} → ${collection} insert`
    rows.set(key, { line: `${key}: no filter` })
  }
  for (const query of from.queries) {
    const shape = `${describeFilter(query.filter)}${describeSort(query.sort)}`
    const key = `${query.operation} → ${query.collection} ${query.command} ${shape}`
    if (rows.has(key)) continue
    const served = servingIndex(query.filter, query.sort, indexesOf(query.collection))
    const exempt = exemption(query)
    if (served) rows.set(key, { line: `${key} → ${served.how}${served.indexOrder ? '' : ', sorted in memory'}` })
    else if (exempt) rows.set(key, { line: `${key} → exempt: ${exempt.reason}` })
    else rows.set(key, { line: `${key} → NO INDEX`, failure: `${query.operation}: ${query.command} on ${query.collection} with ${shape} is served by no index (it has ${indexesOf(query.collection).map((i) => i.name).join(', ')})` })
    if (query.operation === '(none)') rows.set(key + ' (none)', { line: key, failure: `${query.command} on ${query.collection} was sent outside any store operation` })
  }
  for (const { operation, command } of from.unknown) {
    rows.set(`${operation} ${command}`, { line: `${operation} → ${command}: not understood`, failure: `${operation} sent ${command}, which the check does not read yet: teach test/support/mongo-index-check.ts` })
  }
  return [...rows.values()].sort((a, b) => a.line.localeCompare(b.line))
}

const operationsOf = (store: UserStore) => Object.keys(store).filter((name) => name !== 'init' && name !== 'close').sort()

/** Exercises a store on its own database, then checks what was sent: every operation seen, every filter indexed. */
async function exerciseAndCheck (client: MongoClient, from: CommandLog, beforeDrop?: (dbName: string) => Promise<void>): Promise<Row[]> {
  const dbName = freshDbName()
  const store = from.tag(mongoStore({ client, dbName }))
  try {
    await store.init()
    await exercise(store)
    await beforeDrop?.(dbName)
  } finally {
    await store.close()
    await client.db(dbName).dropDatabase()
  }
  const operations = operationsOf(store)
  assert.deepEqual(operations.filter((op) => !from.called.has(op)), [], 'store operations never called')
  const sent = new Set([...from.queries, ...from.inserts].map((q) => q.operation))
  assert.deepEqual(operations.filter((op) => !sent.has(op)), [], 'store operations that sent nothing to check')
  return check(from)
}

test('every query a store operation sends is served by an index the adapter creates', async (t) => {
  const rows = await exerciseAndCheck(monitored, log, async (dbName) => {
    // The indexes taken from the createIndexes commands are the ones the server has.
    const db = monitored.db(dbName)
    for (const collection of new Set(log.indexes.map((i) => i.collection))) {
      const listed = (await db.collection(collection).listIndexes().toArray()).map((i) => String(i.name)).sort()
      const created = ['_id_', ...new Set(log.indexes.filter((i) => i.collection === collection).map((i) => i.name))].sort()
      assert.deepEqual(listed, created, collection)
    }
  })
  for (const row of rows) t.diagnostic(row.line)
  assert.deepEqual(rows.flatMap((r) => r.failure ?? []), [])
})

test('the check names the operation and filter of a query no index serves, the recording included', async () => {
  const client = new MongoClient(server.url, { monitorCommands: true })
  const probe = new CommandLog().attach(client)
  const dbName = freshDbName()
  const store = probe.tag(mongoStore({ client, dbName }))
  try {
    await store.init()
    await store.getUserByEmail('ada@example.com')
    const users = client.db(dbName).collection('users')
    // The stored, not normalized, email: no index has it.
    await probe.run('byStoredEmail', () => users.findOne({ email: 'Ada@example.com' }))
    // The partial index holds the superusers only.
    await probe.run('countOthers', () => users.countDocuments({ isSuperuser: false }))
    // One branch of the $or has no index: the whole collection is read for it.
    await probe.run('eitherEmail', () => users.find({ $or: [{ normalizedEmail: 'a' }, { email: 'a' }] }).toArray())
    await probe.run('everyone', () => users.find({}).toArray())
  } finally {
    await store.close()
    await client.db(dbName).dropDatabase()
    await client.close()
  }
  const failures = check(probe).flatMap((r) => r.failure ?? [])
  assert.deepEqual(failures.map((f) => f.split(' is served')[0]), [
    'byStoredEmail: find on users with { email: eq }',
    'countOthers: aggregate on users with { isSuperuser: eq }',
    'eitherEmail: find on users with { $or: [{ normalizedEmail: eq } | { email: eq }] }',
    'everyone: find on users with {  }'
  ])
  assert.match(failures[0] ?? '', /it has _id_, normalizedEmail_unique, createdAt_id, isSuperuser_true/)
})

test('servingIndex applies the planner\'s rules', () => {
  const ix = (name: string, key: Record<string, number | string>, more: Partial<IndexSpec> = {}): IndexSpec =>
    ({ collection: 'c', name, key: Object.entries(key), ...more })
  const indexes = [
    ix('_id_', { _id: 1 }, { unique: true }),
    ix('a_b', { a: 1, b: 1 }),
    ix('u', { u: 1 }, { unique: true }),
    ix('s', { s: 1 }, { sparse: true }),
    ix('p', { p: 1 }, { partialFilterExpression: { p: true } }),
    ix('h', { h: 'hashed' }),
    ix('t', { t: -1 }),
    ix('v', { v: 1 })
  ]
  const how = (filter: object, sort: Array<[string, number]> = []) => servingIndex(filter, sort, indexes)?.how ?? null
  assert.equal(how({ _id: 'x', a: 1 }), '_id_ (_id eq)')
  assert.equal(how({ a: 1, b: 2 }), 'a_b (a eq, b eq)')
  assert.equal(how({ a: { $gte: 1 }, z: 1 }), 'a_b (a range)')
  assert.equal(how({ a: /^x\.y/ }), 'a_b (a prefix)')
  assert.equal(how({ a: { $in: [1, 2] } }), 'a_b (a in)')
  assert.equal(how({ u: 1, a: 1 }), 'u (u eq)', 'a unique index bound on all its keys wins')
  assert.equal(how({ s: 'x' }), 's (s eq)')
  assert.equal(how({ p: true }), 'p (p eq)')
  assert.equal(how({ h: 'x' }), 'h (h eq)')
  assert.equal(how({ $and: [{ a: 1 }, { z: 2 }] }), 'a_b (a eq)')
  assert.equal(how({ a: 1, v: 2 }), 'a_b (a eq) or v (v eq)', 'equally good by the rules: the planner races them')
  assert.equal(how({ $or: [{ a: 1 }, { u: 2 }] }), 'OR(a_b (a eq) | u (u eq))')
  assert.equal(how({ z: 1, $or: [{ a: 1 }, { u: 2 }] }), 'OR(a_b (a eq) | u (u eq))')
  assert.equal(how({}, [['t', 1]]), 't (whole index, in its order)', 'an index read backwards gives the reverse order')
  assert.equal(servingIndex({ a: 1 }, [['b', -1]], indexes)?.indexOrder, true)
  assert.equal(servingIndex({ a: 1 }, [['z', 1]], indexes)?.indexOrder, false)
  // None of these can bound a scan of an index.
  for (const filter of [
    {}, { z: 1 }, { b: 1 }, { a: { $ne: 1 } }, { a: { $nin: [1] } }, { a: { $exists: true } }, { a: /x/ }, { a: /^x/i }, { a: { $regex: '^x', $options: 'i' } },
    { a: /^.x/ }, { s: null }, { s: { $in: [null, 'x'] } }, { p: false }, { p: { $ne: false } }, { h: { $gt: 1 } }, { $or: [{ a: 1 }, { z: 1 }] },
    { $nor: [{ a: 1 }] }, { $expr: { $eq: ['$a', 1] } }
  ]) {
    assert.equal(how(filter), null, JSON.stringify(filter, (_, v) => v instanceof RegExp ? String(v) : v))
  }
  assert.equal(how({}, [['z', 1]]), null)
  assert.equal(how({}, [['a', 1], ['b', -1]]), null, 'a mixed direction no index has')
})

test('planVerdict reads the winning plan of classic, SBE, aggregation, express and sharded explains', () => {
  const plan = (winningPlan: object) => ({ queryPlanner: { winningPlan, rejectedPlans: [{ stage: 'COLLSCAN' }] } })
  const ixscan = { stage: 'FETCH', inputStage: { stage: 'IXSCAN', indexName: 'x' } }
  assert.deepEqual(planVerdict(plan(ixscan)), { indexed: true, stages: ['FETCH', 'IXSCAN'] })
  assert.equal(planVerdict(plan({ queryPlan: { stage: 'GROUP', inputStage: ixscan }, slotBasedPlan: { stages: 'COLLSCAN' } })).indexed, true)
  assert.equal(planVerdict({ stages: [{ $cursor: plan({ stage: 'PROJECTION_SIMPLE', inputStage: ixscan }) }, { $group: {} }] }).indexed, true)
  assert.equal(planVerdict(plan({ stage: 'EXPRESS_IXSCAN', indexName: 'x' })).indexed, true)
  assert.equal(planVerdict(plan({ stage: 'UPDATE', inputStage: { stage: 'IDHACK' } })).indexed, true)
  assert.equal(planVerdict(plan({ stage: 'SINGLE_SHARD', shards: [{ winningPlan: ixscan }] })).indexed, true)
  assert.equal(planVerdict(plan({ stage: 'SORT', inputStage: { stage: 'COLLSCAN' } })).indexed, false)
  assert.equal(planVerdict(plan({ stage: 'OR', inputStages: [ixscan, { stage: 'COLLSCAN' }] })).indexed, false)
  assert.equal(planVerdict(plan({ stage: 'EOF' })).indexed, false)
  assert.equal(planVerdict({ ok: 1 }).indexed, false, 'no plan at all')
})

const realUrl = process.env.MONGODB_URL

test('with MONGODB_URL: explain shows an index read for every query, no collection scan', {
  skip: realUrl ? false : 'MONGODB_URL is not set: the wire test server has no query planner (no explain)'
}, async (t) => {
  const client = new MongoClient(realUrl as string, { monitorCommands: true })
  const real = new CommandLog().attach(client)
  t.after(() => client.close())
  const plans: string[] = []
  const failures: string[] = []
  const rows = await exerciseAndCheck(client, real, async () => {
    const seen = new Set<string>()
    for (const query of real.queries) {
      const shape = `${query.operation} → ${query.collection} ${query.command} ${describeFilter(query.filter)}${describeSort(query.sort)}`
      if (seen.has(shape)) continue
      seen.add(shape)
      const { indexed, stages } = planVerdict(await client.db(query.database).command(explainCommand(query)))
      plans.push(`${shape} → ${stages.join(' < ')}`)
      if (!indexed && !exemption(query)) failures.push(`${shape}: the winning plan is ${stages.join(' < ') || 'missing'}`)
    }
  })
  for (const line of plans) t.diagnostic(line)
  assert.deepEqual(rows.flatMap((r) => r.failure ?? []), [])
  assert.deepEqual(failures, [])
})
