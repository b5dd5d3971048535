#!/usr/bin/env node
// The operator's commands, run against the app's MongoDB store. They go through the
// package's public API only, as an app would: what they do is what the plugin does.
import { generateKeyPairSync } from 'node:crypto'
import { createInterface } from 'node:readline'
import { Writable } from 'node:stream'
import { parseArgs } from 'node:util'
import fastify, { type FastifyInstance } from 'fastify'
import { MongoClient } from 'mongodb'
import fastifyUsers, { mongoStore, StoreUnavailableError, type FastifyUsersOptions } from '../index.js'

const USAGE = `Usage: fastify-users <command> [options]

Commands:
  create-superuser --email <address> [--promote] [--password-min-length <n>]
      Creates an active, verified superuser and prints its id. The password is the first
      line of stdin when stdin is not a terminal; otherwise it is asked for twice, without
      echo. It must pass the plugin's policy: at least --password-min-length characters
      (default 8; give the app's passwordMinLength if it sets one).
      --promote  When a user has this email already, make it a verified superuser (its
                 password unchanged) instead of failing.

  rotate-keys [--algorithm EdDSA|ES256]
      Generates a signing key in the store, makes it the one that signs and prints its kid.
      Older keys keep verifying: tokens already issued stay valid until they expire.
      --algorithm  Default: that of the newest key in the store (EdDSA for an empty store).
      Running instances read the store's keys when they start. Until restarted, an instance
      keeps signing with its old key and leaves the new one out of its JWKS; it only reads
      the keys again on meeting a token of a kid it does not know (at most every 30 s).
      Cookies and mailed links are signed with secrets derived from the keys at start, so an
      instance not yet restarted refuses those of a restarted one (unless the app sets
      cookieSecret). Restart every instance (a rolling restart will do) soon after rotating.
      For apps that keep their keys in the store: with the signingKeys option, rotate there.

Environment:
  MONGODB_URL                required: the app's MongoDB; the database named in it, else
                             fastify_users. Server selection gives up after 5 s unless the
                             URL sets serverSelectionTimeoutMS.
  MONGODB_COLLECTION_PREFIX  the collectionPrefix the app gives mongoStore, if any
  ISSUER                     the app's issuer (default http://localhost)

Exit status: 0 done, 1 refused or failed, 2 wrong usage.
`

const COMMANDS: Record<string, readonly string[]> = {
  'create-superuser': ['email', 'promote', 'password-min-length'],
  'rotate-keys': ['algorithm']
}

const SERVER_SELECTION_TIMEOUT_MS = 5000
const ALGORITHMS = ['EdDSA', 'ES256'] as const
type Algorithm = typeof ALGORITHMS[number]

/** Ends the command with this message on stderr and this exit status. */
class Exit extends Error {
  constructor (message: string, readonly status: number) { super(message) }
}

const usageError = (message: string) => new Exit(`${message}\n\n${USAGE}`, 2)

// The driver's errors when no server answers: the store is out of reach, not the command wrong.
const UNREACHABLE = new Set(['MongoServerSelectionError', 'MongoNetworkError', 'MongoNetworkTimeoutError', 'MongoTopologyClosedError'])

interface Connection { app: FastifyInstance, close (): Promise<void> }

async function connect (options: Omit<FastifyUsersOptions, 'issuer' | 'store'>, before?: (store: FastifyUsersOptions['store']) => Promise<Partial<FastifyUsersOptions>>): Promise<Connection> {
  const url = process.env.MONGODB_URL
  if (!url) throw new Exit('MONGODB_URL is not set: give the connection string of the app\'s MongoDB', 2)
  let client: MongoClient
  try {
    // The driver's default is 30 s of silence before it says the server is out of reach.
    client = new MongoClient(url, /[?&]serverSelectionTimeoutMS=/i.test(url) ? {} : { serverSelectionTimeoutMS: SERVER_SELECTION_TIMEOUT_MS })
  } catch (err) {
    // The URL itself is never printed: it may hold credentials.
    throw new Exit(`MONGODB_URL is not a MongoDB connection string: ${(err as Error).message}`, 2)
  }
  const store = mongoStore({ client, collectionPrefix: process.env.MONGODB_COLLECTION_PREFIX || undefined })
  const app = fastify({ logger: false })
  const close = async () => {
    await app.close().catch(() => {})
    await client.close()
  }
  try {
    const more = before ? await before(store) : {}
    await app.register(fastifyUsers, { issuer: process.env.ISSUER ?? 'http://localhost', store, ...options, ...more })
    await app.ready()
  } catch (err) {
    await close()
    throw err
  }
  return { app, close }
}

/** The first line of a piped stdin, without its line break; undefined when stdin is empty. */
async function firstLine (): Promise<string | undefined> {
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity })
  const first = await lines[Symbol.asyncIterator]().next()
  lines.close()
  return first.done ? undefined : first.value
}

/**
 * Asks on the terminal with nothing echoed: readline keeps line editing, but everything it
 * would write (the typed characters, the redraws) goes to an output that drops it.
 */
async function askHidden (questions: string[]): Promise<string[]> {
  const silent = new Writable({ write (_chunk, _encoding, callback) { callback() } })
  const rl = createInterface({ input: process.stdin, output: silent, terminal: true })
  const answers: string[] = []
  try {
    for (const question of questions) {
      process.stderr.write(question)
      answers.push(await new Promise<string>((resolve, reject) => {
        // Ctrl-C and Ctrl-D close the interface while it waits.
        const cancelled = () => reject(new Exit('cancelled', 1))
        rl.once('close', cancelled)
        rl.question('', (answer) => {
          rl.off('close', cancelled)
          resolve(answer)
        })
      }).finally(() => process.stderr.write('\n')))
    }
  } finally {
    rl.close()
  }
  return answers
}

