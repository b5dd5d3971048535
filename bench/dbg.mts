import type { AddressInfo } from 'node:net'
import autocannon from 'autocannon'
import Fastify from 'fastify'
import fastifyUsers, { memoryStore } from '../index.js'
const app = Fastify()
await app.register(fastifyUsers, { issuer: 'http://127.0.0.1', store: memoryStore(), scopes: { 'items:read': 'Read items' }, clients: [{ clientId: 'bench', firstParty: true }] })
const payload = { items: [{ id: 1, name: 'first' }] }
app.get('/bare', async () => payload)
app.get('/guarded', { config: { auth: { scopes: ['items:read'] } } }, async () => payload)
await app.ready()
await app.usersService.register({ email: 'bench@example.com', password: 'correct horse battery' })
const r = await app.inject({ method: 'POST', url: '/oauth/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ grant_type: 'password', client_id: 'bench', username: 'bench@example.com', password: 'correct horse battery', scope: 'items:read' }).toString() })
const headers = { authorization: `Bearer ${r.json().access_token}` }
await app.listen({ port: 0, host: '127.0.0.1' })
const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
for (const p of (process.env.PATHS ?? '/bare,/guarded,/bare,/guarded').split(',')) {
  const res = await autocannon({ url: url + p, connections: 50, duration: Number(process.env.D ?? 4), headers })
  console.log(p, Math.round(res.requests.average), res.non2xx)
}
await app.close()
