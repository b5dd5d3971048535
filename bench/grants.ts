// Token-endpoint throughput for the authorization-code exchange and the refresh grant,
// side by side with a bare route in the same process, on the memory store and on the
// MongoDB-wire test server. Run: npx tsx bench/grants.ts
import type { AddressInfo } from 'node:net'
import autocannon from 'autocannon'
import Fastify from 'fastify'
import { MongoClient } from 'mongodb'
import fastifyUsers, { memoryStore, mongoStore, type UserStore } from '../index.js'
import { startMongoWireServer } from '../test/support/mongo-wire-server.js'
import { codeBodies, refreshBodies } from './lib/grant-bodies.js'

// Codes and refresh tokens are single use, so those runs are a fixed number of requests,
// sized to last about 10 s: autocannon's clock ticks in whole seconds.
const AMOUNT = Number(process.env.BENCH_AMOUNT ?? 20000)
// The wire test server scans a collection per query: fewer requests keep it from measuring itself.
const AMOUNT_WIRE = Number(process.env.BENCH_AMOUNT_WIRE ?? 1000)
const DURATION = Number(process.env.BENCH_DURATION ?? 10)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 20)
const FORM = { 'content-type': 'application/x-www-form-urlencoded' }

interface Row { name: string, rps: number, p50: number, p99: number }

async function start (store: UserStore) {
  const app = Fastify()
  await app.register(fastifyUsers, {
    issuer: 'http://127.0.0.1',
    store,
    docs: { path: '/docs' },
    scopes: { 'items:read': 'Read items' },
    // The refresh limit runs (every refresh is counted), with room for the whole run from one address.
    rateLimit: { refresh: { max: 1_000_000_000, timeWindow: 3600 } }
  })
  app.get('/bare', async () => ({ ok: true }))
  await app.ready()
  await app.users.manager.register({ email: 'bench@example.com', password: 'correct horse battery' })
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` }
}

async function run (name: string, url: string, opts: { path: string, bodies?: string[] }): Promise<Row> {
  const bodies = opts.bodies
  let next = 0
  // autocannon notices the end of a fixed-amount run on its one-second tick, so its own
  // start/finish times round the run up to whole seconds; these are the real ones.
  let first = 0
  let last = 0
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    ...(bodies ? { amount: bodies.length } : { duration: DURATION }),
    requests: [bodies
      // Every code and refresh token is single use: each request takes the next one.
      ? {
          method: 'POST',
          path: opts.path,
          headers: FORM,
          setupRequest: (req) => { first ||= performance.now(); return { ...req, body: bodies[next++] ?? '' } },
          onResponse: () => { last = performance.now() }
        }
      : { method: 'GET', path: opts.path }]
  })
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${name}: ${result.non2xx} non-2xx, ${result.errors} errors`)
  const rps = bodies ? result.requests.total / ((last - first) / 1000) : result.requests.average
  return { name, rps, p50: result.latency.p50, p99: result.latency.p99 }
}

async function suite (label: string, store: () => UserStore, amount: number) {
  const { app, url } = await start(store())
  try {
    await run('warm-up', url, { path: '/bare' })
    const rows: Row[] = []
    rows.push(await run('bare GET', url, { path: '/bare' }))
    const refresh = await refreshBodies(app, amount)
    // Codes live 60 s: made right before their run.
    rows.push(await run('authorization_code exchange', url, { path: '/oauth/token', bodies: await codeBodies(app, amount) }))
    rows.push(await run('refresh_token grant', url, { path: '/oauth/token', bodies: refresh }))
    rows.push(await run('bare GET (again)', url, { path: '/bare' }))
    const bare = ((rows[0]?.rps ?? 0) + (rows[3]?.rps ?? 0)) / 2
    console.log(`\n### ${label}\n\n| run | req/s | p50 ms | p99 ms | vs bare |\n| --- | ---: | ---: | ---: | ---: |`)
    for (const r of rows) console.log(`| ${r.name} | ${Math.round(r.rps)} | ${r.p50} | ${r.p99} | ${(100 * r.rps / bare).toFixed(1)}% |`)
  } finally {
    await app.close()
  }
}

console.log(`node ${process.version}, ${CONNECTIONS} connections`)
await suite(`memoryStore, ${AMOUNT} requests per run`, () => memoryStore(), AMOUNT)
const server = await startMongoWireServer()
const client = new MongoClient(server.url)
try {
  await suite(`mongoStore on the MongoDB-wire test server, ${AMOUNT_WIRE} requests per run`, () => mongoStore({ client, dbName: `bench_${Date.now()}` }), AMOUNT_WIRE)
} finally {
  await client.close()
  await server.close()
}
