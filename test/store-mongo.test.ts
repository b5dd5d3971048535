import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { MongoClient } from 'mongodb'
import { mongoStore, type UserStore } from '../index.js'
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

test('mongoStore refuses to be built without a url or a client', () => {
  assert.throws(() => mongoStore({}), /url or client/)
})
