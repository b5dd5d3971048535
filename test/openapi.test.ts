import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Validator } from '@seriousme/openapi-schema-validator'
import Fastify from 'fastify'
import fastifyUsers, { memoryStore } from '../index.js'
import { buildDemo } from '../demo/app.js'
import { build } from './support/app.js'

test('the demo OpenAPI document passes an OpenAPI 3.1 validator', async (t) => {
  const app = await buildDemo({ issuer: 'http://localhost:3000' })
  t.after(() => app.close())
  const res = await app.inject({ url: '/docs/json' })
  assert.equal(res.statusCode, 200)
  const doc = res.json()
  assert.equal(doc.openapi, '3.1.0')
  const result = await new Validator().validate(doc)
  assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2))
})

test('the oauth2 scheme has the authorization-code and password flows on our endpoints, with every scope', async (t) => {
  const app = await buildDemo({ issuer: 'http://localhost:3000' })
  t.after(() => app.close())
  const doc = (await app.inject({ url: '/docs/json' })).json()
  const scopes = {
    openid: 'Sign you in (OpenID Connect)',
    email: 'See your email address',
    profile: 'See your basic profile',
    'items:read': 'Read items',
    'items:write': 'Create items',
    'users:admin': 'Administer users (superusers only)',
    'account:manage': 'Manage your account: change your password and email address, link and unlink sign-in providers'
  }
  assert.deepEqual(doc.components.securitySchemes.oauth2.flows, {
    authorizationCode: {
      authorizationUrl: 'http://localhost:3000/oauth/authorize',
      tokenUrl: 'http://localhost:3000/oauth/token',
      refreshUrl: 'http://localhost:3000/oauth/token',
      scopes
    },
    password: { tokenUrl: 'http://localhost:3000/oauth/token', scopes }
  })
  assert.deepEqual(doc.paths['/items'].get.security, [{ oauth2: ['items:read'] }])
  assert.deepEqual(doc.paths['/items'].post.security, [{ oauth2: ['items:write'] }])
  assert.deepEqual(doc.paths['/users/me'].get.security, [{ oauth2: [] }])
  // The demo's public route says so (security: []).
  assert.deepEqual(doc.paths['/health'].get.security, [])
  // One component per model, referenced rather than inlined.
  for (const name of ['User', 'UserCreate', 'UserUpdate', 'Problem', 'TokenResponse', 'OAuthError']) assert.equal(doc.components.schemas[`fastify-users.${name}`]?.title, name)
  assert.equal(doc.paths['/auth/register'].post.requestBody.content['application/json'].schema.$ref, '#/components/schemas/fastify-users.UserCreate')
  assert.ok(doc.paths['/oauth/token'].post.requestBody.content['application/x-www-form-urlencoded'])
})

test('no secret reaches the OpenAPI document or Swagger UI', async (t) => {
  const secret = 'confidential-client-secret-value'
  const app = await build(t, { clients: [{ clientId: 'backend', clientSecret: secret }] })
  for (const url of ['/docs/json', '/docs/yaml', '/docs/static/swagger-initializer.js', '/docs']) {
    const res = await app.inject({ url, headers: { host: 'localhost:3000' } })
    assert.equal(res.statusCode, 200, url)
    assert.ok(!res.body.includes(secret), url)
    assert.ok(!res.body.includes('"d":'), url)
  }
  const init = await app.inject({ url: '/docs/static/swagger-initializer.js' })
  assert.match(init.body, /swagger-ui/)
})

test('every operation of ours has a stable, unique operationId; provider linking is one operation whatever the providers', async (t) => {
  const app = await buildDemo({ issuer: 'http://localhost:3000' })
  t.after(() => app.close())
  const doc = (await app.inject({ url: '/docs/json' })).json() as { paths: Record<string, Record<string, { operationId?: string }>> }
  const ours = Object.entries(doc.paths)
    .filter(([path]) => !['/items', '/items/{id}', '/health', '/privileged'].includes(path))
    .flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => [`${method.toUpperCase()} ${path}`, op.operationId]))
  assert.deepEqual(Object.fromEntries(ours), {
    'GET /.well-known/jwks.json': 'getJwks',
    'GET /.well-known/oauth-authorization-server': 'getAuthorizationServerMetadata',
    'GET /.well-known/openid-configuration': 'getOpenIdConfiguration',
    'POST /oauth/token': 'issueToken',
    'POST /oauth/revoke': 'revokeToken',
    'POST /oauth/introspect': 'introspectToken',
    'GET /oauth/userinfo': 'getUserInfo',
    'POST /oauth/userinfo': 'postUserInfo',
    'GET /oauth/authorize': 'authorize',
    'POST /auth/register': 'registerUser',
    'POST /auth/logout': 'logout',
    'GET /auth/sessions': 'listSessions',
    'DELETE /auth/sessions/{id}': 'endSession',
    'DELETE /auth/sessions': 'endAllSessions',
    'POST /auth/request-verify-token': 'requestVerifyToken',
    'POST /auth/verify': 'verifyEmail',
    'POST /auth/forgot-password': 'forgotPassword',
    'POST /auth/reset-password': 'resetPassword',
    'GET /auth/{provider}/associate/authorize': 'linkProviderAccount',
    'GET /users/me': 'getCurrentUser',
    'PATCH /users/me': 'updateCurrentUser',
    'GET /users/me/oauth-accounts': 'listLinkedAccounts',
    'DELETE /users/me/oauth-accounts/{provider}': 'unlinkAccount',
    'GET /users/me/authorizations': 'listClientAuthorizations',
    'DELETE /users/me/authorizations/{clientId}': 'revokeClientAuthorization',
    'GET /users': 'listUsers',
    'GET /users/{id}': 'getUser',
    'PATCH /users/{id}': 'updateUser',
    'DELETE /users/{id}': 'deleteUser'
  })
})

