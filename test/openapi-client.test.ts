// The demo's OpenAPI document as a client developer uses it: TypeScript types generated from the
// document the running demo serves (openapi-typescript), a program written against them with
// openapi-fetch (test/openapi-client/client.ts) and calls that must not compile
// (test/openapi-client/wrong.ts), type-checked in a project of their own under strict options,
// then the program run against the demo over HTTP.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { cp, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import openapiTS, { astToString, type OpenAPI3 } from 'openapi-typescript'
import { listenDemo } from './support/browser.js'

const run = promisify(execFile)
const ROOT = new URL('..', import.meta.url).pathname
const SOURCES = new URL('./openapi-client/', import.meta.url).pathname
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc')
// The client's processes are its own, not subtests of this runner's, and run none of our sources to cover.
const { NODE_TEST_CONTEXT: _ours, NODE_V8_COVERAGE: _coverage, ...ENV } = process.env

interface Summary {
  registered: { id: string, email: string }
  duplicate: string
  anonymous: { status: number, code: string }
  token: { type: string, scope: string, idToken: boolean }
  wrongPassword: string
  me: string
  items: number
  created: { id: number, name: string }
  refusedUpdate: string
  updated: { email: string, isVerified: boolean }
}

test('a client generated from the demo\'s OpenAPI document compiles strictly, refuses wrong calls, and works against the demo', async (t) => {
  const { app, issuer } = await listenDemo(t)
  const docResponse = await fetch(`${issuer}/docs/json`)
  assert.equal(docResponse.status, 200)
  const doc = await docResponse.json() as OpenAPI3

  const dir = await mkdtemp(join(tmpdir(), 'fastify-users-openapi-client-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const schema = astToString(await openapiTS(doc))
  assert.match(schema, /registerUser: \{/)
  await writeFile(join(dir, 'schema.ts'), schema)
  for (const name of ['client.ts', 'wrong.ts']) await cp(join(SOURCES, name), join(dir, name))
  // The README's example of a generated client, type-checked with the rest.
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8')
  const example = /<!-- openapi-client-example: readme-client\.ts -->\n```typescript\n([\s\S]*?)```/.exec(readme)?.[1]
  assert.ok(example, 'the README\'s openapi-client example')
  await writeFile(join(dir, 'readme-client.ts'), example)
  // The repository's packages (openapi-fetch, tsx, @types/node), as the project's own.
  await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'))
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'openapi-client', private: true, type: 'module' }))
  await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      strict: true,
      exactOptionalPropertyTypes: true,
      noUncheckedIndexedAccess: true,
      module: 'nodenext',
      moduleResolution: 'nodenext',
      target: 'es2022',
      noEmit: true,
      // Ours are .ts files, checked in full; third parties' declarations are not what this is about (and cost 2 s).
      skipLibCheck: true,
      types: ['node']
    },
    files: ['schema.ts', 'client.ts', 'wrong.ts', 'readme-client.ts']
  }))

  await run(process.execPath, [TSC, '-p', dir], { cwd: dir, env: ENV })
    .catch((err: { stdout: string, stderr: string }) => assert.fail(`the generated client does not type-check:\n${err.stdout}${err.stderr}`))

  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'client.ts', issuer], { cwd: dir, env: ENV })
    .catch((err: { stdout: string, stderr: string }) => assert.fail(`the client program failed:\n${err.stdout}${err.stderr}`))
  const summary = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as Summary

  assert.match(summary.registered.email, /^client-[\w-]+@example\.com$/)
  assert.equal(summary.duplicate, 'REGISTER_USER_ALREADY_EXISTS')
  assert.deepEqual(summary.anonymous, { status: 401, code: 'AUTHENTICATION_REQUIRED' })
  assert.deepEqual(summary.token, { type: 'Bearer', scope: 'openid items:read items:write', idToken: true })
  assert.equal(summary.wrongPassword, 'invalid_grant')
  assert.equal(summary.me, summary.registered.email)
  assert.deepEqual(summary.created, { id: summary.items, name: `made by ${summary.registered.email}` })
  assert.equal(summary.refusedUpdate, 'UPDATE_USER_INVALID_PASSWORD')
  assert.match(summary.updated.email, /^renamed-[\w-]+@example\.com$/)
  assert.equal(summary.updated.isVerified, false)

  // The program spoke to this demo: its changes are in the demo's store.
  const stored = await app.users.store.getUserById(summary.registered.id)
  assert.equal(stored?.email, summary.updated.email)
})
