// An app brings its own plugins and schemas; ours must fit beside them. (@fastify/jwt and
// @fastify/passport: test/fastify-jwt.test.ts.)
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import Fastify, { type FastifyInstance } from 'fastify'
import swagger from '@fastify/swagger'
import { Validator } from '@seriousme/openapi-schema-validator'
import { parse } from 'yaml'
import fastifyUsers, { memoryStore } from '../index.js'
import { ISSUER, passwordToken, register } from './support/app.js'

interface Doc {
  openapi: string
  info: { title: string }
  paths: Record<string, Record<string, { security?: unknown }>>
  components: { securitySchemes: Record<string, { type: string }>, schemas: Record<string, { title?: string, properties?: object }> }
}

async function withOwnSwagger (t: TestContext, docs: false | { path: string }) {
  const app = Fastify()
  t.after(() => app.close())
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'The app', version: '2.0.0' },
      components: { securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' } } }
    }
  })
  await app.register(fastifyUsers, { issuer: ISSUER, store: memoryStore(), scopes: { 'items:read': 'Read items' }, docs })
  app.get('/items', { config: { auth: { scopes: ['items:read'] } }, schema: { response: { 200: { type: 'array', items: { type: 'string' } } } } }, async () => [])
  app.get('/keyed', { schema: { security: [{ apiKey: [] }] } }, async () => ({ ok: true }))
  await app.ready()
  return app
}

async function checkDocument (doc: Doc) {
  assert.equal(doc.info.title, 'The app', 'the document stays the app\'s')
  assert.deepEqual(Object.keys(doc.components.securitySchemes).sort(), ['apiKey', 'clientBasic', 'oauth2', 'sessionCookie'])
  assert.equal(doc.components.securitySchemes.oauth2?.type, 'oauth2')
  for (const path of ['/oauth/token', '/users/me', '/auth/register', '/items', '/keyed']) assert.ok(doc.paths[path], path)
  assert.deepEqual(doc.paths['/items']?.get?.security, [{ oauth2: ['items:read'] }])
  const result = await new Validator().validate(doc as never)
  assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2))
}

test('an app that owns its @fastify/swagger: its document gets our paths and our oauth2 scheme, as JSON and YAML', async (t) => {
  const app = await withOwnSwagger(t, false)
  await checkDocument(app.swagger() as unknown as Doc)
  await checkDocument(parse(app.swagger({ yaml: true })) as Doc)
  assert.equal((await app.inject({ url: '/docs/json' })).statusCode, 404, 'no Swagger UI of ours unless docs asks for it')
})

test('an app that owns its @fastify/swagger and asks for our docs: Swagger UI serves its document, Authorize works', async (t) => {
  const app = await withOwnSwagger(t, { path: '/docs' })
  const res = await app.inject({ url: '/docs/json' })
  assert.equal(res.statusCode, 200)
  await checkDocument(res.json())
  // The built-in Swagger UI client is there for the password flow of the Authorize dialog.
  await register(app, 'ada@example.com')
  const { access_token: token } = await passwordToken(app, 'ada@example.com', undefined, 'items:read')
  assert.equal((await app.inject({ url: '/items', headers: { authorization: `Bearer ${token}` } })).statusCode, 200)
})

for (const when of ['before', 'after'] as const) {
  test(`an app schema named User, added ${when} the plugin, is the app's; ours are prefixed`, async (t) => {
    const app: FastifyInstance = Fastify()
    t.after(() => app.close())
    const AppUser = { $id: 'User', type: 'object', properties: { nickname: { type: 'string' } }, required: ['nickname'] }
    if (when === 'before') app.addSchema(AppUser)
    await app.register(fastifyUsers, { issuer: ISSUER, store: memoryStore(), docs: { path: '/docs' } })
    if (when === 'after') app.addSchema(AppUser)
    app.post('/profiles', { schema: { body: { $ref: 'User#' } } }, async (request) => request.body)
    await app.ready()
    assert.equal((await app.inject({ method: 'POST', url: '/profiles', payload: { nickname: 'ada' } })).statusCode, 200)
    assert.equal((await app.inject({ method: 'POST', url: '/profiles', payload: { email: 'a@example.com' } })).statusCode, 400)
    // Our own routes still validate against our models.
    assert.equal((await app.inject({ method: 'POST', url: '/auth/register', payload: { email: 'ada@example.com', password: 'correct horse battery' } })).statusCode, 201)
    const doc = (await app.inject({ url: '/docs/json' })).json() as Doc
    assert.equal(doc.components.schemas['fastify-users.User']?.title, 'User')
    assert.deepEqual(doc.components.schemas.User?.properties, AppUser.properties)
    const result = await new Validator().validate(doc as never)
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2))
  })
}
