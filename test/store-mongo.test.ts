import { after, before, test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { MongoClient, ObjectId, type CommandStartedEvent } from 'mongodb'
import { InvalidCursorError, mongoStore, type UserStore } from '../index.js'
import { userCursor } from '../stores/types.js'
import { storeContract } from '../testing/index.js'
import { startMongoWireServer, type MongoWireServer } from './support/mongo-wire-server.js'

let server: MongoWireServer
let client: MongoClient

before(async () => {
  server = await startMongoWireServer()
  client = new MongoClient(server.url)
  await client.connect()
})
after(async () => {
  await client.close()
  await server.close()
})

/** A store on its own database, dropped when the store closes. */
function isolated (make: () => MongoClient): () => Promise<UserStore> {
  return async () => {
    const c = make()
    const dbName = `fastify_users_test_${randomUUID().replace(/-/g, '')}`
    const store = mongoStore({ client: c, dbName })
    return {
      ...store,
      async close () {
        await store.close()
        await c.db(dbName).dropDatabase()
      }
    }
  }
}

storeContract('mongoStore over the MongoDB wire protocol', isolated(() => client))

if (process.env.MONGODB_URL) {
  const real = new MongoClient(process.env.MONGODB_URL)
  after(() => real.close())
  storeContract('mongoStore on MONGODB_URL', isolated(() => real))
}

test('mongoStore creates the unique index on the normalized email at start-up', async (t) => {
  const dbName = `fastify_users_test_${randomUUID().replace(/-/g, '')}`
  const store = mongoStore({ url: server.url, dbName, collectionPrefix: 'auth_' })
  await store.init()
  t.after(async () => {
    await client.db(dbName).dropDatabase()
    await store.close()
  })
  const indexes = await client.db(dbName).collection('auth_users').listIndexes().toArray()
  const unique = indexes.find((i) => i.name === 'normalizedEmail_unique')
  assert.deepEqual(unique?.key, { normalizedEmail: 1 })
  assert.equal(unique?.unique, true)
  const user = await store.createUser({ email: 'Ada@Example.com', hashedPassword: 'h' })
  const doc = await client.db(dbName).collection('auth_users').findOne({ normalizedEmail: 'ada@example.com' })
  assert.equal(String(doc?._id), user.id)
  assert.equal(doc?.email, 'Ada@Example.com')
})

/** A started store on its own database, and that database, both dropped after the test. */
async function started (t: TestContext, c: MongoClient = client) {
  const dbName = `fastify_users_test_${randomUUID().replace(/-/g, '')}`
  const store = mongoStore({ client: c, dbName })
  await store.init()
  t.after(async () => {
    await client.db(dbName).dropDatabase()
    await store.close()
  })
  return { store, db: client.db(dbName) }
}

test('mongoStore creates the indexes of listing, counting superusers and deleting a user\'s records, again on a restart', async (t) => {
  const { db } = await started(t)
  // A second instance on the same database, as after a restart or beside the first.
  await mongoStore({ client, dbName: db.databaseName }).init()
  const keys = async (collection: string) =>
    Object.fromEntries((await db.collection(collection).listIndexes().toArray()).map((i) => [i.name, i.key]))
  const users = await keys('users')
  assert.deepEqual(users.createdAt_id, { createdAt: 1, _id: 1 })
  assert.deepEqual(users.isSuperuser_true, { isSuperuser: 1 })
  for (const collection of ['grants', 'grant_families', 'sessions', 'upstream_states', 'oauth_accounts']) {
    assert.deepEqual((await keys(collection)).userId, { userId: 1 }, collection)
  }
})

test('mongoStore lists users in the order of its createdAt_id index, with an anchored and escaped prefix', async (t) => {
  const monitored = new MongoClient(server.url, { monitorCommands: true })
  t.after(() => monitored.close())
  const finds: CommandStartedEvent[] = []
  monitored.on('commandStarted', (event) => { if (event.commandName === 'find' && event.command.find === 'users') finds.push(event) })
  const { store, db } = await started(t, monitored)
  await store.createUser({ email: 'a.b+c@example.com', hashedPassword: null })
  await store.listUsers({ limit: 10, emailPrefix: 'A.B+' })
  const index = (await db.collection('users').listIndexes().toArray()).find((i) => i.name === 'createdAt_id')
  const find = finds.at(-1)?.command
  // The driver sends the sort as a Map: its order is the order of the keys.
  assert.deepEqual([...(find?.sort as Map<string, number>)], Object.entries(index?.key))
  const pattern = find?.filter.normalizedEmail
  assert.ok(pattern instanceof RegExp)
  assert.deepEqual([pattern.source, pattern.flags], ['^a\\.b\\+', ''])
})

test('mongoStore reads users stored without permissions or fields as having [] and {}', async (t) => {
  const { store, db } = await started(t)
  const now = new Date()
  const { insertedId } = await db.collection('users').insertOne({
    email: 'Old@example.com', normalizedEmail: 'old@example.com', hashedPassword: 'h', isActive: true, isVerified: true, isSuperuser: false, createdAt: now, updatedAt: now
  })
  const expected = { id: insertedId.toHexString(), email: 'Old@example.com', hashedPassword: 'h', isActive: true, isVerified: true, isSuperuser: false, permissions: [], fields: {}, createdAt: now, updatedAt: now }
  assert.deepEqual(await store.getUserById(expected.id), expected)
  assert.deepEqual(await store.getUserByEmail('old@example.com'), expected)
  assert.deepEqual(await store.listUsers({ limit: 10 }), { users: [expected], next: null })
  const updated = await store.updateUser(expected.id, { permissions: ['admin'] })
  assert.deepEqual([updated?.permissions, updated?.fields], [['admin'], {}])
})

test('mongoStore lists users by createdAt then id even where the ObjectIds are in another order', async (t) => {
  const { store, db } = await started(t)
  // Users brought over from elsewhere keep their dates; their ObjectIds are new.
  const base = Date.now()
  const ids = Array.from({ length: 5 }, () => new ObjectId())
  const createdAt = [base + 4000, base + 3000, base + 3000, base + 1000, base]
  await db.collection('users').insertMany(ids.map((_id, i) => ({
    _id, email: `user${i}@example.com`, normalizedEmail: `user${i}@example.com`, hashedPassword: null, isActive: true, isVerified: false, isSuperuser: false, createdAt: new Date(createdAt[i] as number), updatedAt: new Date(base)
  })))
  const listed: string[] = []
  let cursor: string | null | undefined
  do {
    const page = await store.listUsers(cursor ? { limit: 2, cursor } : { limit: 2 })
    listed.push(...page.users.map((u) => u.email))
    cursor = page.next
  } while (cursor)
  assert.deepEqual(listed, ['user4@example.com', 'user3@example.com', 'user1@example.com', 'user2@example.com', 'user0@example.com'])
})

test('mongoStore rejects a cursor whose id is no ObjectId with InvalidCursorError', async (t) => {
  const { store } = await started(t)
  await store.createUser({ email: 'ada@example.com', hashedPassword: null })
  const cursor = userCursor({ createdAt: new Date(), id: 'not-an-object-id' })
  await assert.rejects(store.listUsers({ limit: 10, cursor }), InvalidCursorError)
})

test('mongoStore refuses to be built without a url or a client', () => {
  assert.throws(() => mongoStore({}), /url or client/)
})
