import { test } from 'node:test'
import assert from 'node:assert/strict'
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyUsers, { memoryStore } from '../index.js'
import { build, ISSUER, passwordToken, register } from './support/app.js'

interface OpenApiDoc {
  paths: Record<string, Record<string, { security?: unknown, responses: Record<string, unknown> }>>
  components: { securitySchemes: Record<string, { flows: { password: { scopes: Record<string, string> } } }> }
}

const routes = (app: import('fastify').FastifyInstance) => {
  app.get('/open', async () => ({ ok: true }))
  app.get('/any', { config: { auth: true } }, async (request) => ({ email: request.auth?.user?.email, scopes: [...request.auth?.scopes ?? []] }))
  app.get('/read', { config: { auth: { scopes: ['items:read'] } } }, async () => ({ ok: true }))
  app.get('/both', { config: { auth: { scopes: ['items:read', 'items:write'] } } }, async () => ({ ok: true }))
  app.get('/verified', { config: { auth: { verified: true } } }, async () => ({ ok: true }))
  app.get('/admin', { config: { auth: { superuser: true } } }, async () => ({ ok: true }))
  app.get('/hand', { onRequest: app.users.guard({ scopes: ['items:read'] }) }, async (request) => ({ id: request.auth?.user?.id }))
}

test('no token: 401 with a Bearer challenge and no error code (RFC 6750 §3.1)', async (t) => {
  const app = await build(t, { routes })
  for (const authorization of [undefined, 'Basic YTpi', 'Token abc']) {
    const res = await app.inject({ url: '/read', headers: authorization ? { authorization } : {} })
    assert.equal(res.statusCode, 401)
    assert.equal(res.headers['www-authenticate'], `Bearer realm="${ISSUER}", scope="items:read"`)
    assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8')
    assert.equal(res.json().status, 401)
  }
  assert.equal((await app.inject({ url: '/open' })).statusCode, 200)
})

test('a malformed bearer token is invalid_token', async (t) => {
  const app = await build(t, { routes })
  for (const authorization of ['Bearer', 'Bearer ', 'Bearer a b', 'Bearer ä']) {
    const res = await app.inject({ url: '/any', headers: { authorization } })
    assert.equal(res.statusCode, 401, authorization)
    assert.match(String(res.headers['www-authenticate']), /error="invalid_token"/)
  }
})

test('scopes: the token must carry every scope the route declares, else 403 insufficient_scope', async (t) => {
  const app = await build(t, { routes })
  await register(app, 'ada@example.com')
  const { access_token: readOnly } = await passwordToken(app, 'ada@example.com', undefined, 'items:read')
  const auth = { authorization: `Bearer ${readOnly}` }
  assert.equal((await app.inject({ url: '/read', headers: auth })).statusCode, 200)
  const any = await app.inject({ url: '/any', headers: auth })
  assert.deepEqual(any.json(), { email: 'ada@example.com', scopes: ['items:read'] })
  const both = await app.inject({ url: '/both', headers: auth })
  assert.equal(both.statusCode, 403)
  assert.equal(both.headers['www-authenticate'], `Bearer realm="${ISSUER}", error="insufficient_scope", error_description="Missing scope: items:write", scope="items:read items:write"`)
  assert.equal(both.json().code, 'INSUFFICIENT_SCOPE')
  const hand = await app.inject({ url: '/hand', headers: auth })
  assert.equal(hand.statusCode, 200)
})

test('verified and superuser requirements answer 403 to users without them', async (t) => {
  const app = await build(t, { routes })
  await register(app, 'ada@example.com')
  await app.users.manager.register({ email: 'root@example.com', password: 'correct horse battery' }, { isSuperuser: true, isVerified: true })
  const ada = { authorization: `Bearer ${(await passwordToken(app, 'ada@example.com')).access_token}` }
  const root = { authorization: `Bearer ${(await passwordToken(app, 'root@example.com')).access_token}` }
  const verified = await app.inject({ url: '/verified', headers: ada })
  assert.equal(verified.statusCode, 403)
  assert.equal(verified.json().code, 'USER_NOT_VERIFIED')
  assert.equal((await app.inject({ url: '/admin', headers: ada })).statusCode, 403)
  assert.equal((await app.inject({ url: '/verified', headers: root })).statusCode, 200)
  assert.equal((await app.inject({ url: '/admin', headers: root })).statusCode, 200)
})

test('a deactivated or deleted user is refused at once, though the token is still valid', async (t) => {
  const app = await build(t, { routes })
  const ada = await register(app, 'ada@example.com')
  const bob = await register(app, 'bob@example.com')
  const adaAuth = { authorization: `Bearer ${(await passwordToken(app, 'ada@example.com')).access_token}` }
  const bobAuth = { authorization: `Bearer ${(await passwordToken(app, 'bob@example.com')).access_token}` }
  assert.equal((await app.inject({ url: '/any', headers: adaAuth })).statusCode, 200)
  await app.users.store.updateUser(ada.id, { isActive: false })
  await app.users.store.deleteUser(bob.id)
  for (const headers of [adaAuth, bobAuth]) {
    const res = await app.inject({ url: '/any', headers })
    assert.equal(res.statusCode, 401)
    assert.match(String(res.headers['www-authenticate']), /error="invalid_token"/)
  }
})

