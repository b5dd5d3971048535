import { test } from 'node:test'
import assert from 'node:assert/strict'
import Fastify from 'fastify'
import fastifyUsers, { memoryStore } from '../index.js'

async function registerWith (options: unknown) {
  const app = Fastify()
  try {
    await app.register(fastifyUsers, options as never)
    await app.ready()
  } finally {
    await app.close()
  }
}

test('bad options fail register with a message naming the option', async () => {
  const store = memoryStore()
  const cases: [unknown, RegExp][] = [
    [{ store }, /invalid option.*issuer|Expected required property/],
    [{ issuer: 'not a url', store }, /"issuer"/],
    [{ issuer: 'https://api.example.com?x=1', store }, /"issuer"/],
    [{ issuer: 'https://api.example.com' }, /"store"/],
    [{ issuer: 'https://api.example.com', store: { init: 1 } }, /"store/],
    [{ issuer: 'https://api.example.com', store, accessTokenTtl: 5 }, /"accessTokenTtl"/],
    [{ issuer: 'https://api.example.com', store, scopes: { 'has space': 'x' } }, /"scopes/],
    [{ issuer: 'https://api.example.com', store, defaultScopes: ['unknown'] }, /"defaultScopes\[0\]": unknown scope/],
    [{ issuer: 'https://api.example.com', store, clients: [{ clientId: 'a', clientSecret: 'short' }] }, /"clients\[0\]\.clientSecret"/],
    [{ issuer: 'https://api.example.com', store, clients: [{ clientId: 'a', firstParty: true }, { clientId: 'a', firstParty: true }] }, /duplicate clientId a/],
    [{ issuer: 'https://api.example.com', store, clients: [{ clientId: 'a', redirectUris: ['nope'] }] }, /"clients\[0\]\.redirectUris\[0\]"/],
    [{ issuer: 'https://api.example.com', store, signingKeys: [{ privateKey: 'not a pem' }] }, /./],
    [{ issuer: 'https://api.example.com', store, typo: true }, /"typo": Unexpected property/]
  ]
  for (const [options, message] of cases) {
    await assert.rejects(registerWith(options), message, JSON.stringify(options))
  }
})

test('good options register', async () => {
  await registerWith({ issuer: 'https://api.example.com/', store: memoryStore(), prefix: '/api', accessTokenTtl: 60 })
})

test('an optional option given as undefined (an unset environment variable) means its default', async (t) => {
  const app = Fastify()
  t.after(() => app.close())
  await app.register(fastifyUsers, { issuer: 'https://api.example.com', store: memoryStore(), audience: undefined, prefix: undefined, docs: undefined, accessTokenTtl: undefined })
  assert.equal(app.users.config.audience, 'https://api.example.com')
  assert.equal(app.users.config.accessTokenTtl, 900)
  assert.equal((await app.inject({ url: '/.well-known/jwks.json' })).statusCode, 200)
})

test('the prefix option moves every route of ours', async (t) => {
  const app = Fastify()
  t.after(() => app.close())
  await app.register(fastifyUsers, { issuer: 'https://api.example.com', store: memoryStore(), prefix: '/api' })
  assert.equal((await app.inject({ url: '/api/.well-known/jwks.json' })).statusCode, 200)
  assert.equal((await app.inject({ url: '/.well-known/jwks.json' })).statusCode, 404)
  const meta = (await app.inject({ url: '/api/.well-known/oauth-authorization-server' })).json()
  assert.equal(meta.token_endpoint, 'https://api.example.com/api/oauth/token')
  assert.equal(meta.jwks_uri, 'https://api.example.com/api/.well-known/jwks.json')
  assert.equal(meta.issuer, 'https://api.example.com')
})