interface Media { schema: { $ref?: string, allOf?: { $ref?: string, properties?: { code?: { enum?: string[] } } }[] }, examples?: Record<string, { value: { code?: string, error?: string, status?: number } }> }
interface Operation { operationId: string, responses: Record<string, { headers?: Record<string, unknown>, content?: Record<string, Media> }> }

test('problem responses are application/problem+json; each lists its codes, an example per code, and its headers; every operation has a default', async (t) => {
  const app = await buildDemo({ issuer: 'http://localhost:3000' })
  t.after(() => app.close())
  const doc = (await app.inject({ url: '/docs/json' })).json() as { paths: Record<string, Record<string, Operation>>, components: { schemas: Record<string, { properties: Record<string, { enum?: string[] }>, required: string[] }> } }
  const problems: string[] = []
  const missing: string[] = []
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const where = `${method} ${path}`
      if (!['getHealth', 'listItems', 'createItem', 'deleteItem', 'getPrivileged'].includes(op.operationId) && op.responses.default === undefined) missing.push(`${where}: no default`)
      for (const [status, response] of Object.entries(op.responses)) {
        if (status === '401' && response.headers?.['WWW-Authenticate'] === undefined) missing.push(`${where} ${status}: no WWW-Authenticate`)
        if ((status === '429' || status === '503') && response.headers?.['Retry-After'] === undefined) missing.push(`${where} ${status}: no Retry-After`)
        for (const [type, { schema, examples }] of Object.entries(response.content ?? {})) {
          const [ref, narrowed] = schema.allOf ?? []
          if (ref?.$ref !== '#/components/schemas/fastify-users.Problem') continue
          problems.push(`${where} ${status} ${type}`)
          const codes = narrowed?.properties?.code?.enum ?? []
          // One example per listed code, each with this response's status.
          assert.deepEqual(Object.values(examples ?? {}).map((e) => e.value.code), codes, `${where} ${status}`)
          for (const example of Object.values(examples ?? {})) assert.equal(String(example.value.status), status === 'default' ? '500' : status, `${where} ${status}`)
        }
      }
    }
  }
  assert.ok(problems.length > 10, problems.join('\n'))
  assert.deepEqual(problems.filter((p) => !p.endsWith(' application/problem+json')), [])
  assert.deepEqual(missing, [])
  const problem = doc.components.schemas['fastify-users.Problem']
  assert.ok((problem?.properties.code?.enum ?? []).includes('REGISTER_USER_ALREADY_EXISTS'))
  assert.ok(problem?.required.includes('code'))
  assert.ok(problem?.properties.instance)
  const me = await app.inject({ url: '/users/me?secret=x' })
  assert.equal(me.statusCode, 401)
  assert.equal(me.headers['content-type'], 'application/problem+json; charset=utf-8')
  assert.deepEqual(me.json(), { type: 'about:blank', title: 'Unauthorized', status: 401, detail: 'Authentication required', instance: '/users/me', code: 'AUTHENTICATION_REQUIRED' })
})

test('the password\'s documented minimum is the app\'s policy, which the server answers with its own code', async (t) => {
  const app = await build(t, { passwordMinLength: 12, docs: { path: '/docs' } })
  const doc = (await app.inject({ url: '/docs/json' })).json() as { components: { schemas: Record<string, { properties: Record<string, { minLength?: number }> }> } }
  assert.equal(doc.components.schemas['fastify-users.UserCreate']?.properties.password?.minLength, 12)
  assert.equal(doc.components.schemas['fastify-users.UserUpdate']?.properties.password?.minLength, 12)
  const res = await app.inject({ method: 'POST', url: '/auth/register', payload: { email: 'ada@example.com', password: 'eleven char' } })
  assert.equal(res.statusCode, 400)
  assert.equal(res.json().code, 'REGISTER_INVALID_PASSWORD')
})