test('config.auth adds the OpenAPI security requirement and 401/403 responses by itself', async (t) => {
  const app = await build(t, { routes })
  const doc = (await app.inject({ url: '/docs/json' })).json<OpenApiDoc>()
  assert.deepEqual(doc.paths['/read']?.get?.security, [{ oauth2: ['items:read'] }])
  assert.deepEqual(doc.paths['/any']?.get?.security, [{ oauth2: [] }])
  assert.ok(doc.paths['/read']?.get?.responses['401'])
  assert.ok(doc.paths['/read']?.get?.responses['403'])
  assert.equal(doc.paths['/open']?.get?.security, undefined)
  assert.ok('items:write' in (doc.components.securitySchemes.oauth2?.flows.password.scopes ?? {}))
})

test('a scope only a route declares is listed in the OpenAPI document and may be granted', async (t) => {
  const app = await build(t, {
    routes: (app) => { app.get('/reports', { config: { auth: { scopes: ['reports:read'] } } }, async () => ({ ok: true })) }
  })
  await register(app, 'ada@example.com')
  const doc = (await app.inject({ url: '/docs/json' })).json<OpenApiDoc>()
  assert.ok('reports:read' in (doc.components.securitySchemes.oauth2?.flows.password.scopes ?? {}))
  const { access_token: token } = await passwordToken(app, 'ada@example.com', undefined, 'reports:read')
  assert.equal((await app.inject({ url: '/reports', headers: { authorization: `Bearer ${token}` } })).statusCode, 200)
})

test('routes declared right after register, without await, are guarded too', async (t) => {
  const app = Fastify()
  t.after(() => app.close())
  app.register(fastifyUsers, { issuer: ISSUER, store: memoryStore() })
  app.after(() => {
    app.get('/late', { config: { auth: true } }, async () => ({ ok: true }))
  })
  await app.ready()
  assert.equal((await app.inject({ url: '/late' })).statusCode, 401)
})

test('routes declared before the plugin loaded, before register or right after an un-awaited one, are guarded at request time', async (t) => {
  const app = Fastify()
  t.after(() => app.close())
  app.get('/before', { config: { auth: true } }, async () => ({ ok: true }))
  app.register(fastifyUsers, { issuer: ISSUER, store: memoryStore() })
  app.get('/right-after', { config: { auth: true } }, async () => ({ ok: true }))
  app.get('/open', async () => ({ ok: true }))
  await app.ready()
  assert.equal((await app.inject({ url: '/before' })).statusCode, 401)
  assert.equal((await app.inject({ url: '/right-after' })).statusCode, 401)
  assert.equal((await app.inject({ url: '/open' })).statusCode, 200)
})

/** The hooks Fastify runs for a route, by lifecycle stage, as printRoutes shows them (but the conformance check's). */
function routeHooks (app: FastifyInstance, path: string): string[] {
  const lines: string[] = app.printRoutes({ includeHooks: true, commonPrefix: false }).split('\n')
  const at = lines.findIndex((line) => line.includes(`${path} (GET)`))
  assert.ok(at >= 0, `${path} is routed`)
  const hooks: string[] = []
  for (const line of lines.slice(at + 1)) {
    const hook = /• \((\w+)\) (.*)$/.exec(line)
    if (!hook) break
    if (!/^\["openapiConformance\w+\(\)"\]$/.test(hook[2] ?? '')) hooks.push(`${hook[1]} ${hook[2]}`)
  }
  return hooks
}

test('registered first, the plugin adds no hook to the app\'s other routes, and only the guard to a guarded one', async (t) => {
  const app = Fastify()
  t.after(() => app.close())
  await app.register(fastifyUsers, { issuer: ISSUER, store: memoryStore() })
  app.get('/open', async () => ({ ok: true }))
  app.get('/guarded', { config: { auth: true } }, async () => ({ ok: true }))
  await app.ready()
  // Our cookie parsing and the late-route check would run on every request of the app.
  assert.deepEqual(routeHooks(app, '/open'), [])
  assert.deepEqual(routeHooks(app, '/guarded'), ['onRequest ["fastifyUsersGuard()"]'])
})

