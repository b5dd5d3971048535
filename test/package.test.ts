// The package as an npm user gets it: `npm pack` (which builds dist/ first), installed into a
// project of its own, the README's example files compiled there under strict ESM against the
// published declarations (not our sources), then started and used over HTTP.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { freePort } from './support/browser.js'
import { startMongoWireServer } from './support/mongo-wire-server.js'

const run = promisify(execFile)
const ROOT = new URL('..', import.meta.url).pathname
// The consumer's processes are its own, not subtests of this runner's.
const { NODE_TEST_CONTEXT: _ours, ...ENV } = process.env

// What the README's fragments take for granted: an app with the plugin registered, a token,
// the app's own store. Each fragment becomes a module of its own after these lines.
const SNIPPET_PRELUDE = `import type { FastifyInstance } from 'fastify'
import type { UserStore } from 'fastify-users'
import 'fastify-users'
declare const app: FastifyInstance
declare const token: string
declare function myStore (options: object): UserStore
export {}
`

/**
 * Every TypeScript block of the README: those marked `<!-- consumer-example: <file> -->` as
 * that file, the others as fragments (snippet-1.ts, ...) after SNIPPET_PRELUDE.
 */
export async function readmeExamples (): Promise<{ files: Map<string, string>, snippets: Map<string, string> }> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8')
  const files = new Map<string, string>()
  const snippets = new Map<string, string>()
  for (const match of readme.matchAll(/(?:<!-- consumer-example: ([\w.-]+) -->\n)?```ts\n([\s\S]*?)```/g)) {
    const code = match[2] as string
    if (match[1] !== undefined) files.set(match[1], code)
    // Import declarations may follow other statements: the fragment's own come after the prelude as they are.
    else snippets.set(`snippet-${snippets.size + 1}.ts`, SNIPPET_PRELUDE + code)
  }
  return { files, snippets }
}

/** The version of one of our own dependencies, so that the consumer installs it from the cache. */
async function ourVersion (name: string): Promise<string> {
  return (JSON.parse(await readFile(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version
}

export interface Consumer { dir: string, tarball: string, files: string[] }

/**
 * Packs the package from a copy of the working tree without dist/ (as a fresh clone is;
 * scripts on, so prepack builds it) and installs it into a new project.
 */
export async function packedConsumer (): Promise<Consumer> {
  const dir = await mkdtemp(join(tmpdir(), 'fastify-users-consumer-'))
  const source = join(dir, 'source')
  const { stdout: listed } = await run('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: ROOT, maxBuffer: 16 << 20 })
  for (const file of listed.split('\0').filter(Boolean)) {
    await cp(join(ROOT, file), join(source, file)).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'ENOENT') throw err })
  }
  await symlink(join(ROOT, 'node_modules'), join(source, 'node_modules'))
  const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts=false', '--pack-destination', dir], { cwd: source, maxBuffer: 16 << 20 })
  const [packed] = JSON.parse(stdout.slice(stdout.indexOf('['))) as [{ filename: string, files: { path: string }[] }]
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }))
  const deps = await Promise.all(['fastify', '@sinclair/typebox', 'mongodb', 'jose', 'typescript', '@types/node', 'tstyche'].map(async (name) => `${name}@${await ourVersion(name)}`))
  await run('npm', ['install', `./${packed.filename}`, ...deps, '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir, maxBuffer: 16 << 20 })
  return { dir, tarball: packed.filename, files: packed.files.map((f) => f.path) }
}

/** tsc of the consumer's own TypeScript: strict, ESM (nodenext), and the libraries' declarations checked too. */
export async function compile (dir: string, files: Record<string, string>): Promise<void> {
  await mkdir(join(dir, 'src'), { recursive: true })
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, 'src', name), text)
  await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      strict: true,
      module: 'nodenext',
      moduleResolution: 'nodenext',
      target: 'es2022',
      outDir: 'out',
      rootDir: 'src',
      skipLibCheck: false,
      noUncheckedIndexedAccess: true,
      exactOptionalPropertyTypes: true,
      types: ['node']
    },
    include: ['src']
  }))
  try {
    await run(join(dir, 'node_modules/.bin/tsc'), ['-p', dir], { cwd: dir })
  } catch (err) {
    const { stdout, stderr } = err as { stdout: string, stderr: string }
    assert.fail(`the consumer project does not compile:\n${stdout}${stderr}`)
  }
}

/**
 * Our type tests (test/types/*.tst.ts) run with tstyche in the consumer project, after compile():
 * 'fastify-users' is then the installed tarball's declarations, checked by the consumer's own
 * TypeScript under the consumer's compiler options.
 */
export async function typeTests (dir: string): Promise<string> {
  const source = join(ROOT, 'test', 'types')
  const files = (await readdir(source)).filter((name) => name.endsWith('.tst.ts'))
  assert.ok(files.length > 0, 'type tests to run')
  await mkdir(join(dir, 'typetests'), { recursive: true })
  for (const name of files) await cp(join(source, name), join(dir, 'typetests', name))
  await writeFile(join(dir, 'typetests', 'tsconfig.json'), JSON.stringify({
    extends: '../tsconfig.json', compilerOptions: { rootDir: '.', noEmit: true }, include: ['.']
  }))
  await writeFile(join(dir, 'tstyche.json'), JSON.stringify({ testFileMatch: ['typetests/**/*.tst.ts'] }))
  const typescript = join(dir, 'node_modules', 'typescript')
  const { stdout } = await run(join(dir, 'node_modules/.bin/tstyche'), [], {
    cwd: dir,
    // The consumer's TypeScript, named: tstyche would fetch one it cannot find.
    env: { ...ENV, NO_COLOR: '1', TSTYCHE_TYPESCRIPT_MODULE: pathToFileURL(join(typescript, 'lib', 'typescript.js')).href },
    maxBuffer: 16 << 20
  }).catch((err: { stdout: string, stderr: string }) => assert.fail(`the type tests failed against the published declarations:\n${err.stdout}${err.stderr}`))
  const { version } = JSON.parse(await readFile(join(typescript, 'package.json'), 'utf8')) as { version: string }
  assert.match(stdout, new RegExp(`uses TypeScript ${version.replaceAll('.', '\\.')} with \\./typetests/tsconfig\\.json`))
  assert.match(stdout, new RegExp(`^Test files: +${files.length} passed, ${files.length} total$`, 'm'), stdout)
  return stdout
}

