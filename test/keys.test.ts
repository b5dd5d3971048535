import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyUsers, { memoryStore } from '../index.js'
import { build, ISSUER, passwordToken, register } from './support/app.js'

const kidOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[0] as string, 'base64url').toString()).kid as string

const routes = (app: FastifyInstance) => {
  app.get('/me-too', { config: { auth: true } }, async (request) => ({ id: request.auth?.user?.id }))
}

test('key rotation: the new key signs, both are published, old tokens verify until their key is retired', async (t) => {
  const app = await build(t, { routes })
  await register(app, 'ada@example.com')
  const before = await passwordToken(app, 'ada@example.com')
  const oldKid = kidOf(before.access_token)

  const newKid = await app.users.keys.rotate()
  assert.notEqual(newKid, oldKid)
  const jwks = (await app.inject({ url: '/.well-known/jwks.json' })).json()
  assert.deepEqual(jwks.keys.map((k: { kid: string }) => k.kid).sort(), [oldKid, newKid].sort())

  const after = await passwordToken(app, 'ada@example.com')
  assert.equal(kidOf(after.access_token), newKid)
  const call = (token: string) => app.inject({ url: '/me-too', headers: { authorization: `Bearer ${token}` } })
  assert.equal((await call(before.access_token)).statusCode, 200)
  assert.equal((await call(after.access_token)).statusCode, 200)

  await assert.rejects(app.users.keys.retire(newKid), /rotate before retiring/)
  assert.equal(await app.users.keys.retire(oldKid), true)
  assert.equal((await call(before.access_token)).statusCode, 401)
  assert.equal((await call(after.access_token)).statusCode, 200)
  assert.deepEqual((await app.inject({ url: '/.well-known/jwks.json' })).json().keys.map((k: { kid: string }) => k.kid), [newKid])
})

test('two instances on one store: a key rotated on one is learnt by the other from the first token it signs', async (t) => {
  const store = memoryStore()
  const instance = async () => {
    const app = Fastify()
    t.after(() => app.close())
    await app.register(fastifyUsers, { issuer: ISSUER, store: { ...store, close: async () => {} }, docs: { path: '/docs' } })
    routes(app)
    await app.ready()
    return app
  }
  const one = await instance()
  const two = await instance()
  await register(one, 'ada@example.com')
  assert.equal(kidOf((await passwordToken(one, 'ada@example.com')).access_token), kidOf((await passwordToken(two, 'ada@example.com')).access_token))
  const newKid = await one.users.keys.rotate()
  const token = await passwordToken(one, 'ada@example.com')
  assert.equal(kidOf(token.access_token), newKid)
  const res = await two.inject({ url: '/me-too', headers: { authorization: `Bearer ${token.access_token}` } })
  assert.equal(res.statusCode, 200, res.body)
  assert.ok((await two.inject({ url: '/.well-known/jwks.json' })).json().keys.some((k: { kid: string }) => k.kid === newKid))
})

test('keys given in options are not rotated through the store', async (t) => {
  const { privateKey } = generateKeyPairSync('ed25519')
  const app = await build(t, { signingKeys: [{ privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() }] })
  await assert.rejects(app.users.keys.rotate(), /come from options/)
  assert.deepEqual(await app.users.store.listSigningKeys(), [])
})
