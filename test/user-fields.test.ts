// The app's own user fields: declared once as TypeBox, they reach the bodies (user-writable or
// administrators' only), the answers, request.auth.user, the OpenAPI document and the store.
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import Fastify from 'fastify'
import { Type } from '@sinclair/typebox'
import fastifyUsers, { memoryStore } from '../index.js'
import { build, passwordToken } from './support/app.js'

const PASSWORD = 'correct horse battery'
const UserFields = Type.Object({
  displayName: Type.Optional(Type.String({ minLength: 1, maxLength: 50 })),
  plan: Type.Union([Type.Literal('free'), Type.Literal('pro')], { default: 'free', readOnly: true, description: 'Set by billing' })
})

async function setup (t: TestContext) {
  const app = await build(t, {
    userFields: UserFields,
    routes: (app) => {
      app.get('/whoami', { config: { auth: true } }, async (request) => ({ plan: (request.auth?.user as unknown as { plan: string }).plan }))
    }
  })
  await app.users.manager.register({ email: 'root@example.com', password: PASSWORD }, { isSuperuser: true })
  const admin = (await passwordToken(app, 'root@example.com', PASSWORD, 'users:admin')).access_token
  return { app, admin }
}

test('registration takes the user\'s own fields, fills defaults, and refuses the administrators\' ones', async (t) => {
  const { app } = await setup(t)
  const res = await app.inject({ method: 'POST', url: '/auth/register', payload: { email: 'ada@example.com', password: PASSWORD, displayName: 'Ada' } })
  assert.equal(res.statusCode, 201, res.body)
  assert.equal(res.json().displayName, 'Ada')
  assert.equal(res.json().plan, 'free')
  assert.deepEqual((await app.users.store.getUserByEmail('ada@example.com'))?.fields, { displayName: 'Ada', plan: 'free' })

  for (const payload of [{ plan: 'pro' }, { displayName: '' }, { displayName: 42 }, { nickname: 'x' }]) {
    const refused = await app.inject({ method: 'POST', url: '/auth/register', payload: { email: 'bob@example.com', password: PASSWORD, ...payload } })
    assert.equal(refused.statusCode, 400, JSON.stringify(payload))
    assert.equal(refused.json().code, 'VALIDATION_ERROR')
  }
  assert.equal(await app.users.store.getUserByEmail('bob@example.com'), null)
})

test('a user changes their own fields without proof; only an administrator sets a readOnly one', async (t) => {
  const { app, admin } = await setup(t)
  const user = await app.users.manager.register({ email: 'ada@example.com', password: PASSWORD })
  const token = (await passwordToken(app, 'ada@example.com', PASSWORD)).access_token
  const auth = { authorization: `Bearer ${token}` }

  const renamed = await app.inject({ method: 'PATCH', url: '/users/me', headers: auth, payload: { displayName: 'Countess' } })
  assert.equal(renamed.statusCode, 200, renamed.body)
  assert.equal(renamed.json().displayName, 'Countess')
  const upgrade = await app.inject({ method: 'PATCH', url: '/users/me', headers: auth, payload: { plan: 'pro' } })
  assert.equal(upgrade.statusCode, 400)

  const byAdmin = await app.inject({ method: 'PATCH', url: `/users/${user.id}`, headers: { authorization: `Bearer ${admin}` }, payload: { plan: 'pro' } })
  assert.equal(byAdmin.statusCode, 200, byAdmin.body)
  assert.deepEqual([byAdmin.json().plan, byAdmin.json().displayName], ['pro', 'Countess'])
  assert.equal((await app.inject({ url: '/whoami', headers: auth })).json().plan, 'pro', 'request.auth.user has the fields')
  assert.equal((await app.inject({ url: '/users/me', headers: auth })).json().plan, 'pro')
  const bad = await app.inject({ method: 'PATCH', url: `/users/${user.id}`, headers: { authorization: `Bearer ${admin}` }, payload: { plan: 'enterprise' } })
  assert.equal(bad.statusCode, 400)
})

test('the app\'s code gets the same checks and defaults through app.users.manager', async (t) => {
  const { app } = await setup(t)
  const user = await app.users.manager.register({ email: 'ada@example.com', password: PASSWORD, displayName: 'Ada' } as never)
  assert.equal((user as unknown as { plan: string }).plan, 'free')
  await assert.rejects(app.users.manager.register({ email: 'bob@example.com', password: PASSWORD, plan: 'gold' } as never), /user field \/plan/)
  assert.equal(await app.users.store.getUserByEmail('bob@example.com'), null)
})

test('the OpenAPI document shows the fields where they may be written', async (t) => {
  const { app } = await setup(t)
  const { components } = (await app.inject({ url: '/docs/json' })).json<{ components: { schemas: Record<string, { properties: Record<string, { readOnly?: boolean }> }> } }>()
  const properties = (name: string) => Object.keys(components.schemas[`fastify-users.${name}`]?.properties ?? {})
  assert.ok(properties('User').includes('displayName') && properties('User').includes('plan'))
  assert.equal(components.schemas['fastify-users.User']?.properties.plan?.readOnly, true)
  assert.ok(properties('UserCreate').includes('displayName') && !properties('UserCreate').includes('plan'))
  assert.ok(properties('UserUpdate').includes('displayName') && !properties('UserUpdate').includes('plan'))
  assert.ok(properties('UserAdminUpdate').includes('plan'))
})

test('a field named like one of ours is refused at start-up', async (t) => {
  const app = Fastify()
  t.after(() => app.close())
  await assert.rejects(
    async () => { await app.register(fastifyUsers, { issuer: 'https://api.example.com', store: memoryStore(), userFields: Type.Object({ isSuperuser: Type.Boolean() }) }) },
    /userFields: isSuperuser is a name of ours/
  )
})

test('an onAfterRegister hook that throws is reported; the registration stands', async (t) => {
  const lines: { msg?: string }[] = []
  const stream = new Writable({ write (chunk: Buffer, _encoding, done) { lines.push(JSON.parse(chunk.toString()) as { msg?: string }); done() } })
  const app = Fastify({ logger: { level: 'error', stream } })
  t.after(() => app.close())
  await app.register(fastifyUsers, { issuer: 'https://api.example.com', store: memoryStore(), onAfterRegister: () => { throw new Error('CRM down') } })
  const res = await app.inject({ method: 'POST', url: '/auth/register', payload: { email: 'ada@example.com', password: PASSWORD } })
  assert.equal(res.statusCode, 201, res.body)
  assert.ok(await app.users.store.getUserByEmail('ada@example.com'))
  assert.ok(lines.some((l) => l.msg === 'fastify-users: onAfterRegister failed; the change it followed stands'), JSON.stringify(lines))
})
