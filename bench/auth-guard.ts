// What the guard costs: a bare route and the same route behind `config.auth` with a real
// access token, and behind @fastify/jwt's request.jwtVerify() (the path an app used to
// @fastify/jwt takes), in one process, run alternately so that drift on the machine shows
// up in all. Run: npx tsx bench/auth-guard.ts
import type { AddressInfo } from 'node:net'
import autocannon from 'autocannon'
import Fastify from 'fastify'
import fastifyUsers, { memoryStore } from '../index.js'

const DURATION = Number(process.env.BENCH_DURATION ?? 10)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2)

const app = Fastify()
await app.register(fastifyUsers, { issuer: 'http://127.0.0.1', store: memoryStore(), scopes: { 'items:read': 'Read items' }, clients: [{ clientId: 'bench', firstParty: true }] })
const payload = { items: [{ id: 1, name: 'first' }] }
app.get('/bare', async () => payload)
app.get('/guarded', { config: { auth: { scopes: ['items:read'] } } }, async () => payload)
// @fastify/jwt's declarations are the app's to load; typed by hand here.
app.get('/jwt-verify', { onRequest: async (request) => { await (request as unknown as { jwtVerify (): Promise<unknown> }).jwtVerify() } }, async () => payload)
await app.ready()
await app.users.manager.register({ email: 'bench@example.com', password: 'correct horse battery' })
const tokenResponse = await app.inject({
  method: 'POST',
  url: '/oauth/token',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  payload: new URLSearchParams({ grant_type: 'password', client_id: 'bench', username: 'bench@example.com', password: 'correct horse battery', scope: 'items:read' }).toString()
})
const token = tokenResponse.json().access_token as string
await app.listen({ port: 0, host: '127.0.0.1' })
const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`

async function run (path: string, headers: Record<string, string> = {}) {
  const result = await autocannon({ url: `${url}${path}`, connections: CONNECTIONS, duration: DURATION, headers })
  // A 401 is cheaper than a 200: a run that is not all 200s measures the wrong thing.
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${path}: ${result.non2xx} non-2xx, ${result.errors} errors`)
  return result
}

const bearer = { authorization: `Bearer ${token}` }
await run('/bare') // warm-up: JIT, connection setup
const rows: { name: string, rps: number, p50: number, p99: number }[] = []
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, path, headers] of [['bare', '/bare', {}], ['bare + header', '/bare', bearer], ['guarded', '/guarded', bearer], ['request.jwtVerify()', '/jwt-verify', bearer]] as const) {
    const r = await run(path, headers)
    rows.push({ name, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99 })
  }
}
await app.close()

const mean = (name: string) => { const rs = rows.filter((r) => r.name === name); return rs.reduce((a, r) => a + r.rps, 0) / rs.length }
console.log(`node ${process.version}, ${CONNECTIONS} connections, ${DURATION} s per run, ${ROUNDS} rounds\n`)
console.log('| run | req/s | p50 ms | p99 ms |\n| --- | ---: | ---: | ---: |')
for (const r of rows) console.log(`| ${r.name} | ${Math.round(r.rps)} | ${r.p50} | ${r.p99} |`)
console.log(`\nguarded / bare: ${(100 * mean('guarded') / mean('bare')).toFixed(1)}%`)
console.log(`request.jwtVerify() / bare: ${(100 * mean('request.jwtVerify()') / mean('bare')).toFixed(1)}%`)
