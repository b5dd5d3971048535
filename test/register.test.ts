import { test } from 'node:test'
import assert from 'node:assert/strict'
import { build } from './support/app.js'

const PASSWORD = 'correct horse battery'

test('register creates a user and answers 201 with the public user', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'POST', url: '/auth/register', payload: { email: 'Ada@Example.com', password: PASSWORD } })
  assert.equal(res.statusCode, 201)
  const user = res.json()
  assert.equal(user.email, 'Ada@Example.com')
  assert.deepEqual(Object.keys(user).sort(), ['createdAt', 'email', 'id', 'isActive', 'isSuperuser', 'isVerified', 'permissions', 'updatedAt'])
  assert.equal(user.isActive, true)
  assert.equal(user.isVerified, false)
  assert.equal(user.isSuperuser, false)
  const stored = await app.users.store.getUserByEmail('ada@example.com')
  assert.equal(stored?.id, user.id)
  assert.match(stored?.hashedPassword ?? '', /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/)
})

test('register refuses a taken email, whatever its case, with REGISTER_USER_ALREADY_EXISTS', async (t) => {
  const app = await build(t)
  await app.inject({ method: 'POST', url: '/auth/register', payload: { email: 'ada@example.com', password: PASSWORD } })
  const res = await app.inject({ method: 'POST', url: '/auth/register', payload: { email: 'ADA@example.COM', password: PASSWORD } })
  assert.equal(res.statusCode, 400)
  assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8')
  assert.equal(res.json().code, 'REGISTER_USER_ALREADY_EXISTS')
  assert.equal(res.json().status, 400)
})

test('register applies the password policy with a clear message', async (t) => {
  const app = await build(t, { validatePassword: (p) => p.includes('password') ? 'Password should not contain "password"' : undefined })
  const cases: [string, RegExp][] = [
    ['short', /at least 8 characters/],
    ['ada@example.com', /should not be the email/],
    ['my password is long', /should not contain "password"/]
  ]
  for (const [password, message] of cases) {
    const res = await app.inject({ method: 'POST', url: '/auth/register', payload: { email: 'ada@example.com', password } })
    assert.equal(res.statusCode, 400, password)
    assert.equal(res.json().code, 'REGISTER_INVALID_PASSWORD')
    assert.match(res.json().detail, message)
  }
  assert.equal(await app.users.store.getUserByEmail('ada@example.com'), null)
})

test('register refuses bad input with 4xx problem bodies and stores nothing', async (t) => {
  const app = await build(t)
  const cases: { name: string, status: number, headers?: Record<string, string>, payload: string }[] = [
    { name: 'malformed JSON', status: 400, payload: '{"email": "ada@example.com", "password": ' },
    { name: 'missing password', status: 400, payload: JSON.stringify({ email: 'ada@example.com' }) },
    { name: 'extra field', status: 400, payload: JSON.stringify({ email: 'ada@example.com', password: PASSWORD, isSuperuser: true }) },
    { name: 'invalid email', status: 400, payload: JSON.stringify({ email: 'not-an-email', password: PASSWORD }) },
    { name: 'wrong types', status: 400, payload: JSON.stringify({ email: 'ada@example.com', password: 12345678901 }) },
    { name: 'array body', status: 400, payload: JSON.stringify([{ email: 'ada@example.com', password: PASSWORD }]) },
    { name: 'overlong password', status: 400, payload: JSON.stringify({ email: 'ada@example.com', password: 'x'.repeat(300) }) },
    { name: 'wrong content type', status: 415, headers: { 'content-type': 'text/plain' }, payload: 'email=ada@example.com' },
    { name: 'huge body', status: 413, payload: JSON.stringify({ email: 'ada@example.com', password: 'x'.repeat(200_000) }) },
    { name: 'prototype pollution', status: 400, payload: '{"email":"ada@example.com","password":"correct horse battery","__proto__":{"isSuperuser":true}}' }
  ]
  for (const c of cases) {
    const res = await app.inject({
      method: 'POST',
      url: '/auth/register',
      headers: c.headers ?? { 'content-type': 'application/json' },
      payload: c.payload
    })
    assert.equal(res.statusCode, c.status, `${c.name}: ${res.body}`)
    const body = res.json()
    assert.equal(body.status, c.status, c.name)
    assert.equal(typeof body.detail, 'string', c.name)
    assert.ok(body.detail.length > 0, c.name)
  }
  assert.equal(await app.users.store.getUserByEmail('ada@example.com'), null)
})

test('validation errors name the field', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'POST', url: '/auth/register', payload: { email: 'nope', password: PASSWORD } })
  const body = res.json()
  assert.equal(body.code, 'VALIDATION_ERROR')
  assert.match(body.detail, /email/)
  assert.deepEqual(body.errors.map((e: { path: string }) => e.path), ['body/email'])
})

test('registration can be switched off', async (t) => {
  const app = await build(t, { registration: false })
  const res = await app.inject({ method: 'POST', url: '/auth/register', payload: { email: 'ada@example.com', password: PASSWORD } })
  assert.equal(res.statusCode, 404)
})

test('onAfterRegister receives the new user', async (t) => {
  const seen: string[] = []
  const app = await build(t, { onAfterRegister: (user) => { seen.push(user.email) } })
  await app.inject({ method: 'POST', url: '/auth/register', payload: { email: 'ada@example.com', password: PASSWORD } })
  assert.deepEqual(seen, ['ada@example.com'])
})
