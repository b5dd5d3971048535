import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyUsers, { memoryStore } from '../index.js'
import { build, ISSUER, passwordToken, register } from './support/app.js'
import { authorizeCode, exchange } from './support/oauth.js'

const kidOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[0] as string, 'base64url').toString()).kid as string

const routes = (app: FastifyInstance) => {
  app.get('/me-too', { config: { auth: true } }, async (request) => ({ id: request.auth?.user?.id }))
}

test('key rotation: the new key signs, both are published, old tokens verify until their key is retired', async (t) => {
  const app = await build(t, { routes })
  await register(app, 'ada@example.com')
  const before = await passwordToken(app, 'ada@example.com')
  const oldKid = kidOf(before.access_token)

  // The RSA key that signs id_tokens is published beside them, and rotates on its own.
  const accessKids = async () => (await app.inject({ url: '/.well-known/jwks.json' })).json().keys
    .filter((k: { alg: string }) => k.alg !== 'RS256').map((k: { kid: string }) => k.kid)
  const newKid = await app.users.keys.rotate()
  assert.notEqual(newKid, oldKid)
  assert.deepEqual(await accessKids(), [newKid, oldKid], 'the signing key first')

  const after = await passwordToken(app, 'ada@example.com')
  assert.equal(kidOf(after.access_token), newKid)
  const call = (token: string) => app.inject({ url: '/me-too', headers: { authorization: `Bearer ${token}` } })
  assert.equal((await call(before.access_token)).statusCode, 200)
  assert.equal((await call(after.access_token)).statusCode, 200)

  await assert.rejects(app.users.keys.retire(newKid), /rotate before retiring/)
  assert.equal(await app.users.keys.retire(oldKid), true)
  assert.equal((await call(before.access_token)).statusCode, 401)
  assert.equal((await call(after.access_token)).statusCode, 200)
  assert.deepEqual(await accessKids(), [newKid])
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

test('id_tokens are RS256 unless the client registers another algorithm; a missing key fails at start-up', async (t) => {
  const app = await build(t, {
    scopes: { 'items:read': 'Read items' },
    clients: [
      { clientId: 'rp', redirectUris: ['https://rp.example.com/cb'] },
      { clientId: 'modern-rp', redirectUris: ['https://modern.example.com/cb'], idTokenSigningAlg: 'EdDSA' }
    ]
  })
  await register(app, 'ada@example.com')
  const jwks = (await app.inject({ url: '/.well-known/jwks.json' })).json<{ keys: { kid: string, alg: string }[] }>().keys
  const metadata = (await app.inject({ url: '/.well-known/openid-configuration' })).json<{ id_token_signing_alg_values_supported: string[] }>()
  assert.deepEqual(metadata.id_token_signing_alg_values_supported, ['RS256', 'EdDSA'])
  for (const [clientId, redirectUri, alg] of [['rp', 'https://rp.example.com/cb', 'RS256'], ['modern-rp', 'https://modern.example.com/cb', 'EdDSA']] as const) {
    const authorized = await authorizeCode(app, { clientId, redirectUri, scope: 'openid', nonce: 'n' })
    const res = await exchange(app, authorized, clientId)
    const idToken = res.json<{ id_token: string }>().id_token
    const header = JSON.parse(Buffer.from(idToken.split('.')[0] as string, 'base64url').toString()) as { alg: string, kid: string }
    assert.equal(header.alg, alg, clientId)
    assert.equal(jwks.find((k) => k.kid === header.kid)?.alg, alg, 'signed by a published key of that algorithm')
  }
  // Access tokens keep the signing algorithm.
  assert.equal(JSON.parse(Buffer.from((await passwordToken(app, 'ada@example.com')).access_token.split('.')[0] as string, 'base64url').toString()).alg, 'EdDSA')

  await assert.rejects(
    build(t, { clients: [{ clientId: 'es', redirectUris: ['https://es.example.com/cb'], idTokenSigningAlg: 'ES256' }] }),
    /client es asks for ES256 id_tokens, but no signing key has that algorithm/
  )
})
