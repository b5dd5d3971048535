import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { request as httpRequest } from 'node:http'
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyUsers, { memoryStore, type FastifyUsersOptions, type UserStore } from '../index.js'
import { form, FORM } from './support/app.js'
import { redisSkip, startRedis } from './support/redis.js'

// Throttling over real sockets, each client on its own loopback source address (the whole
// of 127.0.0.0/8 is this machine), as an attacker and the account's owner would be.

const PASSWORD = 'correct horse battery'
const AUTHORIZE = `/oauth/authorize?${new URLSearchParams({
  response_type: 'code',
  client_id: 'swagger-ui',
  redirect_uri: 'http://localhost:3000/docs/static/oauth2-redirect.html',
  code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
  code_challenge_method: 'S256'
}).toString()}`

interface Answer { status: number, headers: Record<string, string | string[] | undefined>, body: string }

/** A request from `from` (a loopback address) to the app. */
function send (app: FastifyInstance, from: string, method: string, path: string, payload?: string, headers: Record<string, string> = {}): Promise<Answer> {
  const { port } = app.server.address() as { port: number }
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, localAddress: from, headers: { ...headers, connection: 'close' } }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
    req.on('error', reject)
    req.end(payload)
  })
}

const passwordGrant = (app: FastifyInstance, from: string, username: string, password: string) =>
  send(app, from, 'POST', '/oauth/token', form({ grant_type: 'password', client_id: 'swagger-ui', username, password }), FORM)

