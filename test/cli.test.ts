// The operator's CLI, run as an operator runs it: a process of its own, MONGODB_URL in its
// environment, the password on stdin, against a MongoDB-wire server.
import { after, before, test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import fastify from 'fastify'
import fastifyUsers, { mongoStore, type UserStore } from '../index.js'
import { freePort } from './support/browser.js'
import { startMongoWireServer, type MongoWireServer } from './support/mongo-wire-server.js'

const ROOT = new URL('..', import.meta.url).pathname
// The CLI's process is not a subtest of this runner, nor covered by it; and it gets only the MONGODB_URL a test gives it.
const { NODE_TEST_CONTEXT: _ours, NODE_V8_COVERAGE: _coverage, MONGODB_URL: _url, ...ENV } = process.env
const PASSWORD = 'a long root password'

let wire: MongoWireServer
before(async () => { wire = await startMongoWireServer() })
after(() => wire.close())

/** A database of its own on the wire server, named in the URL as an operator's would be. */
const freshDatabase = () => wire.url.replace('/?', `/cli_${randomUUID().replace(/-/g, '')}?`)

interface Run { status: number | null, stdout: string, stderr: string }

async function cli (args: string[], options: { url?: string, input?: string } = {}): Promise<Run> {
  const env = options.url === undefined ? ENV : { ...ENV, MONGODB_URL: options.url }
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/fastify-users.ts', ...args], { cwd: ROOT, env, stdio: 'pipe' })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  // The CLI may exit before reading stdin (refusals, usage): the pipe then breaks.
  child.stdin.on('error', () => {})
  child.stdin.end(options.input ?? '')
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve))
  return { status, stdout, stderr }
}

/** The store at this URL through the plugin, as the app would open it; closed after the test. */
async function appOn (t: TestContext, url: string) {
  const app = fastify({ logger: false })
  t.after(() => app.close())
  await app.register(fastifyUsers, { issuer: 'http://localhost', store: mongoStore({ url }) })
  await app.ready()
  return app.users
}

/** The store alone, without the plugin (which would generate a signing key in an empty store). */
async function bareStore (t: TestContext, url: string): Promise<UserStore> {
  const store = mongoStore({ url })
  await store.init()
  t.after(() => store.close())
  return store
}

const createdId = (run: Run) => /^created superuser: \S+ \(id ([0-9a-f]{24})\)$/m.exec(run.stdout)?.[1]

test('create-superuser takes the first line of stdin as the password and creates an active, verified superuser who can sign in with it', async (t) => {
  const url = freshDatabase()
  const run = await cli(['create-superuser', '--email', 'root@example.com'], { url, input: `${PASSWORD}\nnot the password\n` })
  assert.equal(run.status, 0, run.stderr)
  const id = createdId(run)
  assert.ok(id, run.stdout)
  assert.ok(!run.stdout.includes(PASSWORD) && !run.stderr.includes(PASSWORD), 'the password is never printed')
  // Creating a user leaves the signing keys to the app's first start, with the app's algorithm.
  assert.deepEqual(await (await bareStore(t, url)).listSigningKeys(), [])

  const users = await appOn(t, url)
  const stored = await users.store.getUserByEmail('root@example.com')
  assert.equal(stored?.id, id)
  assert.deepEqual({ isActive: stored?.isActive, isVerified: stored?.isVerified, isSuperuser: stored?.isSuperuser }, { isActive: true, isVerified: true, isSuperuser: true })
  assert.equal((await users.manager.authenticate('root@example.com', PASSWORD))?.id, id)
  assert.equal(await users.manager.authenticate('root@example.com', `${PASSWORD}\n`), null)
})

test('create-superuser refuses a password the policy refuses, with the policy\'s reason, and creates nobody', async (t) => {
  const url = freshDatabase()
  const [short, stricter, empty] = await Promise.all([
    cli(['create-superuser', '--email', 'root@example.com'], { url, input: 'short\n' }),
    cli(['create-superuser', '--email', 'root@example.com', '--password-min-length', '24'], { url, input: `${PASSWORD}\n` }),
    cli(['create-superuser', '--email', 'root@example.com'], { url, input: '' })
  ])
  assert.equal(short.status, 1)
  assert.match(short.stderr, /Password should be at least 8 characters long/)
  assert.ok(!short.stderr.includes('short\n') && !short.stdout.includes('short'))
  assert.equal(stricter.status, 1)
  assert.match(stricter.stderr, /at least 24 characters/)
  assert.equal(empty.status, 1)
  assert.match(empty.stderr, /no password on stdin/)
  assert.equal(await (await bareStore(t, url)).getUserByEmail('root@example.com'), null)
})

