import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac, createPublicKey, generateKeyPairSync, type JsonWebKey } from 'node:crypto'
import { createRemoteJWKSet, generateKeyPair, importJWK, jwtVerify, SignJWT, type JWTPayload } from 'jose'
import type { FastifyInstance } from 'fastify'
import { build, ISSUER, passwordToken, register } from './support/app.js'

async function appWithRoute (t: Parameters<typeof build>[0]) {
  return build(t, {
    routes: (app) => {
      app.get('/items', { config: { auth: { scopes: ['items:read'] } } }, async (request) => ({ user: request.auth?.user?.email }))
    }
  })
}

async function ourKey (app: FastifyInstance) {
  const [stored] = (await app.users.store.listSigningKeys()).filter((k) => k.alg !== 'RS256')
  assert.ok(stored)
  return { kid: stored.kid, privateJwk: stored.privateJwk }
}

const b64 = (value: object | string) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')

async function sign (app: FastifyInstance, userId: string, overrides: { header?: Record<string, unknown>, claims?: JWTPayload } = {}) {
  const { kid, privateJwk } = await ourKey(app)
  const key = await importJWK(privateJwk, 'EdDSA')
  const now = Math.floor(Date.now() / 1000)
  return new SignJWT({
    iss: ISSUER,
    aud: ISSUER,
    sub: userId,
    iat: now,
    exp: now + 300,
    client_id: 'swagger-ui',
    scope: 'items:read',
    jti: crypto.randomUUID(),
    ...overrides.claims
  })
    .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid, ...overrides.header })
    .sign(key)
}