async function listen (t: TestContext, options: Partial<FastifyUsersOptions> = {}, store: UserStore = memoryStore()) {
  const app = Fastify()
  t.after(() => app.close())
  await app.register(fastifyUsers, {
    issuer: 'http://localhost:3000',
    store,
    docs: { path: '/docs' },
    ...options,
    // Refused at once unless a test says otherwise: refusalDelay has its own test.
    rateLimit: options.rateLimit === false ? false : { refusalDelay: 0, ...options.rateLimit }
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  return app
}

async function register (app: FastifyInstance, email: string) {
  await app.users.manager.register({ email, password: PASSWORD })
}

function assertSlowDown (res: Answer, context: string) {
  assert.equal(res.status, 429, `${context}: ${res.status} ${res.body}`)
  assert.equal(JSON.parse(res.body).error, 'slow_down', context)
  assert.match(String(res.headers['retry-after']), /^[1-9]\d*$/, `${context}: Retry-After`)
}

test('guessing at one account from one address is stopped within 20 attempts; the owner elsewhere and other users are unaffected', async (t) => {
  const app = await listen(t)
  await register(app, 'ada@example.com')
  await register(app, 'bob@example.com')

  const statuses: number[] = []
  let stopped: Answer | undefined
  for (let i = 0; i < 20 && !stopped; i++) {
    const res = await passwordGrant(app, '127.0.0.2', 'ada@example.com', `guess number ${i}`)
    statuses.push(res.status)
    if (res.status === 429) stopped = res
  }
  assert.ok(stopped, `never stopped: ${statuses.join(',')}`)
  assertSlowDown(stopped, 'the guesser')
  assert.ok(statuses.slice(0, -1).every((s) => s === 400), statuses.join(','))
  // Stopped means stopped: the right password from there is no oracle either.
  assertSlowDown(await passwordGrant(app, '127.0.0.2', 'Ada@Example.com', PASSWORD), 'the right password from the guesser')

  assert.equal((await passwordGrant(app, '127.0.0.3', 'ada@example.com', PASSWORD)).status, 200, 'the owner, from her own address')
  assert.equal((await passwordGrant(app, '127.0.0.2', 'bob@example.com', PASSWORD)).status, 200, 'another user, even from the guesser\'s address')
  assert.equal((await passwordGrant(app, '127.0.0.4', 'bob@example.com', PASSWORD)).status, 200, 'another user elsewhere')
})

test('the per-account budget: once guesses from many addresses spend it, only addresses that have not failed there may still try', async (t) => {
  const app = await listen(t, { rateLimit: { loginAccount: { max: 5, timeWindow: 900 } } })
  await register(app, 'ada@example.com')
  for (let i = 10; i < 15; i++) assert.equal((await passwordGrant(app, `127.0.0.${i}`, 'ada@example.com', 'wrong guess')).status, 400)
  // Spent: an address that failed here is refused, even with the right password...
  assertSlowDown(await passwordGrant(app, '127.0.0.10', 'ada@example.com', PASSWORD), 'an address that failed')
  // ...a new one gets its one failure, then is refused too...
  assert.equal((await passwordGrant(app, '127.0.0.15', 'ada@example.com', 'another guess')).status, 400)
  assertSlowDown(await passwordGrant(app, '127.0.0.15', 'ada@example.com', 'one more guess'), 'a new address after its failure')
  // ...and the owner, who has not mistyped, signs in.
  assert.equal((await passwordGrant(app, '127.0.0.20', 'ada@example.com', PASSWORD)).status, 200)
  // Other accounts have their own budgets.
  await register(app, 'bob@example.com')
  assert.equal((await passwordGrant(app, '127.0.0.10', 'bob@example.com', PASSWORD)).status, 200)
})

test('the login form is throttled like the password grant, with a page that says when to come back', async (t) => {
  const app = await listen(t, { rateLimit: { loginAccountAddress: { max: 3, timeWindow: 300 } } })
  await register(app, 'ada@example.com')
  const page = await send(app, '127.0.0.2', 'GET', AUTHORIZE)
  const cookie = String(page.headers['set-cookie']).split(';')[0] ?? ''
  const fields = Object.fromEntries([...page.body.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [m[1], (m[2] ?? '').replace(/&amp;/g, '&')]))
  const post = (from: string, password: string) => send(app, from, 'POST', '/oauth/login', form({ ...fields, email: 'ada@example.com', password }), { ...FORM, cookie })
  for (let i = 0; i < 3; i++) assert.equal((await post('127.0.0.2', 'wrong guess')).status, 401)
  const refused = await post('127.0.0.2', PASSWORD)
  assert.equal(refused.status, 429)
  assert.match(refused.body, /Too many attempts/)
  assert.match(String(refused.headers['retry-after']), /^[1-9]\d*$/)
  assert.match(String(refused.headers['content-type']), /^text\/html/)
  assert.equal((await post('127.0.0.3', PASSWORD)).status, 303, 'from another address the owner signs in')
})

test('registration, unauthenticated authorize requests and refreshes are limited per address', async (t) => {
  const app = await listen(t, { rateLimit: { register: { max: 2, timeWindow: 3600 }, authorize: { max: 2, timeWindow: 300 }, refresh: { max: 2, timeWindow: 300 } } })
  const registerFrom = (from: string, email: string) => send(app, from, 'POST', '/auth/register', JSON.stringify({ email, password: PASSWORD }), { 'content-type': 'application/json' })
  assert.equal((await registerFrom('127.0.0.2', 'a1@example.com')).status, 201)
  assert.equal((await registerFrom('127.0.0.2', 'a2@example.com')).status, 201)
  const third = await registerFrom('127.0.0.2', 'a3@example.com')
  assert.equal(third.status, 429)
  assert.equal(JSON.parse(third.body).code, 'RATE_LIMITED')
  assert.match(String(third.headers['content-type']), /^application\/problem\+json/)
  assert.match(String(third.headers['retry-after']), /^[1-9]\d*$/)
  assert.equal(await app.users.store.getUserByEmail('a3@example.com'), null, 'nothing created')
  assert.equal((await registerFrom('127.0.0.3', 'a3@example.com')).status, 201, 'another address may')

  assert.equal((await send(app, '127.0.0.2', 'GET', AUTHORIZE)).status, 200)
  assert.equal((await send(app, '127.0.0.2', 'GET', AUTHORIZE)).status, 200)
  const page = await send(app, '127.0.0.2', 'GET', AUTHORIZE)
  assert.equal(page.status, 429)
  assert.match(page.body, /Too many attempts/)

  const refresh = () => send(app, '127.0.0.2', 'POST', '/oauth/token', form({ grant_type: 'refresh_token', client_id: 'swagger-ui', refresh_token: 'x'.repeat(43) }), FORM)
  assert.equal((await refresh()).status, 400)
  assert.equal((await refresh()).status, 400)
  assertSlowDown(await refresh(), 'refresh')
})

test('a refused request is answered only after refusalDelay, so that a flood slows itself down', async (t) => {
  const app = await listen(t, { rateLimit: { refusalDelay: 400, loginAccountAddress: { max: 1, timeWindow: 300 } } })
  await register(app, 'ada@example.com')
  assert.equal((await passwordGrant(app, '127.0.0.2', 'ada@example.com', 'wrong guess')).status, 400)
  const refusedAt = Date.now()
  assertSlowDown(await passwordGrant(app, '127.0.0.2', 'ada@example.com', 'wrong guess'), 'second guess')
  assert.ok(Date.now() - refusedAt >= 400, `answered after ${Date.now() - refusedAt} ms`)
})

test('limits switched off, one by one or all, do not apply', async (t) => {
  const app = await listen(t, { rateLimit: false })
  await register(app, 'ada@example.com')
  for (let i = 0; i < 15; i++) assert.equal((await passwordGrant(app, '127.0.0.2', 'ada@example.com', 'wrong guess')).status, 400)
})

test('two instances on one Redis share the budgets', async (t) => {
  const skip = await redisSkip()
  if (skip) {
    t.skip(skip)
    return
  }
  const redis = await startRedis(t)
  const store = memoryStore()
  const limits = { loginAccountAddress: { max: 4, timeWindow: 300 } }
  const a = await listen(t, { rateLimit: { ...limits, redis: redis.client() } }, store)
  const b = await listen(t, { rateLimit: { ...limits, redis: redis.client() } }, store)
  await register(a, 'ada@example.com')
  const statuses: number[] = []
  for (let i = 0; i < 6; i++) statuses.push((await passwordGrant(i % 2 === 0 ? a : b, '127.0.0.2', 'ada@example.com', 'wrong guess')).status)
  assert.deepEqual(statuses, [400, 400, 400, 400, 429, 429], 'four attempts in all, whichever instance took them')
  assert.equal((await passwordGrant(b, '127.0.0.3', 'ada@example.com', PASSWORD)).status, 200)

  // Without the shared store, each instance would have counted only its own.
  const c = await listen(t, { rateLimit: limits }, store)
  const d = await listen(t, { rateLimit: limits }, store)
  const apart: number[] = []
  for (let i = 0; i < 6; i++) apart.push((await passwordGrant(i % 2 === 0 ? c : d, '127.0.0.4', 'ada@example.com', 'wrong guess')).status)
  assert.deepEqual(apart, [400, 400, 400, 400, 400, 400])

  // Redis gone: the limits cannot be kept, so sign-ins wait (503) rather than go unguarded.
  redis.stop()
  const down = await passwordGrant(a, '127.0.0.5', 'ada@example.com', PASSWORD)
  assert.equal(down.status, 503, down.body)
  assert.equal(JSON.parse(down.body).error, 'temporarily_unavailable')
  assert.equal(down.headers['retry-after'], '5')
})