test('create-superuser refuses an email that exists; with --promote it makes that user a verified superuser and keeps its password', async (t) => {
  const url = freshDatabase()
  const users = await appOn(t, url)
  const ada = await users.manager.register({ email: 'Ada@Example.com', password: 'ada\'s own password' })
  assert.equal(ada.isSuperuser, false)
  assert.equal(ada.isVerified, false)

  const refused = await cli(['create-superuser', '--email', 'ada@example.com'], { url, input: `${PASSWORD}\n` })
  assert.equal(refused.status, 1)
  assert.match(refused.stderr, /exists already.*--promote/)
  assert.equal((await users.store.getUserById(ada.id))?.isSuperuser, false)

  const promoted = await cli(['create-superuser', '--email', 'ada@example.com', '--promote'], { url, input: `${PASSWORD}\n` })
  assert.equal(promoted.status, 0, promoted.stderr)
  assert.ok(promoted.stdout.includes(ada.id), promoted.stdout)
  const stored = await users.store.getUserById(ada.id)
  assert.deepEqual({ isActive: stored?.isActive, isVerified: stored?.isVerified, isSuperuser: stored?.isSuperuser }, { isActive: true, isVerified: true, isSuperuser: true })
  assert.equal((await users.manager.authenticate('ada@example.com', 'ada\'s own password'))?.id, ada.id)
  assert.equal(await users.manager.authenticate('ada@example.com', PASSWORD), null)
})

test('rotate-keys adds a key that signs from now on and prints its kid; the next one keeps the store\'s algorithm', async (t) => {
  const url = freshDatabase()
  const first = await cli(['rotate-keys', '--algorithm', 'ES256'], { url })
  assert.equal(first.status, 0, first.stderr)
  const second = await cli(['rotate-keys'], { url })
  assert.equal(second.status, 0, second.stderr)
  const kidOf = (run: Run) => /^new signing key: (\S+)$/m.exec(run.stdout)?.[1]
  const [kid1, kid2] = [kidOf(first), kidOf(second)]
  assert.ok(kid1 && kid2, `${first.stdout}${second.stdout}`)
  assert.notEqual(kid1, kid2)
  assert.match(second.stderr, /restart/)

  // The RSA key that signs id_tokens is the plugin's own, made once; rotations keep the access-token algorithm.
  const keys = (await (await bareStore(t, url)).listSigningKeys()).filter((k) => k.alg !== 'RS256')
  assert.deepEqual(keys.slice(0, 2).map((k) => k.kid), [kid2, kid1], 'newest first')
  assert.deepEqual(keys.map((k) => k.alg), keys.map(() => 'ES256'))
})

test('without MONGODB_URL a command exits 2 naming it; an unknown command or none exits 2 with the usage; --help prints it', async () => {
  const url = freshDatabase()
  const [missing, unknown, none, wrongOption, help] = await Promise.all([
    cli(['rotate-keys']),
    cli(['rotate-key'], { url }),
    cli([], { url }),
    cli(['rotate-keys', '--email', 'root@example.com'], { url }),
    cli(['--help'])
  ])
  assert.equal(missing.status, 2)
  assert.match(missing.stderr, /MONGODB_URL is not set/)
  assert.equal(unknown.status, 2)
  assert.match(unknown.stderr, /unknown command: rotate-key/)
  assert.match(unknown.stderr, /Usage: fastify-users <command>/)
  assert.equal(none.status, 2)
  assert.match(none.stderr, /Usage: fastify-users <command>/)
  assert.equal(wrongOption.status, 2)
  assert.match(wrongOption.stderr, /rotate-keys does not take --email/)
  assert.equal(help.status, 0)
  for (const text of ['create-superuser --email', 'rotate-keys', 'MONGODB_URL', 'ISSUER', 'restart']) assert.ok(help.stdout.includes(text), text)
})

test('a store out of reach ends the command with status 1 and the driver\'s reason', async () => {
  const port = await freePort()
  // The URL's timeout, shorter than the CLI's own 5 s, keeps the test short.
  const run = await cli(['rotate-keys'], { url: `mongodb://127.0.0.1:${port}/cli?directConnection=true&serverSelectionTimeoutMS=300` })
  assert.equal(run.status, 1)
  assert.match(run.stderr, /cannot reach MongoDB at MONGODB_URL: .*ECONNREFUSED/)
})

test('the CLI uses the package as npm users get it: its only module of ours is ../index.js', async () => {
  const text = await readFile(new URL('../bin/fastify-users.ts', import.meta.url), 'utf8')
  assert.ok(text.startsWith('#!/usr/bin/env node\n'))
  const ours = [...text.matchAll(/^import[^'"]*from '(\.[^']+)'/gm)].map((m) => m[1])
  assert.deepEqual(ours, ['../index.js'])
})
