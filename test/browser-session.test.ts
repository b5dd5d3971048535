// Browser sessions for the app's own pages: GET /login?return_to=, our session cookie on routes
// that opt in (config.auth.session), CSRF on unsafe methods, no open redirect.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { build, register } from './support/app.js'
import { Browser, onlyForm } from './support/oauth.js'

const PASSWORD = 'correct horse battery'

async function setup (t: Parameters<typeof build>[0]) {
  const app = await build(t, {
    routes: (app) => {
      app.get('/privileged', { config: { auth: { scopes: ['items:read'], session: true } } }, async (request) => ({ email: request.auth?.user?.email, via: request.auth?.clientId }))
      app.post('/privileged', { config: { auth: { session: true } } }, async () => ({ changed: true }))
      app.get('/token-only', { config: { auth: true } }, async () => ({ ok: true }))
    }
  })
  await register(app, 'ada@example.com', PASSWORD)
  return app
}

test('signed out 401; /login?return_to=/privileged signs in and goes back there; the session opens opted-in routes only; logout ends it', async (t) => {
  const app = await setup(t)
  const browser = new Browser(app)
  assert.equal((await browser.get('/privileged')).statusCode, 401)

  const page = await browser.get('/login?return_to=/privileged')
  assert.equal(page.statusCode, 200)
  const fields = onlyForm(page, '/login')
  assert.equal(fields.return_to, '/privileged')
  const signedIn = await browser.post('/login', { ...fields, email: 'ada@example.com', password: PASSWORD })
  assert.equal(signedIn.statusCode, 303)
  assert.equal(signedIn.headers.location, '/privileged')

  const privileged = await browser.get('/privileged')
  assert.equal(privileged.statusCode, 200, privileged.body)
  assert.deepEqual(privileged.json(), { email: 'ada@example.com', via: 'session' })
  assert.equal((await browser.get('/token-only')).statusCode, 401, 'a route that did not opt in wants a token')
  assert.equal((await browser.get('/login?return_to=/privileged')).statusCode, 303, 'signed in: straight back')

  assert.equal((await browser.post('/auth/logout', {})).statusCode, 204)
  assert.equal((await browser.get('/privileged')).statusCode, 401)
})

test('a wrong password shows the form again; a form without its CSRF token or from another origin signs nobody in', async (t) => {
  const app = await setup(t)
  const browser = new Browser(app)
  const fields = onlyForm(await browser.get('/login?return_to=/privileged'), '/login')
  const wrong = await browser.post('/login', { ...fields, email: 'ada@example.com', password: 'wrong password' })
  assert.equal(wrong.statusCode, 401)
  assert.match(wrong.body, /Wrong email or password/)
  const forged = await browser.post('/login', { ...fields, csrf_token: 'x', email: 'ada@example.com', password: PASSWORD })
  assert.equal(forged.statusCode, 403)
  const elsewhere = await new Browser(app).post('/login', { ...fields, email: 'ada@example.com', password: PASSWORD })
  assert.equal(elsewhere.statusCode, 403, 'a token of another browser')
  assert.equal((await browser.get('/privileged')).statusCode, 401)
})

test('return_to goes to paths of this site only', async (t) => {
  const app = await setup(t)
  for (const target of ['https://evil.example/x', '//evil.example/x', '/\\evil.example', 'javascript:alert(1)', '/%0d%0aSet-Cookie:x', 'privileged']) {
    const browser = new Browser(app)
    const page = await browser.get(`/login?return_to=${encodeURIComponent(target)}`)
    const fields = onlyForm(page, '/login')
    assert.ok(fields.return_to?.startsWith('/') && !fields.return_to.startsWith('//'), `${target}: ${String(fields.return_to)}`)
    const res = await browser.post('/login', { ...fields, email: 'ada@example.com', password: PASSWORD })
    const location = String(res.headers.location)
    assert.ok(location.startsWith('/') && !location.startsWith('//') && !location.includes('evil'), `${target} → ${location}`)
  }
})

