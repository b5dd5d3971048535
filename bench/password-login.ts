// Password login is bound by argon2id by design. This measures how close the whole
// password grant (form parsing, store lookup, argon2id verify, signing the token) comes
// to the rate of bare argon2id verifies with the same parameters, in one process.
// It also runs the floor every HTTP sign-in pays: a bare Fastify route that only parses the
// form and verifies the password (no limiter, no bound, no store, no token), so that what our
// code adds can be told apart from what HTTP at ~200 requests a second costs on this machine.
// Run: npx tsx bench/password-login.ts
// BENCH_NO_LIMITS=1 switches the rate limits off; BENCH_HASH_CONCURRENCY=n sets passwordHashing.concurrency.
import type { AddressInfo } from 'node:net'
import autocannon from 'autocannon'
import Fastify from 'fastify'
import fastifyFormbody from '@fastify/formbody'
import fastifyUsers, { memoryStore } from '../index.js'
import { hashPassword, verifyPassword } from '../services/password.js'

const DURATION = Number(process.env.BENCH_DURATION ?? 10)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 8)
const PASSWORD = 'correct horse battery'

/** Verifies with `concurrency` in flight (libuv's pool runs them on its threads) for `seconds`. */
async function rawVerifies (hashed: string, concurrency: number, seconds: number) {
  let done = 0
  const until = Date.now() + seconds * 1000
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (Date.now() < until) {
      if (!await verifyPassword(hashed, PASSWORD)) throw new Error('verify failed')
      done++
    }
  }))
  return done / seconds
}

const app = Fastify()
// The limiter runs (every attempt is counted), with room for the whole run from one address,
// unless BENCH_NO_LIMITS asks for the plugin without it.
const roomy = { max: 1_000_000_000, timeWindow: 3600 }
await app.register(fastifyUsers, {
  issuer: 'http://127.0.0.1',
  store: memoryStore(),
  scopes: { 'items:read': 'Read items' },
  clients: [{ clientId: 'bench', firstParty: true }],
  rateLimit: process.env.BENCH_NO_LIMITS ? false : { loginAddress: roomy, loginAccountAddress: roomy },
  ...(process.env.BENCH_HASH_CONCURRENCY ? { passwordHashing: { concurrency: Number(process.env.BENCH_HASH_CONCURRENCY) } } : {})
})
await app.ready()
await app.users.manager.register({ email: 'bench@example.com', password: PASSWORD })
await app.listen({ port: 0, host: '127.0.0.1' })
const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
const body = new URLSearchParams({ grant_type: 'password', client_id: 'bench', username: 'bench@example.com', password: PASSWORD, scope: 'items:read' }).toString()

const hashed = await hashPassword(PASSWORD)

const bare = Fastify()
await bare.register(fastifyFormbody)
bare.post<{ Body: { password: string } }>('/verify', async (request, reply) => {
  if (!await verifyPassword(hashed, request.body.password)) return reply.code(400).send({ error: 'invalid_grant' })
  return { access_token: 'x'.repeat(600), token_type: 'Bearer', expires_in: 900 }
})
await bare.listen({ port: 0, host: '127.0.0.1' })
const bareUrl = `http://127.0.0.1:${(bare.server.address() as AddressInfo).port}/verify`

/** Completed requests a second over the run's own duration, as the raw rate is counted. */
async function httpRate (target: string) {
  const result = await autocannon({ url: target, method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body, connections: CONNECTIONS, duration: DURATION })
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${target}: ${result.non2xx} non-2xx, ${result.errors} errors`)
  return { rate: result.requests.total / result.duration, p50: result.latency.p50, p99: result.latency.p99 }
}
const t0 = performance.now()
await verifyPassword(hashed, PASSWORD)
const single = performance.now() - t0

// Raw and grant runs alternate, ROUNDS grant runs in all, each grant run compared with the raw
// runs on either side of it: the machine's drift over minutes then cancels out, and the
// median of the ratios is reported.
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
console.log(`node ${process.version}, ${CONNECTIONS} in flight, ${DURATION} s per run, ${ROUNDS} rounds, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? 'default (4)'}\n`)
console.log(`one argon2id verify alone: ${single.toFixed(1)} ms`)
console.log('| run | per second | p50 ms | p99 ms |\n| --- | ---: | ---: | ---: |')
let previous = await rawVerifies(hashed, CONNECTIONS, DURATION)
console.log(`| argon2id verify | ${previous.toFixed(1)} | | |`)
const ratios: number[] = []
const floorRatios: number[] = []
const overBare: number[] = []
for (let round = 0; round < ROUNDS; round++) {
  const floor = await httpRate(bareUrl)
  console.log(`| bare route: form + verify over HTTP | ${floor.rate.toFixed(1)} | ${floor.p50} | ${floor.p99} |`)
  const login = await httpRate(`${url}/oauth/token`)
  console.log(`| password grant over HTTP | ${login.rate.toFixed(1)} | ${login.p50} | ${login.p99} |`)
  const next = await rawVerifies(hashed, CONNECTIONS, DURATION)
  console.log(`| argon2id verify | ${next.toFixed(1)} | | |`)
  const raw = (previous + next) / 2
  ratios.push(login.rate / raw)
  floorRatios.push(floor.rate / raw)
  overBare.push(login.rate / floor.rate)
  previous = next
}
await app.close()
await bare.close()
const summary = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  return `${values.map((r) => `${(100 * r).toFixed(1)}%`).join(', ')}; median ${(100 * (sorted[Math.floor(sorted.length / 2)] ?? NaN)).toFixed(1)}%`
}
console.log(`\npassword grant / raw verify, per round: ${summary(ratios)}`)
console.log(`bare route / raw verify, per round: ${summary(floorRatios)}`)
console.log(`password grant / bare route, per round: ${summary(overBare)}`)