const CONTRACT = `import { after } from 'node:test'
import { randomUUID } from 'node:crypto'
import { MongoClient } from 'mongodb'
import { memoryStore, mongoStore } from 'fastify-users'
import { storeContract } from 'fastify-users/testing'

storeContract('memoryStore', async () => memoryStore())

const url = process.env.CONTRACT_MONGODB_URL
if (url) {
  const client = new MongoClient(url)
  after(() => client.close())
  storeContract('mongoStore', async () => {
    const dbName = 'contract_' + randomUUID().replace(/-/g, '')
    const store = mongoStore({ client, dbName })
    return { ...store, async close () { await store.close(); await client.db(dbName).dropDatabase() } }
  })
}
`

test('npm pack ships the built package, its declarations pass the type tests, and the README example compiles against it and runs', async (t) => {
  const consumer = await packedConsumer()
  t.after(() => rm(consumer.dir, { recursive: true, force: true }))

  assert.ok(consumer.files.includes('dist/index.js') && consumer.files.includes('dist/index.d.ts'), 'dist is packed')
  assert.deepEqual(consumer.files.filter((f) => !f.startsWith('dist/') && !['package.json', 'README.md'].includes(f)), [])
  assert.deepEqual(consumer.files.filter((f) => /^dist\/(test|bench|demo)\//.test(f) || (/\.ts$/.test(f) && !/\.d\.ts$/.test(f))), [], 'no tests, demo or sources')
  // The operator's CLI as `npx fastify-users` finds it: linked, executable, loading the built package.
  const help = await run(join(consumer.dir, 'node_modules/.bin/fastify-users'), ['--help'], { cwd: consumer.dir, env: ENV })
  assert.match(help.stdout, /^Usage: fastify-users <command>[\s\S]*create-superuser[\s\S]*rotate-keys/)

  const { files, snippets } = await readmeExamples()
  assert.deepEqual([...files.keys()].sort(), ['app.ts', 'superuser.ts', 'user-fields.ts'])
  assert.ok(snippets.size >= 4, `the README's other TypeScript blocks: ${snippets.size}`)
  await compile(consumer.dir, { ...Object.fromEntries(files), ...Object.fromEntries(snippets), 'contract.test.ts': CONTRACT })
  await typeTests(consumer.dir)

  // A third party's adapter test, as it would write one: the contract suite from the subpath export.
  const wire = await startMongoWireServer()
  t.after(() => wire.close())
  const contract = await run(process.execPath, ['--test', '--test-reporter=tap', 'out/contract.test.js'], {
    cwd: consumer.dir, env: { ...ENV, CONTRACT_MONGODB_URL: wire.url }, maxBuffer: 64 << 20
  }).catch((err: { stdout: string }) => assert.fail(`the contract suite failed through fastify-users/testing:\n${err.stdout}`))
  const passed = Number(/^# pass (\d+)$/m.exec(contract.stdout)?.[1])
  assert.ok(passed >= 60, `contract tests passed on both adapters: ${passed}`)
  assert.match(contract.stdout, /^# fail 0$/m)
  assert.match(contract.stdout, /mongoStore: createUser/)

  const port = await freePort()
  const child = spawn(process.execPath, ['out/app.js'], {
    cwd: consumer.dir,
    env: { ...ENV, PORT: String(port), HOST: '127.0.0.1', ADMIN_EMAIL: 'admin@example.com', ADMIN_PASSWORD: 'a long admin password', MONGODB_URL: '' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.after(() => { child.kill() })
  let output = ''
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      if (output.includes('Server listening')) resolve()
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.on('exit', (code) => reject(new Error(`the example exited with ${code}:\n${output}`)))
  })
  assert.match(output, /created the first superuser/)

  const base = `http://127.0.0.1:${port}`
  const doc = await (await fetch(`${base}/docs/json`)).json() as { paths: Record<string, Record<string, { security?: unknown }>> }
  assert.deepEqual(doc.paths['/items']?.post?.security, [{ oauth2: ['items:write'] }])

  const tokenRes = await fetch(`${base}/oauth/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'password', client_id: 'swagger-ui', username: 'admin@example.com', password: 'a long admin password', scope: 'items:read items:write' })
  })
  assert.equal(tokenRes.status, 200)
  const { access_token: token } = await tokenRes.json() as { access_token: string }
  const auth = { authorization: `Bearer ${token}` }
  const me = await (await fetch(`${base}/users/me`, { headers: auth })).json() as { isSuperuser: boolean }
  assert.equal(me.isSuperuser, true)
  const created = await fetch(`${base}/items`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'first' }) })
  assert.equal(created.status, 201)
  assert.deepEqual(await (await fetch(`${base}/items`, { headers: auth })).json(), [{ id: 1, owner: (await created.json() as { owner: string }).owner, name: 'first' }])
  assert.equal((await fetch(`${base}/items`)).status, 401)
})