test('with a session, a request that changes something must come from a page of this site', async (t) => {
  const app = await setup(t)
  const browser = new Browser(app)
  const fields = onlyForm(await browser.get('/login?return_to=/'), '/login')
  await browser.post('/login', { ...fields, email: 'ada@example.com', password: PASSWORD })
  const post = (headers: Record<string, string>) => app.inject({ method: 'POST', url: '/privileged', headers: browser.headers(headers) })
  for (const headers of [{ origin: 'https://evil.example' }, { 'sec-fetch-site': 'cross-site' }, { 'sec-fetch-site': 'same-site' }, { origin: 'null' }] as Record<string, string>[]) {
    const res = await post(headers)
    assert.equal(res.statusCode, 403, JSON.stringify(headers))
    assert.equal(res.json().code, 'CROSS_ORIGIN_REQUEST')
  }
  for (const headers of [{ origin: 'http://localhost:3000' }, { 'sec-fetch-site': 'same-origin' }] as Record<string, string>[]) {
    const res = await post(headers)
    assert.equal(res.statusCode, 200, `${JSON.stringify(headers)}: ${res.body}`)
  }
  // A safe method needs no proof: reading is no forgery.
  assert.equal((await app.inject({ url: '/privileged', headers: browser.headers({ 'sec-fetch-site': 'cross-site' }) })).statusCode, 200)
})

test('a person lists their sessions and ends one, or all', async (t) => {
  const app = await setup(t)
  const signIn = async () => {
    const browser = new Browser(app)
    const fields = onlyForm(await browser.get('/login?return_to=/privileged'), '/login')
    await browser.post('/login', { ...fields, email: 'ada@example.com', password: PASSWORD })
    return browser
  }
  const laptop = await signIn()
  const phone = await signIn()
  const same = { origin: 'http://localhost:3000' }

  const listed = await laptop.get('/auth/sessions')
  assert.equal(listed.statusCode, 200, listed.body)
  const sessions = listed.json<{ id: string, current: boolean }[]>()
  assert.equal(sessions.length, 2)
  assert.deepEqual(sessions.map((s) => s.current), [true, false])
  const phoneSession = sessions.find((s) => !s.current) as { id: string }

  const foreign = await app.inject({ method: 'DELETE', url: '/auth/sessions/not-a-session', headers: laptop.headers(same) })
  assert.equal(foreign.statusCode, 404)
  assert.equal(foreign.json().code, 'SESSION_NOT_FOUND')
  const crossSite = await app.inject({ method: 'DELETE', url: `/auth/sessions/${phoneSession.id}`, headers: laptop.headers({ origin: 'https://evil.example' }) })
  assert.equal(crossSite.statusCode, 403, 'ending a session changes something: this site\'s pages only')

  assert.equal((await app.inject({ method: 'DELETE', url: `/auth/sessions/${phoneSession.id}`, headers: laptop.headers(same) })).statusCode, 204)
  assert.equal((await phone.get('/privileged')).statusCode, 401, 'the phone is signed out')
  assert.equal((await laptop.get('/privileged')).statusCode, 200, 'the laptop is not')

  // Another user's session id is as unknown as a wrong one.
  await register(app, 'bob@example.com', PASSWORD)
  const bob = new Browser(app)
  const fields = onlyForm(await bob.get('/login?return_to=/'), '/login')
  await bob.post('/login', { ...fields, email: 'bob@example.com', password: PASSWORD })
  const bobs = (await bob.get('/auth/sessions')).json<{ id: string }[]>()
  assert.equal((await app.inject({ method: 'DELETE', url: `/auth/sessions/${bobs[0]?.id ?? ''}`, headers: laptop.headers(same) })).statusCode, 404)

  assert.equal((await app.inject({ method: 'DELETE', url: '/auth/sessions', headers: laptop.headers(same) })).statusCode, 204)
  assert.equal((await laptop.get('/privileged')).statusCode, 401, 'all of them, this one included')
  assert.equal((await bob.get('/privileged')).statusCode, 200, 'Bob\'s stay')
})
