// @fastify/jwt is how our tokens meet an app used to it: request.jwtVerify() and
// app.jwt.verify() accept our access tokens under the guard's rules, and refuse forged ones
// with 401. An app that registered its own @fastify/jwt or @fastify/passport first keeps them.
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import fastifyJwt from '@fastify/jwt'
import { Authenticator } from '@fastify/passport'
import fastifyCookie from '@fastify/cookie'
import fastifySession from '@fastify/session'
import { importJWK, SignJWT, type JWTPayload } from 'jose'
import fastifyUsers, { memoryStore } from '../index.js'
import { ISSUER, passwordToken, register } from './support/app.js'

// Typed by hand: @fastify/jwt's declarations are the app's to load, not ours (see plugins/jwt.ts).
interface JwtRequest { jwtVerify (): Promise<Record<string, unknown>>, usersJwtVerify (): Promise<Record<string, unknown>>, user: unknown, usersToken: unknown }
interface JwtApp { jwt: { verify (token: string): unknown, sign (payload: object): string, users: { verify (token: string): unknown } } }
const jwtOf = (request: FastifyRequest) => request as unknown as JwtRequest
const appJwt = (app: FastifyInstance) => (app as unknown as JwtApp).jwt

async function start (t: TestContext, before?: (app: FastifyInstance) => Promise<void>) {
  const app = Fastify()
  t.after(() => app.close())
  await before?.(app)
  await app.register(fastifyUsers, { issuer: ISSUER, store: memoryStore(), scopes: { 'items:read': 'Read items' }, docs: { path: '/docs' } })
  app.get('/claims', async (request) => {
    const claims = await jwtOf(request).jwtVerify()
    return { claims, user: jwtOf(request).user }
  })
  app.get('/our-claims', async (request) => ({ claims: await jwtOf(request).usersJwtVerify(), token: jwtOf(request).usersToken }))
  app.get('/guarded', { config: { auth: { scopes: ['items:read'] } } }, async (request) => ({ email: request.auth?.user?.email }))
  await app.ready()
  const user = await register(app, 'ada@example.com')
  const { access_token: token } = await passwordToken(app, 'ada@example.com', undefined, 'items:read')
  return { app, user, token }
}

async function forge (app: FastifyInstance, header: Record<string, unknown>, claims: JWTPayload) {
  const [stored] = (await app.users.store.listSigningKeys()).filter((k) => k.alg !== 'RS256')
  assert.ok(stored)
  const now = Math.floor(Date.now() / 1000)
  return new SignJWT({ iss: ISSUER, aud: ISSUER, sub: 'x', iat: now, exp: now + 300, client_id: 'swagger-ui', scope: 'items:read', jti: 'j', ...claims })
    .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: stored.kid, ...header })
    .sign(await importJWK(stored.privateJwk, 'EdDSA'))
}

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')

test('request.jwtVerify() and app.jwt.verify() accept our access tokens, also after a key rotation', async (t) => {
  const { app, user, token } = await start(t)
  const res = await app.inject({ url: '/claims', headers: { authorization: `Bearer ${token}` } })
  assert.equal(res.statusCode, 200)
  const { claims, user: filled } = res.json()
  assert.equal(claims.sub, user.id)
  assert.equal(claims.iss, ISSUER)
  assert.equal(claims.scope, 'items:read')
  assert.deepEqual(filled, claims, 'request.user holds the claims, as @fastify/jwt users expect')
  // fast-jwt resolves a key function asynchronously: app.jwt.verify returns a promise here.
  assert.equal((await appJwt(app).verify(token) as { sub: string }).sub, user.id)
  // Signing is ours alone: the app's @fastify/jwt cannot mint tokens with our keys.
  assert.throws(() => appJwt(app).sign({ sub: user.id }), /verify mode/)

  const [first] = (await app.users.store.listSigningKeys()).filter((k) => k.alg !== 'RS256')
  await app.users.keys.rotate()
  const { access_token: rotated } = await passwordToken(app, 'ada@example.com', undefined, 'items:read')
  for (const t of [token, rotated]) {
    assert.equal((await app.inject({ url: '/claims', headers: { authorization: `Bearer ${t}` } })).statusCode, 200)
  }
  // Retired: the cached verification of its token does not outlive the key.
  assert.ok(first && await app.users.keys.retire(first.kid))
  assert.equal((await app.inject({ url: '/claims', headers: { authorization: `Bearer ${token}` } })).statusCode, 401)
  assert.equal((await app.inject({ url: '/claims', headers: { authorization: `Bearer ${rotated}` } })).statusCode, 200)
})