test('servers names the issuer, with paths as they are; public operations say security: []; clients authenticate by clientBasic', async (t) => {
  const app = Fastify()
  t.after(() => app.close())
  await app.register(fastifyUsers, { issuer: 'https://example.com/identity', prefix: '/api', store: memoryStore(), docs: { path: '/docs' } })
  const doc = (await app.inject({ url: '/api/docs/json' })).json() as {
    servers: { url: string }[]
    paths: Record<string, Record<string, { security?: unknown[] }>>
    components: { securitySchemes: Record<string, { type: string, scheme?: string }> }
  }
  assert.deepEqual(doc.servers.map((s) => s.url), ['https://example.com/identity'])
  // The prefix is in the paths once, and the server's own path is not taken out of them.
  assert.ok(doc.paths['/api/oauth/token'] && doc.paths['/api/auth/register'], Object.keys(doc.paths).join(' '))
  for (const path of ['/api/auth/register', '/api/.well-known/jwks.json', '/api/.well-known/openid-configuration', '/api/oauth/authorize', '/api/auth/logout']) {
    const [op] = Object.values(doc.paths[path] ?? {})
    assert.deepEqual(op?.security, [], path)
  }
  assert.deepEqual(doc.paths['/api/oauth/token']?.post?.security, [{}, { clientBasic: [] }])
  assert.deepEqual(doc.paths['/api/oauth/introspect']?.post?.security, [{ clientBasic: [] }])
  assert.equal(doc.components.securitySchemes.clientBasic?.scheme, 'basic')
  const result = await new Validator().validate(doc as never)
  assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2))
})

test('the token, revocation and introspection bodies are form components; grant_type is an enum', async (t) => {
  const app = await buildDemo({ issuer: 'http://localhost:3000' })
  t.after(() => app.close())
  const doc = (await app.inject({ url: '/docs/json' })).json() as {
    paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { $ref?: string } }> } }>>
    components: { schemas: Record<string, { properties: Record<string, { anyOf?: { const?: string, enum?: string[] }[], enum?: string[] }> }> }
  }
  for (const [path, component] of [['/oauth/token', 'TokenRequest'], ['/oauth/revoke', 'RevocationRequest'], ['/oauth/introspect', 'IntrospectionRequest']]) {
    const content = doc.paths[path as string]?.post?.requestBody?.content
    assert.deepEqual(Object.keys(content ?? {}), ['application/x-www-form-urlencoded'], path)
    assert.equal(content?.['application/x-www-form-urlencoded']?.schema.$ref, `#/components/schemas/fastify-users.${component}`)
  }
  const grantType = doc.components.schemas['fastify-users.TokenRequest']?.properties.grant_type
  const values = grantType?.enum ?? grantType?.anyOf?.flatMap((s) => s.enum ?? (s.const !== undefined ? [s.const] : []))
  assert.deepEqual(values, ['authorization_code', 'refresh_token', 'password', 'client_credentials'])
})

test('info tells how to authorize; every tag of ours is declared with a description', async (t) => {
  const app = await buildDemo({ issuer: 'http://localhost:3000' })
  t.after(() => app.close())
  const doc = (await app.inject({ url: '/docs/json' })).json() as {
    info: { description: string }
    tags: { name: string, description: string }[]
    paths: Record<string, Record<string, { tags?: string[] }>>
  }
  assert.match(doc.info.description, /\*\*Authorize\*\*/)
  assert.match(doc.info.description, /swagger-ui/)
  const declared = new Map(doc.tags.map((tag) => [tag.name, tag.description]))
  const used = new Set(Object.values(doc.paths).flatMap((methods) => Object.values(methods).flatMap((op) => op.tags ?? [])))
  for (const tag of ['oauth', 'discovery', 'auth', 'users']) {
    assert.ok(used.has(tag), tag)
    assert.ok((declared.get(tag) ?? '').length > 10, `${tag} is declared with a description`)
  }
})

test('Swagger UI opened under another name of the server is sent to the issuer\'s origin, where both flows work', async (t) => {
  const app = await buildDemo({ issuer: 'http://localhost:3000' })
  t.after(() => app.close())
  const elsewhere = await app.inject({ url: '/docs?x=1', headers: { host: '127.0.0.1:3000' } })
  assert.equal(elsewhere.statusCode, 302)
  assert.equal(elsewhere.headers.location, 'http://localhost:3000/docs?x=1')
  const here = await app.inject({ url: '/docs', headers: { host: 'localhost:3000' } })
  assert.notEqual(here.statusCode, 302, 'no loop at the issuer\'s own origin')
  // The document itself is served under any name (tools fetch it from where they are).
  assert.equal((await app.inject({ url: '/docs/json', headers: { host: '127.0.0.1:3000' } })).statusCode, 200)
  // A public issuer behind a proxy: the Host seen here is the proxy's business, never redirected.
  const proxied = await build(t, { issuer: 'https://api.example.com' })
  assert.equal((await proxied.inject({ url: '/docs', headers: { host: 'app-internal:8080' } })).statusCode, 200)
  // The demo's root leads to its docs.
  const root = await app.inject({ url: '/', headers: { host: 'localhost:3000' } })
  assert.equal(root.statusCode, 302)
  assert.equal(root.headers.location, '/docs')
})
