import { test } from 'node:test'
import assert from 'node:assert/strict'
import { build, form, FORM } from './support/app.js'

// argon2 runs on libuv's thread pool: a flood of sign-ins waits in a bounded queue, and past
// it is told to come back, rather than taking every thread from everyone else.

const PASSWORD = 'correct horse battery'

test('a flood of password work past the queue gets 503 with Retry-After at once; what was admitted completes; nothing half-made', async (t) => {
  const app = await build(t, { passwordHashing: { concurrency: 1, queue: 2 }, rateLimit: false })
  await app.users.manager.register({ email: 'ada@example.com', password: PASSWORD })

  const grants = await Promise.all(Array.from({ length: 12 }, () => app.inject({
    method: 'POST', url: '/oauth/token', headers: FORM, payload: form({ grant_type: 'password', client_id: 'swagger-ui', username: 'ada@example.com', password: PASSWORD })
  })))
  const ok = grants.filter((r) => r.statusCode === 200)
  const busy = grants.filter((r) => r.statusCode === 503)
  assert.equal(ok.length + busy.length, 12, grants.map((r) => r.statusCode).join(','))
  assert.ok(ok.length >= 3 && busy.length >= 1, `admitted ${ok.length}, refused ${busy.length}`)
  for (const r of busy) {
    assert.deepEqual(Object.keys(r.json()).sort(), ['error', 'error_description'])
    assert.equal(r.json().error, 'temporarily_unavailable')
    assert.equal(r.headers['retry-after'], '1')
  }

  const registrations = await Promise.all(Array.from({ length: 12 }, (_, i) => app.inject({
    method: 'POST', url: '/auth/register', payload: { email: `user${i}@example.com`, password: PASSWORD }
  })))
  for (const [i, r] of registrations.entries()) {
    const stored = await app.users.store.getUserByEmail(`user${i}@example.com`)
    if (r.statusCode === 201) {
      assert.ok(stored, 'a 201 made its user')
    } else {
      assert.equal(r.statusCode, 503, r.body)
      assert.equal(r.json().code, 'SERVICE_BUSY')
      assert.match(r.json().detail, /try again/)
      assert.equal(r.headers['retry-after'], '1')
      assert.equal(stored, null, 'a 503 made nothing')
    }
  }
  assert.ok(registrations.some((r) => r.statusCode === 503))

  // Every slot came back: one at a time, each is admitted.
  for (let i = 0; i < 3; i++) {
    const res = await app.inject({ method: 'POST', url: '/oauth/token', headers: FORM, payload: form({ grant_type: 'password', client_id: 'swagger-ui', username: 'ada@example.com', password: PASSWORD }) })
    assert.equal(res.statusCode, 200)
  }
})
