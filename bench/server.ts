// One server of bench/ratios.ts, one case per process, so that its CPU time can be told
// apart from the load generator's: `node --import tsx bench/server.ts <case>`, started by
// the parent with an IPC channel. It says hello (its URL, a bearer token where the case needs
// one), then answers the parent's commands: cpu (process.cpuUsage()), codes and refresh
// (single-use token-endpoint bodies, made ahead of a run), raw (argon2id verifies in this
// process, no HTTP), close. The cases are listed in bench/lib/protocol.ts.
import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyInstance } from 'fastify'
import formbody from '@fastify/formbody'
import { MongoClient } from 'mongodb'
import fastifyUsers, { memoryStore, mongoStore, type FastifyUsersOptions, type UserStore } from '../index.js'
import { hashPassword, verifyPassword } from '../services/password.js'
import { codeBodies, refreshBodies, GRANT_USER } from './lib/grant-bodies.js'
import { MONGO_URL_ENV, SERVER_CASES, USER_CACHE_TTL, type Command, type Hello, type RawVerifies, type Reply, type ServerCase } from './lib/protocol.js'

const ISSUER = 'http://127.0.0.1'
const PASSWORD = 'correct horse battery'
const PAYLOAD = { items: [{ id: 1, name: 'first' }] }
const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
// Room for every attempt of a run from one address: the limiters run (every request is counted) but never refuse.
const ROOMY = { max: 1_000_000_000, timeWindow: 3600 }

interface Served {
  app: FastifyInstance
  token?: string
  /** Commands beyond cpu and close. */
  commands?: Partial<Record<Command['cmd'], (command: Command) => Promise<unknown>>>
  /** After app.close(). */
  cleanup?: () => Promise<void>
}

function send (message: Hello | Reply): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!process.send) return reject(new Error('bench/server.ts runs as a child of bench/ratios.ts (no IPC channel)'))
    process.send(message, undefined, undefined, (error) => error ? reject(error) : resolve())
  })
}

async function passwordToken (app: FastifyInstance): Promise<string> {
  const response = await app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: FORM,
    payload: new URLSearchParams({ grant_type: 'password', client_id: 'bench', username: GRANT_USER, password: PASSWORD, scope: 'items:read' }).toString()
  })
  if (response.statusCode !== 200) throw new Error(`bench setup: password grant answered ${response.statusCode} ${response.body}`)
  return response.json().access_token as string
}

function plain (): Served {
  const app = Fastify()
  app.get('/bare', async () => PAYLOAD)
  return { app }
}

/**
 * The app of bench/auth-guard.ts, every route on it whichever one the case calls: a bare
 * route, one behind config.auth, one behind @fastify/jwt's request.jwtVerify().
 */
async function pluginApp (store: UserStore, extra: Record<string, unknown> = {}): Promise<Served> {
  const app = Fastify()
  const options: FastifyUsersOptions = {
    issuer: ISSUER,
    store,
    scopes: { 'items:read': 'Read items' },
    clients: [{ clientId: 'bench', firstParty: true }],
    // A day: however long the run, the token fetched at the start still works at the end.
    accessTokenTtl: 86400
  }
  // Options the installed version may not know yet (userCacheTtl) go through a cast.
  await app.register(fastifyUsers, { ...options, ...extra } as FastifyUsersOptions)
  app.get('/bare', async () => PAYLOAD)
  app.get('/guarded', { config: { auth: { scopes: ['items:read'] } } }, async () => PAYLOAD)
  // @fastify/jwt's declarations are the app's to load; typed by hand here.
  app.get('/jwt-verify', { onRequest: async (request) => { await (request as unknown as { jwtVerify (): Promise<unknown> }).jwtVerify() } }, async () => PAYLOAD)
  await app.ready()
  await app.users.manager.register({ email: GRANT_USER, password: PASSWORD })
  return { app, token: await passwordToken(app) }
}

async function mongoApp (extra: Record<string, unknown>): Promise<Served> {
  const url = process.env[MONGO_URL_ENV]
  if (!url) throw new Error(`bench setup: ${MONGO_URL_ENV} is not set`)
  const client = new MongoClient(url)
  const dbName = `bench_ratios_${process.pid}_${Date.now()}`
  const cleanup = async () => {
    // A real MongoDB (MONGODB_URL) keeps what a run wrote unless it is dropped.
    try { await client.db(dbName).dropDatabase() } catch {}
    await client.close()
  }
  try {
    return { ...await pluginApp(mongoStore({ client, dbName }), extra), cleanup }
  } catch (error) {
    await cleanup()
    throw error
  }
}