test('a bad config.auth fails at start-up with a message naming the route', async (t) => {
  const app = Fastify()
  t.after(() => app.close())
  await app.register(fastifyUsers, { issuer: ISSUER, store: memoryStore() })
  assert.throws(
    () => app.get('/x', { config: { auth: { scope: ['typo'] } as never } }, async () => ({})),
    /GET \/x: unknown config.auth field scope/
  )
  assert.throws(
    () => app.get('/y', { config: { auth: { clients: true, account: true } } }, async () => ({})),
    /GET \/y: config.auth.clients cannot be combined with verified, superuser, account, permissions or recentSignIn/
  )
  for (const recentSignIn of [0, -5, 1.5, 'soon']) {
    assert.throws(
      () => app.get('/z', { config: { auth: { recentSignIn: recentSignIn as never } } }, async () => ({})),
      /GET \/z: config.auth.recentSignIn must be true or a positive number of seconds/
    )
  }
})

test('a route declared synchronously right after an un-awaited register is still guarded (fail closed)', async (t) => {
  const app = Fastify()
  t.after(() => app.close())
  app.register(fastifyUsers, { issuer: ISSUER, store: memoryStore(), scopes: { 'items:read': 'Read' }, docs: {} })
  app.get('/early', { config: { auth: { scopes: ['items:read'] } } }, async () => ({ ok: true }))
  await app.ready()
  const res = await app.inject({ url: '/early' })
  assert.equal(res.statusCode, 401)
  await register(app, 'ada@example.com')
  const { access_token: token } = await passwordToken(app, 'ada@example.com', undefined, 'items:read')
  assert.equal((await app.inject({ url: '/early', headers: { authorization: `Bearer ${token}` } })).statusCode, 200)
})

test('a token the guard has seen stops working when it expires (verified tokens are cached only until then)', async (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
  const app = await build(t, { routes, accessTokenTtl: 60 })
  await register(app, 'ada@example.com')
  const { access_token: token } = await passwordToken(app, 'ada@example.com', undefined, 'items:read')
  const call = () => app.inject({ url: '/any', headers: { authorization: `Bearer ${token}` } })
  assert.equal((await call()).statusCode, 200)
  assert.equal((await call()).statusCode, 200)
  t.mock.timers.tick(61_000)
  const res = await call()
  assert.equal(res.statusCode, 401)
  assert.match(res.headers['www-authenticate'] as string, /error="invalid_token", error_description="The access token expired"/)
})

test('request.auth.user is the public user, built once per request and read-only', async (t) => {
  const app = await build(t, {
    routes: (a) => {
      routes(a)
      a.get('/twice', { config: { auth: true } }, async (request) => {
        const first = request.auth?.user
        const same = first === request.auth?.user
        // A handler cannot make the request act for someone else.
        assert.throws(() => { (request.auth as { user: unknown }).user = null }, TypeError)
        return { same, keys: Object.keys(first ?? {}).sort(), after: request.auth?.user?.email }
      })
    }
  })
  await register(app, 'ada@example.com')
  const { access_token: token } = await passwordToken(app, 'ada@example.com')
  const res = await app.inject({ url: '/twice', headers: { authorization: `Bearer ${token}` } })
  assert.deepEqual(res.json(), { same: true, keys: ['createdAt', 'email', 'id', 'isActive', 'isSuperuser', 'isVerified', 'permissions', 'updatedAt'], after: 'ada@example.com' })
})

test('the guard factory handed to Fastify uncalled fails at start-up, naming the route and the fix', async (t) => {
  for (const hook of ['onRequest', 'preHandler'] as const) {
    const app = Fastify()
    t.after(() => app.close())
    await app.register(fastifyUsers, { issuer: ISSUER, store: memoryStore() })
    assert.throws(
      () => app.get('/items', { [hook]: [app.users.guard] as never }, async () => ({ ok: true })),
      (err: Error) => err.message.includes(`GET /items: ${hook}: app.users.guard is a factory: call it`)
    )
  }
  // Called with a request by some other wiring, it says the same instead of guarding nothing.
  const app = Fastify()
  t.after(() => app.close())
  await app.register(fastifyUsers, { issuer: ISSUER, store: memoryStore() })
  assert.throws(() => app.users.guard({ raw: {}, routeOptions: {} } as never), /app\.users\.guard is a factory/)
})

test('a token known to the guard does not vouch for another one with the same signature', async (t) => {
  const app = await build(t, {
    routes: (app) => { app.get('/write', { config: { auth: { scopes: ['items:write'] } } }, async () => ({ ok: true })) }
  })
  await register(app, 'ada@example.com')
  const { access_token: token } = await passwordToken(app, 'ada@example.com', undefined, 'items:read')
  const [header, payload, signature] = token.split('.') as [string, string, string]
  assert.equal((await app.inject({ url: '/write', headers: { authorization: `Bearer ${token}` } })).statusCode, 403, 'seen, and cached')
  // The same signature over claims that grant more.
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString())
  const forged = `${header}.${Buffer.from(JSON.stringify({ ...claims, scope: 'items:read items:write' })).toString('base64url')}.${signature}`
  assert.equal((await app.inject({ url: '/write', headers: { authorization: `Bearer ${forged}` } })).statusCode, 401)
})
