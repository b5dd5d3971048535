// The package as an npm user gets it: `npm pack` (which builds dist/ first), installed into a
// project of its own, the README's example files compiled there under strict ESM against the
// published declarations (not our sources), then started and used over HTTP.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { freePort } from './support/browser.js'

const run = promisify(execFile)
const ROOT = new URL('..', import.meta.url).pathname

/** The README's code blocks marked `<!-- consumer-example: <file> -->`, by file name. */
export async function readmeExamples (): Promise<Map<string, string>> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8')
  const examples = new Map<string, string>()
  for (const match of readme.matchAll(/<!-- consumer-example: ([\w.-]+) -->\n```ts\n([\s\S]*?)```/g)) {
    examples.set(match[1] as string, match[2] as string)
  }
  return examples
}

/** The version of one of our own dependencies, so that the consumer installs it from the cache. */
async function ourVersion (name: string): Promise<string> {
  return (JSON.parse(await readFile(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version
}

export interface Consumer { dir: string, tarball: string, files: string[] }

/** Packs the package (scripts on, so prepack builds it) and installs it into a new project. */
export async function packedConsumer (): Promise<Consumer> {
  const dir = await mkdtemp(join(tmpdir(), 'fastify-users-consumer-'))
  const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts=false', '--pack-destination', dir], { cwd: ROOT, maxBuffer: 16 << 20 })
  const [packed] = JSON.parse(stdout.slice(stdout.indexOf('['))) as [{ filename: string, files: { path: string }[] }]
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }))
  const deps = await Promise.all(['fastify', 'typescript', '@types/node'].map(async (name) => `${name}@${await ourVersion(name)}`))
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

test('npm pack ships the built package, and the README example compiles against it and runs', async (t) => {
  const consumer = await packedConsumer()
  t.after(() => rm(consumer.dir, { recursive: true, force: true }))

  assert.ok(consumer.files.includes('dist/index.js') && consumer.files.includes('dist/index.d.ts'), 'dist is packed')
  assert.deepEqual(consumer.files.filter((f) => !f.startsWith('dist/') && !['package.json', 'README.md'].includes(f)), [])
  assert.deepEqual(consumer.files.filter((f) => /^dist\/(test|bench|demo)\//.test(f) || (/\.ts$/.test(f) && !/\.d\.ts$/.test(f))), [], 'no tests, demo or sources')

  const examples = await readmeExamples()
  assert.deepEqual([...examples.keys()].sort(), ['app.ts', 'superuser.ts'])
  await compile(consumer.dir, Object.fromEntries(examples))

  const port = await freePort()
  const child = spawn(process.execPath, ['out/app.js'], {
    cwd: consumer.dir,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', ADMIN_EMAIL: 'admin@example.com', ADMIN_PASSWORD: 'a long admin password', MONGODB_URL: '' },
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