/** bench/grants.ts's app: the Swagger UI client takes codes; the refresh limit runs with room. */
async function grantsApp (): Promise<Served> {
  const app = Fastify()
  await app.register(fastifyUsers, {
    issuer: ISSUER,
    store: memoryStore(),
    docs: { path: '/docs' },
    scopes: { 'items:read': 'Read items' },
    rateLimit: { refresh: ROOMY }
  })
  await app.ready()
  await app.users.manager.register({ email: GRANT_USER, password: PASSWORD })
  return {
    app,
    commands: {
      codes: async (command) => codeBodies(app, command.cmd === 'codes' ? command.n : 0),
      refresh: async (command) => refreshBodies(app, command.cmd === 'refresh' ? command.n : 0)
    }
  }
}

/** bench/password-login.ts's app, the login limiters on with room; `raw` runs bare argon2id verifies here. */
async function passwordApp (): Promise<Served> {
  const app = Fastify()
  await app.register(fastifyUsers, {
    issuer: ISSUER,
    store: memoryStore(),
    scopes: { 'items:read': 'Read items' },
    clients: [{ clientId: 'bench', firstParty: true }],
    rateLimit: { loginAddress: ROOMY, loginAccountAddress: ROOMY },
    // BENCH_HASH_CONCURRENCY: argon2 computations at once (default: libuv's pool size - 1).
    ...(process.env.BENCH_HASH_CONCURRENCY ? { passwordHashing: { concurrency: Number(process.env.BENCH_HASH_CONCURRENCY) } } : {})
  })
  const hashed = await hashPassword(PASSWORD)
  // The floor under any password sign-in over HTTP: the same form parsed, the same verify,
  // an answer of the token response's size; nothing of ours (no limiter, store or token).
  const answer = { access_token: 'x'.repeat(600), token_type: 'Bearer', expires_in: 900, scope: 'items:read' }
  await app.register(async (scope) => {
    await scope.register(formbody)
    scope.post('/floor', async (request) => {
      const { password } = request.body as { password?: string }
      if (!await verifyPassword(hashed, password ?? '')) throw new Error('verify failed')
      return answer
    })
  })
  await app.ready()
  await app.users.manager.register({ email: GRANT_USER, password: PASSWORD })
  return {
    app,
    commands: {
      // `concurrency` verifies in flight (libuv's pool runs them on its threads) for `seconds`;
      // the ones still running at the end are waited for and counted, over the time they took.
      raw: async (command): Promise<RawVerifies> => {
        if (command.cmd !== 'raw') throw new Error('raw')
        let done = 0
        const t0 = performance.now()
        const until = t0 + command.seconds * 1000
        await Promise.all(Array.from({ length: command.concurrency }, async () => {
          while (performance.now() < until) {
            if (!await verifyPassword(hashed, PASSWORD)) throw new Error('verify failed')
            done++
          }
        }))
        return { done, ms: performance.now() - t0 }
      }
    }
  }
}

async function serve (name: ServerCase): Promise<Served> {
  switch (name) {
    case 'plain': return plain()
    case 'plugin-bare':
    case 'guarded-memory':
    case 'jwt-verify': return pluginApp(memoryStore())
    case 'guarded-mongo': return mongoApp({})
    case 'guarded-mongo-cached': return mongoApp({ userCacheTtl: USER_CACHE_TTL })
    case 'grants': return grantsApp()
    case 'password': return passwordApp()
  }
}

const name = process.argv[2] as ServerCase
if (!SERVER_CASES.includes(name)) throw new Error(`bench/server.ts: unknown case ${name}; one of ${SERVER_CASES.join(', ')}`)
// The parent gone (a crash, ^C): nobody will ask for close.
process.on('disconnect', () => process.exit(0))

let served: Served
try {
  served = await serve(name)
} catch (error) {
  // The cached case on a version of the plugin without userCacheTtl (or with other bounds for
  // it): the option is refused. Reported in the table, not fatal.
  const message = error instanceof Error ? error.message : String(error)
  if (name === 'guarded-mongo-cached' && message.includes('userCacheTtl')) {
    await send({ type: 'unavailable', reason: message })
    process.exit(0)
  }
  throw error
}
const { app } = served
await app.listen({ port: 0, host: '127.0.0.1' })

async function answer (command: Command): Promise<unknown> {
  if (command.cmd === 'cpu') return process.cpuUsage()
  if (command.cmd === 'close') {
    await app.close()
    await served.cleanup?.()
    return null
  }
  const handler = served.commands?.[command.cmd]
  if (!handler) throw new Error(`case ${name} does not take ${command.cmd}`)
  return handler(command)
}

process.on('message', (command: Command) => {
  answer(command).then(
    async (value) => {
      await send({ id: command.id, ok: true, value })
      if (command.cmd === 'close') process.disconnect()
    },
    (error: unknown) => send({ id: command.id, ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) })
  ).catch((error: unknown) => {
    console.error(error)
    process.exit(1)
  })
})
await send({ type: 'ready', url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, ...(served.token ? { token: served.token } : {}) })
