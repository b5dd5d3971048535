// Resource-server mode: routes accept access tokens of an external issuer (oidc-provider on
// loopback), JWTs by its keys and opaque ones by introspection, with our scopes and answers.
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { Type } from '@sinclair/typebox'
import { build, passwordToken, register } from './support/app.js'
import { API, OTHER_API, startExternalIssuer, startKeyIssuer, type ExternalIssuer } from './support/external-issuer.js'
import { recordEvents } from './support/events.js'

async function issuer (t: TestContext, format: 'jwt' | 'opaque') {
  const external = await startExternalIssuer({ format })
  t.after(() => external.close())
  return external
}

async function api (t: TestContext, external: ExternalIssuer, introspect = false) {
  return build(t, {
    resourceServer: { issuers: [{ issuer: external.issuer, audience: API, ...(introspect && { introspection: external.introspector }) }] },
    routes: (app) => {
      app.get('/items', { config: { auth: { scopes: ['items:read'], clients: true } } }, async (request) => ({ issuer: request.auth?.issuer, client: request.auth?.clientId, user: request.auth?.user }))
      app.post('/items', { config: { auth: { scopes: ['items:write'], clients: true } } }, async () => ({ ok: true }))
      app.get('/mine', { config: { auth: true } }, async () => ({ ok: true }))
    }
  })
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

test('an external issuer\'s JWT access token passes the guard with its scopes; a missing scope is 403', async (t) => {
  const external = await issuer(t, 'jwt')
  const app = await api(t, external)
  const token = await external.token({ scope: 'items:read' })
  const res = await app.inject({ url: '/items', headers: bearer(token) })
  assert.equal(res.statusCode, 200, res.body)
  assert.deepEqual(res.json(), { issuer: external.issuer, client: 'worker', user: null })
  const write = await app.inject({ method: 'POST', url: '/items', headers: bearer(token) })
  assert.equal(write.statusCode, 403)
  assert.equal(write.json().code, 'INSUFFICIENT_SCOPE')
  assert.match(String(write.headers['www-authenticate']), /error="insufficient_scope"/)
  // Its subject is no user of ours: routes that act for a user refuse it, ours included.
  for (const url of ['/mine', '/users/me']) {
    const refused = await app.inject({ url, headers: bearer(token) })
    assert.equal(refused.statusCode, 403, url)
  }
  // Our own tokens still work beside it.
  await register(app, 'ada@example.com')
  assert.equal((await app.inject({ url: '/mine', headers: bearer((await passwordToken(app, 'ada@example.com')).access_token) })).statusCode, 200)
})

test('a token for another audience, of an issuer not configured, or forged is 401', async (t) => {
  const external = await issuer(t, 'jwt')
  const stranger = await issuer(t, 'jwt')
  const app = await api(t, external)
  const forged = (() => {
    const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url')
    return `${part({ alg: 'none', typ: 'at+jwt' })}.${part({ iss: external.issuer, sub: 'x', aud: API, scope: 'items:read', exp: Math.floor(Date.now() / 1000) + 60 })}.`
  })()
  for (const [what, token] of [
    ['another audience', await external.token({ resource: OTHER_API })],
    ['another issuer', await stranger.token()],
    ['alg none', forged]
  ] as const) {
    const res = await app.inject({ url: '/items', headers: bearer(token) })
    assert.equal(res.statusCode, 401, `${what}: ${res.body}`)
    assert.equal(res.json().code, 'INVALID_TOKEN', what)
  }
})

test('an opaque token is judged by introspection; revoked, it is 401', async (t) => {
  const external = await issuer(t, 'opaque')
  const app = await api(t, external, true)
  const token = await external.token({ scope: 'items:read' })
  assert.equal((await app.inject({ url: '/items', headers: bearer(token) })).statusCode, 200)
  const revoked = await external.token({ scope: 'items:read' })
  await external.revoke(revoked)
  const res = await app.inject({ url: '/items', headers: bearer(revoked) })
  assert.equal(res.statusCode, 401, res.body)
})

test('the issuer out of reach is 503 with Retry-After, not 401', async (t) => {
  const external = await issuer(t, 'jwt')
  const app = await api(t, external)
  const token = await external.token({ scope: 'items:read' })
  await external.close()
  const res = await app.inject({ url: '/items', headers: bearer(token) })
  assert.equal(res.statusCode, 503, res.body)
  assert.equal(res.json().code, 'SERVICE_BUSY')
  assert.ok(Number(res.headers['retry-after']) > 0)
})

test('the introspection secret is not in app.users.config; our own issuer cannot be an external one', async (t) => {
  const external = await issuer(t, 'opaque')
  const app = await api(t, external, true)
  assert.ok(!JSON.stringify(app.users.config).includes(external.introspector.clientSecret))
  assert.equal(app.users.config.resourceServer?.issuers[0]?.introspection?.clientId, external.introspector.clientId)
  await assert.rejects(build(t, { resourceServer: { issuers: [{ issuer: 'http://localhost:3000', audience: API }] } }), /cannot be our own issuer/)
})

test('the demo takes the external issuer from EXTERNAL_ISSUER and EXTERNAL_AUDIENCE: GET /items with its token', async (t) => {
  const external = await issuer(t, 'jwt')
  const saved = { issuer: process.env.EXTERNAL_ISSUER, audience: process.env.EXTERNAL_AUDIENCE }
  process.env.EXTERNAL_ISSUER = external.issuer
  process.env.EXTERNAL_AUDIENCE = API
  t.after(() => {
    for (const [name, value] of [['EXTERNAL_ISSUER', saved.issuer], ['EXTERNAL_AUDIENCE', saved.audience]] as const) {
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
    }
  })
  const { buildDemo } = await import('../demo/app.js')
  const demo = await buildDemo({ issuer: 'http://localhost:3000', idpPort: false })
  t.after(() => demo.close())
  const res = await demo.inject({ url: '/items', headers: bearer(await external.token({ scope: 'items:read' })) })
  assert.equal(res.statusCode, 200, res.body)
  const write = await demo.inject({ method: 'POST', url: '/items', headers: bearer(await external.token({ scope: 'items:read items:write' })), payload: { name: 'x' } })
  assert.equal(write.statusCode, 403, 'creating items acts for a user of ours')
})

test('users: link makes a user of ours for each external subject, found again later, never taking over an existing one', async (t) => {
  const keys = await startKeyIssuer()
  t.after(() => keys.close())
  const registered: string[] = []
  const app = await build(t, {
    resourceServer: { issuers: [{ issuer: keys.issuer, audience: API, users: { mode: 'link', name: 'corp' } }] },
    onAfterRegister: (user) => { registered.push(user.email) },
    routes: (app) => {
      app.get('/mine', { config: { auth: { scopes: ['items:read'] } } }, async (request) => ({ email: request.auth?.user?.email, issuer: request.auth?.issuer }))
      app.get('/admin', { config: { auth: { superuser: true } } }, async () => ({ ok: true }))
    }
  })
  const events = recordEvents(app)
  const token = await keys.sign({ sub: 'ext-1', email: 'ext@example.com', email_verified: true, scope: 'items:read', client_id: 'corp-portal' })
  const first = await app.inject({ url: '/mine', headers: bearer(token) })
  assert.equal(first.statusCode, 200, first.body)
  assert.deepEqual(first.json(), { email: 'ext@example.com', issuer: keys.issuer })
  // The app hears of its new user as of one made by a provider login.
  assert.deepEqual(events.map(([name, payload]) => [name, 'user' in payload ? payload.user.email : undefined, 'provider' in payload ? payload.provider : undefined]), [
    ['userCreated', 'ext@example.com', 'corp'],
    ['accountLinked', 'ext@example.com', 'corp']
  ])
  assert.deepEqual(registered, ['ext@example.com'])
  const user = await app.users.store.getUserByEmail('ext@example.com')
  assert.equal(user?.isVerified, true)
  assert.equal(user?.hashedPassword, null)
  assert.equal((await app.users.store.getOAuthAccount('corp', 'ext-1'))?.userId, user?.id)
  // Again, and at once: the same user, no second one.
  const again = await Promise.all([1, 2, 3].map(async () => app.inject({ url: '/mine', headers: bearer(await keys.sign({ sub: 'ext-1', email: 'ext@example.com', scope: 'items:read' })) })))
  assert.deepEqual(again.map((r) => r.statusCode), [200, 200, 200])
  assert.equal((await app.users.store.listUsers({ limit: 10 })).users.length, 1)
  assert.equal(events.filter(([name]) => name === 'userCreated').length, 1, 'made once, announced once')

  assert.equal((await app.inject({ url: '/admin', headers: bearer(token) })).statusCode, 403, 'the rules of our users apply')
  const noScope = await app.inject({ url: '/mine', headers: bearer(await keys.sign({ sub: 'ext-1', scope: 'other' })) })
  assert.equal(noScope.statusCode, 403)

  // An address that is a user of ours already is not taken over through the issuer.
  await register(app, 'ada@example.com')
  const takeover = await app.inject({ url: '/mine', headers: bearer(await keys.sign({ sub: 'ext-2', email: 'ADA@example.com', email_verified: true, scope: 'items:read' })) })
  assert.equal(takeover.statusCode, 403, takeover.body)
  assert.equal(await app.users.store.getOAuthAccount('corp', 'ext-2'), null)
  const noEmail = await app.inject({ url: '/mine', headers: bearer(await keys.sign({ sub: 'ext-3', scope: 'items:read' })) })
  assert.equal(noEmail.statusCode, 403)

  // Three first requests of a new subject at once: one user, linked once.
  const concurrent = await Promise.all([1, 2, 3].map(async () => app.inject({ url: '/mine', headers: bearer(await keys.sign({ sub: 'ext-9', email: 'nine@example.com', scope: 'items:read' })) })))
  assert.deepEqual(concurrent.map((r) => r.statusCode), [200, 200, 200], concurrent.map((r) => r.body).join('\n'))
  assert.equal((await app.users.store.listUsers({ limit: 10, email: 'nine@example.com' })).users.length, 1)
  assert.deepEqual(registered, ['ext@example.com', 'ada@example.com', 'nine@example.com'], 'ada by her registration; neither the refused subjects nor the repeated ones')

  // Deactivated here, the user's tokens of the issuer stop working here.
  await app.users.store.updateUser(user?.id as string, { isActive: false })
  assert.equal((await app.inject({ url: '/mine', headers: bearer(token) })).statusCode, 401)
})

test('with swaggerUiClientId the document gets an OpenID Connect scheme of the issuer, on the operations that take its tokens', async (t) => {
  const keys = await startKeyIssuer()
  t.after(() => keys.close())
  const app = await build(t, {
    resourceServer: { issuers: [{ issuer: keys.issuer, audience: API, swaggerUiClientId: 'api-docs' }] },
    routes: (app) => {
      app.get('/items', { config: { auth: { scopes: ['items:read'], clients: true } }, schema: { operationId: 'listItems' } }, async () => [])
      app.get('/mine', { config: { auth: true }, schema: { operationId: 'mine' } }, async () => ({}))
    }
  })
  const doc = (await app.inject({ url: '/docs/json' })).json<{
    components: { securitySchemes: Record<string, { type: string, openIdConnectUrl?: string, description?: string }> }
    paths: Record<string, Record<string, { security?: Record<string, string[]>[] }>>
  }>()
  const scheme = doc.components.securitySchemes.external
  assert.equal(scheme?.type, 'openIdConnect')
  assert.equal(scheme?.openIdConnectUrl, `${keys.issuer}/.well-known/openid-configuration`)
  assert.match(scheme?.description ?? '', /"api-docs"/)
  assert.deepEqual(doc.paths['/items']?.get?.security, [{ oauth2: ['items:read'] }, { external: ['items:read'] }])
  assert.deepEqual(doc.paths['/mine']?.get?.security, [{ oauth2: [] }], 'a route that wants a user of ours: not with claims-only tokens')
  const { Validator } = await import('@seriousme/openapi-schema-validator')
  const result = await new Validator().validate(doc as never)
  assert.equal(result.valid, true, JSON.stringify(result.errors))
})

test('authorizationServer: false makes a resource server only: none of our routes, the issuer\'s tokens on the app\'s routes, a document of its schemes', async (t) => {
  const external = await issuer(t, 'jwt')
  const resourceServer = { issuers: [{ issuer: external.issuer, audience: API, swaggerUiClientId: 'api-docs' }] }
  const app = await build(t, {
    authorizationServer: false,
    resourceServer,
    routes: (app) => {
      app.get('/items', { config: { auth: { scopes: ['items:read'], clients: true } }, schema: { operationId: 'listItems', response: { 200: { type: 'array', description: 'The items' } } } }, async () => [])
    }
  })
  // Nothing of ours issues, shows or takes tokens, pages or accounts.
  for (const [method, url] of [['POST', '/oauth/token'], ['GET', '/oauth/authorize'], ['GET', '/.well-known/openid-configuration'], ['GET', '/.well-known/jwks.json'], ['POST', '/auth/register'], ['GET', '/users/me'], ['GET', '/login'], ['GET', '/account/register']] as const) {
    assert.equal((await app.inject({ method, url })).statusCode, 404, `${method} ${url}`)
  }
  assert.equal((await app.inject({ url: '/items', headers: bearer(await external.token({ scope: 'items:read' })) })).statusCode, 200)
  assert.equal((await app.inject({ url: '/items', headers: bearer(await external.token({ scope: 'items:write' })) })).statusCode, 403)
  assert.equal((await app.inject({ url: '/items' })).statusCode, 401)

  const doc = (await app.inject({ url: '/docs/json' })).json<{
    tags?: { name: string }[]
    components: { securitySchemes: Record<string, { type: string, scheme?: string }> }
    paths: Record<string, Record<string, { security?: Record<string, string[]>[] }>>
  }>()
  assert.deepEqual(Object.keys(doc.components.securitySchemes).sort(), ['bearer', 'external'])
  assert.equal(doc.components.securitySchemes.bearer?.scheme, 'bearer')
  assert.deepEqual(Object.keys(doc.paths), ['/items'])
  assert.deepEqual(doc.paths['/items']?.get?.security, [{ bearer: [] }, { external: ['items:read'] }])
  assert.deepEqual((doc.tags ?? []).map((tag) => tag.name), [], 'none of our tags without our routes')
  const { Validator } = await import('@seriousme/openapi-schema-validator')
  const result = await new Validator().validate(doc as never)
  assert.equal(result.valid, true, JSON.stringify(result.errors))
  // Swagger UI's dialog is prefilled with the issuer's client for it, not with ours.
  const initializer = (await app.inject({ url: '/docs/static/swagger-initializer.js' })).body
  assert.match(initializer, /"clientId":"api-docs"/)

  // What needs our authorization server is refused at start-up.
  await assert.rejects(build(t, { authorizationServer: false }), /authorizationServer: false needs resourceServer/)
  await assert.rejects(build(t, { authorizationServer: false, resourceServer, clients: [{ clientId: 'web', redirectUris: ['https://app.example.com/cb'] }] }), /"clients" needs our authorization server/)
  await assert.rejects(build(t, {
    authorizationServer: false,
    resourceServer,
    routes: (app) => { app.get('/page', { config: { auth: { session: true } } }, async () => ({})) }
  }), /config.auth.session needs our sign-in page/)
})

test('users: link gives a user made for an external subject the defaults of the app\'s fields', async (t) => {
  const keys = await startKeyIssuer()
  t.after(() => keys.close())
  const app = await build(t, {
    resourceServer: { issuers: [{ issuer: keys.issuer, audience: API, users: { mode: 'link', name: 'corp' } }] },
    userFields: Type.Object({ plan: Type.String({ default: 'free' }) }),
    routes: (app) => {
      app.get('/mine', { config: { auth: true }, schema: { response: { 200: { type: 'object', additionalProperties: true, description: 'The caller' } } } }, async (request) => ({ plan: (request.auth?.user as Record<string, unknown> | null)?.plan }))
    }
  })
  const res = await app.inject({ url: '/mine', headers: bearer(await keys.sign({ sub: 'ext-f', email: 'f@example.com' })) })
  assert.equal(res.statusCode, 200, res.body)
  assert.deepEqual(res.json(), { plan: 'free' })
})
