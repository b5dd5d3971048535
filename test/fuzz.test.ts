import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { build, passwordToken, register } from './support/app.js'
import { basic, CLIENTS, CONF_SECRET, PASSWORD, pkce, SPA_REDIRECT, SWAGGER_REDIRECT } from './support/oauth.js'
import { fuzzApp } from './support/fuzz.js'

// Requests generated from our OpenAPI document (and the forms of our pages): valid and broken
// bodies, queries, path parameters, content types, encodings and credentials, against every
// route of ours. No answer may be a 5xx; every 4xx has the shape its route promises.
// `npm run fuzz` runs FUZZ_RUNS (default 10,000) with a random seed (FUZZ_SEED to replay one).

// About 40 a route: each gets enough valid requests with a valid token to reach its handler.
const RUNS = Number(process.env.FUZZ_RUNS ?? 1500)
const SEED = process.env.FUZZ_SEED === 'random' ? Date.now() % 2 ** 31 : Number(process.env.FUZZ_SEED ?? 20261130)

for (const limits of [false, true]) {
  // With the limits most of a run would soon be 429s: the long run goes without them, and a
  // shorter one with the defaults checks the shape of what they answer.
  const runs = limits ? Math.ceil(RUNS / 4) : RUNS
  test(`${runs} generated requests against every route${limits ? ', default limits on' : ''}: no 5xx, every error shaped (seed ${SEED})`, { timeout: 20 * 60_000 }, async (t) => {
    await fuzzRun(t, runs, limits)
  })
}

async function fuzzRun (t: TestContext, runs: number, limits: boolean) {
  const app = await build(t, { clients: CLIENTS, ...(limits ? {} : { rateLimit: false }), passwordHashing: { queue: 1000 } })
  await register(app, 'ada@example.com')
  const token = (await passwordToken(app, 'ada@example.com', PASSWORD, 'openid email items:read')).access_token
  const credentials = fc.oneof(
    fc.constant({}),
    { weight: 4, arbitrary: fc.constant({ authorization: `Bearer ${token}` }) },
    fc.constant({ authorization: basic('conf', CONF_SECRET) }),
    fc.string({ maxLength: 60 }).map((s) => ({ authorization: `Bearer ${s}` })),
    fc.string({ maxLength: 60 }).map((s) => ({ authorization: `Basic ${Buffer.from(s).toString('base64')}` })),
    fc.string({ maxLength: 60 }).map((s) => ({ cookie: `fastify_users_session=${s}; fastify_users_browser=${s}` }))
  )
  const { challenge } = pkce()
  const hints = {
    client_id: fc.constantFrom('swagger-ui', 'swagger-ui', 'spa', 'conf', 'rs'),
    grant_type: fc.constantFrom('password', 'password', 'authorization_code', 'refresh_token', 'client_credentials'),
    response_type: fc.constant('code'),
    redirect_uri: fc.constantFrom(SWAGGER_REDIRECT, SPA_REDIRECT),
    code_challenge: fc.constant(challenge),
    code_challenge_method: fc.constant('S256'),
    scope: fc.constantFrom('openid', 'items:read', 'openid email items:read', 'account:manage'),
    username: fc.constant('ada@example.com'),
    password: fc.constantFrom(PASSWORD, 'wrong password'),
    currentPassword: fc.constant(PASSWORD),
    email: fc.emailAddress(),
    prompt: fc.constantFrom('none', 'login', 'consent'),
    max_age: fc.constantFrom('0', '300'),
    decision: fc.constantFrom('allow', 'deny')
  }
  const { operations, count, seen } = await fuzzApp(app, runs, SEED, credentials, hints)
  assert.equal(count, runs)
  assert.ok(operations >= 17, `operations: ${operations}`)
  if (process.env.FUZZ_STATS) t.diagnostic([...seen].sort().map(([k, n]) => `${k}: ${n}`).join('\n'))
  // The run got past validation into the handlers: successes with JSON bodies, queries and tokens.
  const succeeded = (route: string) => [...seen].some(([k]) => k.startsWith(route) && / [23]\d\d$/.test(k))
  if (!limits) for (const route of ['POST /auth/register', 'PATCH /users/me', 'GET /oauth/authorize', 'GET /users/me', 'POST /oauth/revoke']) assert.ok(succeeded(route), `no success at ${route}`)
}
