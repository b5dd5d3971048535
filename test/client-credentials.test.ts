import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import { build, form, FORM, passwordToken, register } from './support/app.js'

const SECRET = 'a-service-secret-of-some-length'
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`

async function appWithService (t: Parameters<typeof build>[0]) {
  return build(t, {
    clients: [
      { clientId: 'svc', clientSecret: SECRET, grantTypes: ['client_credentials'], introspection: true },
      { clientId: 'other', clientSecret: SECRET, grantTypes: ['client_credentials'] }
    ],
    routes: (app: FastifyInstance) => {
      app.get('/jobs', { config: { auth: { scopes: ['items:read'], clients: true } } }, async (request) => ({ client: request.auth?.clientId, user: request.auth?.user }))
      app.get('/mine', { config: { auth: { scopes: ['items:read'] } } }, async (request) => ({ user: request.auth?.user?.email }))
    }
  })
}

const tokenFor = (app: FastifyInstance, id: string, fields: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: '/oauth/token', headers: { ...FORM, authorization: basic(id, SECRET) }, payload: form({ grant_type: 'client_credentials', ...fields }) })

test('client_credentials: a confidential client gets a token for itself, accepted only where routes take clients', async (t) => {
  const app = await appWithService(t)
  const res = await tokenFor(app, 'svc', { scope: 'items:read' })
  assert.equal(res.statusCode, 200, res.body)
  const body = res.json()
  assert.equal(body.scope, 'items:read')
  assert.equal(body.refresh_token, undefined)
  assert.equal(body.id_token, undefined)
  const claims = JSON.parse(Buffer.from(body.access_token.split('.')[1], 'base64url').toString())
  assert.equal(claims.sub, 'svc')
  assert.equal(claims.client_id, 'svc')

  const jobs = await app.inject({ url: '/jobs', headers: { authorization: `Bearer ${body.access_token}` } })
  assert.equal(jobs.statusCode, 200, jobs.body)
  assert.deepEqual(jobs.json(), { client: 'svc', user: null })
  const mine = await app.inject({ url: '/mine', headers: { authorization: `Bearer ${body.access_token}` } })
  assert.equal(mine.statusCode, 403)
  assert.match(String(mine.headers['www-authenticate']), /insufficient_scope/)
})

test('client_credentials: no OpenID or superuser scope, no public client, no client without the grant', async (t) => {
  const app = await appWithService(t)
  for (const scope of ['openid', 'users:admin', 'nope']) {
    const res = await tokenFor(app, 'svc', { scope })
    assert.equal(res.statusCode, 400, scope)
    assert.equal(res.json().error, 'invalid_scope', scope)
  }
  const none = await tokenFor(app, 'svc')
  assert.deepEqual(none.json().scope.split(' ').sort(), ['items:read', 'items:write'])
  const pub = await app.inject({ method: 'POST', url: '/oauth/token', headers: FORM, payload: form({ grant_type: 'client_credentials', client_id: 'swagger-ui' }) })
  assert.equal(pub.statusCode, 400)
  assert.equal(pub.json().error, 'unauthorized_client')
})

test('introspection: only confidential clients allowed to; active tokens describe themselves, others only say inactive', async (t) => {
  const app = await appWithService(t)
  await register(app, 'ada@example.com')
  const user = await passwordToken(app, 'ada@example.com', 'correct horse battery', 'items:read')
  const introspect = (auth: Record<string, string>, token: string) =>
    app.inject({ method: 'POST', url: '/oauth/introspect', headers: { ...FORM, ...auth }, payload: form({ token }) })

  const ok = await introspect({ authorization: basic('svc', SECRET) }, user.access_token)
  assert.equal(ok.statusCode, 200, ok.body)
  assert.equal(ok.headers['cache-control'], 'no-store')
  const claims = ok.json()
  assert.equal(claims.active, true)
  assert.equal(claims.scope, 'items:read')
  assert.equal(claims.client_id, 'swagger-ui')
  assert.equal(typeof claims.sub, 'string')

  for (const token of ['garbage', `${user.access_token.slice(0, -4)}AAAA`]) {
    const res = await introspect({ authorization: basic('svc', SECRET) }, token)
    assert.deepEqual(res.json(), { active: false })
  }
  const denied = await introspect({ authorization: basic('other', SECRET) }, user.access_token)
  assert.equal(denied.statusCode, 400)
  assert.equal(denied.json().error, 'unauthorized_client')
  const pub = await app.inject({ method: 'POST', url: '/oauth/introspect', headers: FORM, payload: form({ token: user.access_token, client_id: 'swagger-ui' }) })
  assert.equal(pub.statusCode, 401)
  assert.equal(pub.json().error, 'invalid_client')
})
