// Legitimate sign-ins while somebody floods the password grant with guesses. The guesser
// (autocannon, BENCH_CONNECTIONS connections, from 127.0.0.1) guesses at one account; the
// legitimate users sign in one request after another, each once, each from an address of
// its own in 127.0.1.0/24 and up (as many people would; one person signing in hundreds of
// times would meet the per-account limits). Everything runs in this one process. Compared: the legitimate p50 when idle and during the flood,
// with the default limits and with every limit off (argon2 still bounded by its queue).
// Run: npx tsx bench/login-flood.ts (BENCH_WORKERS=1: the flood's client on a worker thread)
import { request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import autocannon from 'autocannon'
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyUsers, { memoryStore, type FastifyUsersOptions } from '../index.js'

const DURATION = Number(process.env.BENCH_DURATION ?? 10)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 256)
const PASSWORD = 'correct horse battery'
const FORM = 'application/x-www-form-urlencoded'
const grant = (username: string, password: string) => new URLSearchParams({ grant_type: 'password', client_id: 'swagger-ui', username, password }).toString()
const USERS = Number(process.env.BENCH_USERS ?? 600)

async function start (options: Partial<FastifyUsersOptions>) {
  const app = Fastify()
  await app.register(fastifyUsers, { issuer: 'http://127.0.0.1', store: memoryStore(), docs: { path: '/docs' }, ...options })
  await app.users.manager.register({ email: 'victim@example.com', password: PASSWORD })
  for (let i = 0; i < USERS; i++) await app.users.manager.register({ email: `legit${i}@example.com`, password: PASSWORD })
  await app.listen({ port: 0, host: '127.0.0.1' })
  return app
}

let next = 0
/** One sign-in of the next legitimate user, from her own address: status and milliseconds. */
function legitSignIn (app: FastifyInstance): Promise<{ status: number, ms: number }> {
  const { port } = app.server.address() as AddressInfo
  const i = next++ % USERS
  const payload = grant(`legit${i}@example.com`, PASSWORD)
  const from = `127.0.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`
  const t0 = performance.now()
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/oauth/token', localAddress: from, headers: { 'content-type': FORM, 'content-length': Buffer.byteLength(payload) } }, (res) => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0 }))
    })
    req.on('error', reject)
    req.end(payload)
  })
}

/** Sequential legitimate sign-ins until `until` (or `count` of them): p50 and how many failed. */
async function legitRun (app: FastifyInstance, until: () => boolean) {
  const times: number[] = []
  let failed = 0
  while (until()) {
    const { status, ms } = await legitSignIn(app)
    if (status === 200) times.push(ms)
    else failed++
  }
  times.sort((x, y) => x - y)
  return { p50: times[Math.floor(times.length / 2)] ?? NaN, n: times.length, failed }
}

async function scenario (name: string, options: Partial<FastifyUsersOptions>) {
  const app = await start(options)
  next = 0
  let idleCount = 0
  const idle = await legitRun(app, () => idleCount++ < 40)
  let flooding = true
  const flood = autocannon({
    url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/oauth/token`,
    method: 'POST',
    headers: { 'content-type': FORM },
    body: grant('victim@example.com', 'a wrong guess'),
    connections: CONNECTIONS,
    duration: DURATION,
    // BENCH_WORKERS=1 puts the flood's client on a thread of its own (it then floods harder).
    ...(process.env.BENCH_WORKERS ? { workers: Number(process.env.BENCH_WORKERS) } : {})
  })
  const during = legitRun(app, () => flooding)
  const result = await flood
  flooding = false
  const busy = await during
  await app.close()
  const statuses = Object.entries(result.statusCodeStats ?? {}).map(([code, s]) => `${code}: ${(s as { count: number }).count}`).join(', ')
  console.log(`| ${name} | ${idle.p50.toFixed(1)} | ${busy.p50.toFixed(1)} | ${(busy.p50 / idle.p50).toFixed(1)}× | ${busy.n} ok, ${busy.failed} refused | ${Math.round(result.requests.average)} | ${statuses} |`)
}

console.log(`node ${process.version}, flood: ${CONNECTIONS} connections for ${DURATION} s, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? 'default (4)'}\n`)
console.log('| limits | legit p50 idle ms | legit p50 in flood ms | ratio | legit sign-ins in flood | flood req/s | flood answers |')
console.log('| --- | ---: | ---: | ---: | --- | ---: | --- |')
await scenario('defaults', {})
await scenario('rateLimit: false (argon2 queue only)', { rateLimit: false })
