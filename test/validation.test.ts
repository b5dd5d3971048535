import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import Fastify from 'fastify'
import { Type } from '@sinclair/typebox'
import fastifyUsers, { memoryStore } from '../index.js'
import { ISSUER, passwordToken, register } from './support/app.js'

// The app's own schemas must not change how our routes validate: app.addSchema() used to
// swap our strict Ajv for Fastify's default one (unknown fields stripped, types coerced).
async function appWithSchemas (t: TestContext, when: 'before' | 'after' | 'both') {
  const app = Fastify()
  t.after(() => app.close())
  const thing = Type.Object({ name: Type.String() }, { $id: 'Thing' })
  if (when !== 'after') app.addSchema(when === 'before' ? thing : Type.Object({ id: Type.Integer() }, { $id: 'Item' }))
  await app.register(fastifyUsers, { issuer: ISSUER, store: memoryStore(), docs: { path: '/docs' } })
  if (when !== 'before') app.addSchema(thing)
  app.get('/things', { schema: { response: { 200: Type.Array(Type.Ref('Thing')) } } }, async () => [{ name: 'x' }])
  await app.ready()
  return app
}

for (const when of ['before', 'after', 'both'] as const) {
  test(`our routes stay strict when the app adds schemas ${when} registering the plugin`, async (t) => {
    const app = await appWithSchemas(t, when)
    await register(app, 'ada@example.com')
    const headers = { authorization: `Bearer ${(await passwordToken(app, 'ada@example.com')).access_token}` }

    const unknown = await app.inject({ method: 'PATCH', url: '/users/me', headers, payload: { foo: 1 } })
    assert.equal(unknown.statusCode, 400, unknown.body)
    assert.equal(unknown.json().code, 'VALIDATION_ERROR')

    for (const payload of [
      { email: ['bob@example.com'], password: 'correct horse battery' },
      { email: 'bob@example.com', password: 12345678901 },
      { email: 'bob@example.com', password: 'correct horse battery', isSuperuser: true }
    ]) {
      const res = await app.inject({ method: 'POST', url: '/auth/register', payload })
      assert.equal(res.statusCode, 400, `${JSON.stringify(payload)}: ${res.body}`)
      assert.equal(res.json().code, 'VALIDATION_ERROR')
    }
    assert.equal(await app.users.store.getUserByEmail('bob@example.com'), null, 'nothing was created')
    // The app's own route still uses its own schema.
    assert.deepEqual((await app.inject({ url: '/things' })).json(), [{ name: 'x' }])
  })
}