test('request.jwtVerify() refuses forged and foreign tokens with 401, never 500', async (t) => {
  const { app, user, token } = await start(t)
  const [head, payload] = token.split('.') as [string, string, string]
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>
  const [stored] = (await app.users.store.listSigningKeys()).filter((k) => k.alg !== 'RS256')
  assert.ok(stored)
  const publicPem = (await import('node:crypto')).createPublicKey({ key: stored.privateJwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString()
  const hs256Header = b64({ alg: 'HS256', typ: 'at+jwt', kid: stored.kid })
  const hs256Body = b64({ ...claims, sub: 'someone-else' })
  const forged: Record<string, string> = {
    'alg none': `${b64({ alg: 'none', typ: 'at+jwt', kid: stored.kid })}.${b64(claims)}.`,
    'HS256 with the public key as secret': `${hs256Header}.${hs256Body}.${createHmac('sha256', publicPem).update(`${hs256Header}.${hs256Body}`).digest('base64url')}`,
    'tampered payload': `${head}.${b64({ ...claims, sub: 'someone-else' })}.${token.split('.')[2]}`,
    'wrong issuer': await forge(app, {}, { sub: user.id, iss: 'https://evil.example' }),
    'wrong audience': await forge(app, {}, { sub: user.id, aud: 'https://other.example' }),
    expired: await forge(app, {}, { sub: user.id, iat: 1, exp: 2 }),
    'unknown kid': await forge(app, { kid: 'not-ours' }, { sub: user.id }),
    'alg not the key\'s': await forge(app, { alg: 'ES256' }, { sub: user.id }).catch(() => `${b64({ alg: 'ES256', typ: 'at+jwt', kid: stored.kid })}.${b64(claims)}.AAAA`),
    'an id_token (typ JWT)': await forge(app, { typ: 'JWT' }, { sub: user.id }),
    'no typ': await forge(app, { typ: undefined }, { sub: user.id }),
    'missing client_id': await forge(app, {}, { sub: user.id, client_id: undefined })
  }
  for (const [name, value] of Object.entries(forged)) {
    const res = await app.inject({ url: '/claims', headers: { authorization: `Bearer ${value}` } })
    assert.equal(res.statusCode, 401, `${name}: ${res.body}`)
    await assert.rejects(Promise.resolve().then(() => appJwt(app).verify(value)), `${name}: app.jwt.verify`)
  }
})

test('an app that registered its own @fastify/jwt first keeps it; ours is app.jwt.users and request.usersJwtVerify()', async (t) => {
  const { app, user, token } = await start(t, async (a) => { await a.register(fastifyJwt, { secret: 'the app own secret, 32 chars long!' }) })
  const appToken = appJwt(app).sign({ sub: 'app-user' })
  const own = await app.inject({ url: '/claims', headers: { authorization: `Bearer ${appToken}` } })
  assert.equal(own.statusCode, 200)
  assert.equal(own.json().claims.sub, 'app-user')
  // Each verifier takes only its own tokens. (The app's HS256 verifier answers our EdDSA token
  // with 500: that is @fastify/jwt's way with an algorithm it was not given, not ours to change.)
  assert.notEqual((await app.inject({ url: '/claims', headers: { authorization: `Bearer ${token}` } })).statusCode, 200)
  assert.equal((await app.inject({ url: '/our-claims', headers: { authorization: `Bearer ${appToken}` } })).statusCode, 401)
  const ours = await app.inject({ url: '/our-claims', headers: { authorization: `Bearer ${token}` } })
  assert.equal(ours.statusCode, 200)
  assert.equal(ours.json().claims.sub, user.id)
  assert.deepEqual(ours.json().token, ours.json().claims)
  assert.equal((await appJwt(app).users.verify(token) as { sub: string }).sub, user.id)
  assert.equal((await app.inject({ url: '/guarded', headers: { authorization: `Bearer ${token}` } })).json().email, 'ada@example.com')
})

test('next to @fastify/passport, which owns request.user: both load, jwtVerify() fills request.usersToken', async (t) => {
  const passport = new Authenticator()
  const { app, user, token } = await start(t, async (a) => {
    await a.register(fastifyCookie)
    await a.register(fastifySession, { secret: 'a session secret of at least 32 characters', cookie: { secure: false } })
    await a.register(passport.initialize())
  })
  const res = await app.inject({ url: '/claims', headers: { authorization: `Bearer ${token}` } })
  assert.equal(res.statusCode, 200)
  assert.equal(res.json().claims.sub, user.id)
  assert.equal(res.json().user, null, 'request.user stays passport\'s')
  assert.equal((await app.inject({ url: '/guarded', headers: { authorization: `Bearer ${token}` } })).json().email, 'ada@example.com')
})
