// Password login is bound by argon2id by design. This measures how close the whole
// password grant (form parsing, store lookup, argon2id verify, signing the token) comes
// to the rate of bare argon2id verifies with the same parameters, in one process.
// Run: npx tsx bench/password-login.ts
// BENCH_NO_LIMITS=1 switches the rate limits off; BENCH_HASH_CONCURRENCY=n sets passwordHashing.concurrency.
import type { AddressInfo } from 'node:net'
import autocannon from 'autocannon'
import Fastify from 'fastify'
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
await app.usersService.register({ email: 'bench@example.com', password: PASSWORD })
await app.listen({ port: 0, host: '127.0.0.1' })
const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
const body = new URLSearchParams({ grant_type: 'password', client_id: 'bench', username: 'bench@example.com', password: PASSWORD, scope: 'items:read' }).toString()

const hashed = await hashPassword(PASSWORD)
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
for (let round = 0; round < ROUNDS; round++) {
  const login = await autocannon({ url: `${url}/oauth/token`, method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body, connections: CONNECTIONS, duration: DURATION })
  if (login.non2xx > 0 || login.errors > 0) throw new Error(`login: ${login.non2xx} non-2xx, ${login.errors} errors`)
  // Completed requests over the run's own duration, as the raw rate is counted.
  const rate = login.requests.total / login.duration
  const next = await rawVerifies(hashed, CONNECTIONS, DURATION)
  ratios.push(rate / ((previous + next) / 2))
  console.log(`| password grant over HTTP | ${rate.toFixed(1)} | ${login.latency.p50} | ${login.latency.p99} |`)
  console.log(`| argon2id verify | ${next.toFixed(1)} | | |`)
  previous = next
}
await app.close()
ratios.sort((a, b) => a - b)
console.log(`\npassword grant / raw verify, per round: ${ratios.map((r) => `${(100 * r).toFixed(1)}%`).join(', ')}; median ${(100 * (ratios[Math.floor(ratios.length / 2)] ?? NaN)).toFixed(1)}%`)
