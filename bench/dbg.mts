import type { AddressInfo } from 'node:net'
import autocannon from 'autocannon'
import Fastify from 'fastify'
import fastifyUsers, { memoryStore } from '../index.js'
const app = Fastify()
await app.register(fastifyUsers, { issuer: 'http://127.0.0.1', store: memoryStore(), scopes: { 'items:read': 'Read items' }, clients: [{ clientId: 'bench', firstParty: true }] })
const payload = { items: [{ id: 1, name: 'first' }] }
app.get('/bare', async () => payload)
app.get('/noop', { onRequest: async () => {} }, async () => payload)
app.get('/verify', { onRequest: async (req) => { await app.usersTokens.verifyAccessToken(req.headers.authorization!.slice(7)) } }, async () => payload)
app.get('/verifyuser', { onRequest: async (req) => { const c = await app.usersTokens.verifyAccessToken(req.headers.authorization!.slice(7)); await app.usersStore.getUserById(c.sub) } }, async () => payload)
app.get('/full', { onRequest: async (req) => { const h = req.headers.authorization!; if (!/^Bearer(?: |$)/i.test(h)) throw new Error('x'); const t = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(h)?.[1]; const c = await app.usersTokens.verifyAccessToken(t!); const s = new Set(c.scope.split(' ')); const u = await app.usersStore.getUserById(c.sub); (req as any).user = { id: u!.id, a: u!.createdAt.toISOString(), b: u!.updatedAt.toISOString() }; (req as any).auth = { c, s } } }, async () => payload)
app.get('/regex', { onRequest: async (req) => { const h = req.headers.authorization!; if (!/^Bearer(?: |$)/i.test(h)) throw new Error('x'); const t = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(h)?.[1]; if (!t) throw new Error('y') } }, async () => payload)
app.get('/known', { onRequest: async (req) => { const v = app.usersTokens.knownAccessToken(req.headers.authorization!.slice(7)); if (!v) throw new Error('x') } }, async () => payload)
app.get('/knownuser', { onRequest: async (req) => { const v = app.usersTokens.knownAccessToken(req.headers.authorization!.slice(7)); if (!v) throw new Error('x'); const u = await app.usersStore.getUserById(v.claims.sub); if (!u) throw new Error('y') } }, async () => payload)
app.get('/knownuserpub', { onRequest: async (req) => { const v = app.usersTokens.knownAccessToken(req.headers.authorization!.slice(7)); if (!v) throw new Error('x'); const u = await app.usersStore.getUserById(v.claims.sub); if (!u) throw new Error('y'); req.user = { id: u.id, email: u.email, isActive: u.isActive, isVerified: u.isVerified, isSuperuser: u.isSuperuser, createdAt: u.createdAt.toISOString(), updatedAt: u.updatedAt.toISOString() } } }, async () => payload)
app.get('/guarded', { config: { auth: { scopes: ['items:read'] } } }, async () => payload)
await app.ready()
await app.usersService.register({ email: 'bench@example.com', password: 'correct horse battery' })
const r = await app.inject({ method: 'POST', url: '/oauth/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ grant_type: 'password', client_id: 'bench', username: 'bench@example.com', password: 'correct horse battery', scope: 'items:read' }).toString() })
const headers = { authorization: `Bearer ${r.json().access_token}` }
await app.listen({ port: 0, host: '127.0.0.1' })
const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
for (const p of (process.env.PATHS ?? '/bare,/bare,/noop,/verify,/verifyuser,/guarded,/bare').split(',')) {
  const res = await autocannon({ url: url + p, connections: 50, duration: 3, headers })
  console.log(p, Math.round(res.requests.average), res.non2xx)
}
await app.close()