test('an access token verifies with jose against the published JWKS over a real socket', async (t) => {
  const app = await appWithRoute(t)
  const address = await app.listen({ port: 0, host: '127.0.0.1' })
  const user = await register(app, 'ada@example.com')
  const { access_token: token } = await passwordToken(app, 'ada@example.com')
  const jwksRes = await fetch(`${address}/.well-known/jwks.json`)
  const jwks = await jwksRes.json() as { keys: Record<string, unknown>[] }
  // The access-token key first; the RSA key for id_tokens beside it.
  assert.deepEqual(jwks.keys.map((k) => k.alg), ['EdDSA', 'RS256'])
  const [jwk] = jwks.keys
  assert.deepEqual(Object.keys(jwk ?? {}).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x'])
  assert.equal(jwk?.use, 'sig')
  assert.equal(jwk?.d, undefined)
  const { payload, protectedHeader } = await jwtVerify(token, createRemoteJWKSet(new URL(`${address}/.well-known/jwks.json`)), {
    issuer: ISSUER, audience: ISSUER, typ: 'at+jwt', algorithms: ['EdDSA']
  })
  assert.equal(payload.sub, user.id)
  assert.equal(protectedHeader.kid, jwk?.kid)
  const res = await fetch(`${address}/items`, { headers: { authorization: `Bearer ${token}` } })
  assert.equal(res.status, 200)
  assert.deepEqual(await res.json(), { user: 'ada@example.com' })
})

test('a token we signed ourselves with jose passes the guard (the forgery tests below are not failing for another reason)', async (t) => {
  const app = await appWithRoute(t)
  const user = await register(app, 'ada@example.com')
  const res = await app.inject({ url: '/items', headers: { authorization: `Bearer ${await sign(app, user.id)}` } })
  assert.equal(res.statusCode, 200, res.body)
})

test('forged, expired, foreign and tampered tokens are all rejected with 401 invalid_token', async (t) => {
  const app = await appWithRoute(t)
  const user = await register(app, 'ada@example.com')
  const { kid } = await ourKey(app)
  const good = await sign(app, user.id)
  const [h, p, s] = good.split('.') as [string, string, string]
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as JWTPayload
  const [jwk] = (await app.inject({ url: '/.well-known/jwks.json' })).json<{ keys: JsonWebKey[] }>().keys
  const publicPem = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' }).export({ format: 'pem', type: 'spki' }).toString()
  const hs256 = (secret: string) => {
    const input = `${b64({ alg: 'HS256', typ: 'at+jwt', kid })}.${p}`
    return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
  }
  const stranger = await generateKeyPair('EdDSA', { crv: 'Ed25519' })
  const strangerToken = await new SignJWT({ ...payload })
    .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid })
    .sign(stranger.privateKey)
  const es256 = await generateKeyPair('ES256')

  const forgeries: Record<string, string> = {
    'alg none': `${b64({ alg: 'none', typ: 'at+jwt', kid })}.${p}.`,
    'alg none, signature kept': `${b64({ alg: 'none', typ: 'at+jwt', kid })}.${p}.${s}`,
    'HS256 with the public key PEM as secret': hs256(publicPem),
    'HS256 with the JWK x as secret': hs256(String(jwk?.x)),
    expired: await sign(app, user.id, { claims: { iat: Math.floor(Date.now() / 1000) - 120, exp: Math.floor(Date.now() / 1000) - 60 } }),
    'wrong issuer': await sign(app, user.id, { claims: { iss: 'http://evil.example' } }),
    'wrong audience': await sign(app, user.id, { claims: { aud: 'http://other.example' } }),
    'tampered scope': `${h}.${b64({ ...payload, scope: 'items:read items:write users:admin' })}.${s}`,
    'tampered subject': `${h}.${b64({ ...payload, sub: 'someone-else' })}.${s}`,
    'wrong typ': await sign(app, user.id, { header: { typ: 'JWT' } }),
    'unknown kid': await sign(app, user.id, { header: { kid: 'not-a-key' } }),
    'another key under our kid': strangerToken,
    'ES256 under our kid': await new SignJWT({ ...payload }).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid }).sign(es256.privateKey),
    'no client_id': await sign(app, user.id, { claims: { client_id: undefined } }),
    garbage: 'abc.def.ghi',
    'two segments': `${h}.${p}`
  }
  // The real token first, so a cache that remembered it cannot hide a tampered twin.
  assert.equal((await app.inject({ url: '/items', headers: { authorization: `Bearer ${good}` } })).statusCode, 200)
  for (const [name, token] of Object.entries(forgeries)) {
    const res = await app.inject({ url: '/items', headers: { authorization: `Bearer ${token}` } })
    assert.equal(res.statusCode, 401, `${name}: ${res.body}`)
    assert.match(String(res.headers['www-authenticate']), /^Bearer realm="http:\/\/localhost:3000", error="invalid_token"/, name)
    assert.equal(res.json().code, 'INVALID_TOKEN', name)
  }
})

test('keys given in the options sign, and the store is not asked to keep them', async (t) => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()
  const app = await build(t, { signingKeys: [{ privateKey: pem, kid: 'ops-2026' }] })
  await register(app, 'ada@example.com')
  const { access_token: token } = await passwordToken(app, 'ada@example.com')
  const header = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString())
  assert.deepEqual(header, { alg: 'ES256', typ: 'at+jwt', kid: 'ops-2026' })
  assert.deepEqual(await app.users.store.listSigningKeys(), [])
  const jwks = (await app.inject({ url: '/.well-known/jwks.json' })).json()
  assert.deepEqual(jwks.keys.map((k: { kid: string, crv: string }) => [k.kid, k.crv]), [['ops-2026', 'P-256']])
  const me = await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${token}` } })
  assert.equal(me.statusCode, 200)
})

test('a generated key is kept in the store and reused by the next instance on that store', async (t) => {
  const { memoryStore } = await import('../index.js')
  const store = memoryStore()
  const first = await build(t, { store })
  await first.close()
  const second = await build(t, { store: { ...store, close: async () => {} } })
  const kids = (await second.inject({ url: '/.well-known/jwks.json' })).json().keys.map((k: { kid: string }) => k.kid)
  assert.deepEqual([...kids].sort(), (await store.listSigningKeys()).map((k) => k.kid).sort())
  assert.equal(kids.length, 2, 'an access-token key and an id_token (RSA) key, made once')
})