async function readPassword (): Promise<string> {
  if (!process.stdin.isTTY) {
    const line = await firstLine()
    if (line === undefined) throw new Exit('no password on stdin: pipe it in (its first line), or run in a terminal to be asked', 1)
    return line
  }
  const [password, again] = await askHidden(['Password: ', 'Password (again): '])
  if (password !== again) throw new Exit('the passwords do not match', 1)
  return password as string
}

// A key of the options keeps the plugin away from the store's keys: creating a user must
// not generate the store's first signing key with an algorithm the app did not choose.
function throwawaySigningKey () {
  return { privateKey: generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string }
}

async function createSuperuser (values: { email?: string, promote?: boolean, 'password-min-length'?: string }): Promise<void> {
  const { email, promote = false } = values
  if (email === undefined) throw usageError('create-superuser needs --email <address>')
  if (!/^[^\s@]+@[^\s@]+$/.test(email)) throw usageError(`not an email address: ${email}`)
  const minLength = values['password-min-length']
  if (minLength !== undefined && !/^\d+$/.test(minLength)) throw usageError(`--password-min-length takes a number, not ${minLength}`)

  const options: Omit<FastifyUsersOptions, 'issuer' | 'store'> = { signingKeys: [throwawaySigningKey()] }
  if (minLength !== undefined) options.passwordMinLength = Number(minLength)
  const { app, close } = await connect(options)
  try {
    // The store first: an existing user is refused (or promoted) before a password is asked for.
    const existing = await app.users.store.getUserByEmail(email)
    if (existing) {
      if (!promote) throw new Exit(`a user with the email ${existing.email} exists already (id ${existing.id}); --promote makes it a superuser`, 1)
      const user = await app.users.store.updateUser(existing.id, { isSuperuser: true, isVerified: true })
      if (!user) throw new Exit(`the user ${existing.email} was deleted meanwhile`, 1)
      process.stdout.write(`promoted to superuser: ${user.email} (id ${user.id})\n`)
      if (!user.isActive) process.stderr.write('this user is inactive: it cannot sign in until it is activated again\n')
      return
    }
    const password = await readPassword()
    const user = await app.users.manager.register({ email, password }, { isSuperuser: true, isVerified: true })
    process.stdout.write(`created superuser: ${user.email} (id ${user.id})\n`)
  } finally {
    await close()
  }
}

async function rotateKeys (values: { algorithm?: string }): Promise<void> {
  const { algorithm } = values
  if (algorithm !== undefined && !(ALGORITHMS as readonly string[]).includes(algorithm)) throw usageError(`--algorithm is one of ${ALGORITHMS.join(', ')}, not ${algorithm}`)
  const { app, close } = await connect({}, async (store) => {
    // The app's algorithm is not known here; the store's newest access-token key tells which one
    // it chose (RSA keys there sign id_tokens, beside it).
    await store.init()
    const newest = (await store.listSigningKeys()).find((k) => (ALGORITHMS as readonly string[]).includes(k.alg))?.alg
    const chosen = algorithm ?? (ALGORITHMS as readonly string[]).find((a) => a === newest)
    return chosen === undefined ? {} : { signingAlgorithm: chosen as Algorithm }
  })
  try {
    const kid = await app.users.keys.rotate()
    process.stdout.write(`new signing key: ${kid}\n`)
    process.stderr.write('Instances already running keep signing with their old key until they restart: restart them.\n')
  } finally {
    await close()
  }
}

async function main (args: string[]): Promise<void> {
  let parsed
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        email: { type: 'string' },
        promote: { type: 'boolean' },
        'password-min-length': { type: 'string' },
        algorithm: { type: 'string' }
      }
    })
  } catch (err) {
    throw usageError((err as Error).message)
  }
  const { values, positionals } = parsed
  if (values.help) {
    process.stdout.write(USAGE)
    return
  }
  const [command, ...extra] = positionals
  if (command === undefined) throw usageError('no command given')
  const allowed = COMMANDS[command]
  if (!allowed) throw usageError(`unknown command: ${command}`)
  if (extra.length > 0) throw usageError(`unexpected arguments: ${extra.join(' ')}`)
  const wrong = Object.keys(values).filter((name) => !allowed.includes(name))
  if (wrong.length > 0) throw usageError(`${command} does not take ${wrong.map((name) => `--${name}`).join(', ')}`)
  if (command === 'create-superuser') await createSuperuser(values)
  else await rotateKeys(values)
}

function failure (err: unknown): { message: string, status: number } {
  if (err instanceof Exit) return { message: err.message, status: err.status }
  if (err instanceof StoreUnavailableError || (err instanceof Error && UNREACHABLE.has(err.name))) {
    // The store's error says "try again"; the driver's, which it wraps, says why.
    const reason = err.cause instanceof Error ? err.cause : err
    return { message: `cannot reach MongoDB at MONGODB_URL: ${reason.message}`, status: 1 }
  }
  // The library's refusals (password policy, invalid options...) say what is wrong in their message.
  if (err instanceof Error) return { message: err.message.replace(/^fastify-users: /, ''), status: 1 }
  return { message: String(err), status: 1 }
}

try {
  await main(process.argv.slice(2))
} catch (err) {
  const { message, status } = failure(err)
  process.stderr.write(`fastify-users: ${message.trimEnd()}\n`)
  process.exitCode = status
}
