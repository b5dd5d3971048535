// The demo's OpenAPI document as API tooling judges it: Redocly's `recommended` ruleset.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { buildDemo } from '../demo/app.js'

const run = promisify(execFile)
const REDOCLY = new URL('../node_modules/.bin/redocly', import.meta.url).pathname

test('Redocly\'s recommended ruleset finds no error in the demo\'s document', async (t) => {
  const app = await buildDemo({ issuer: 'http://localhost:3000' })
  t.after(() => app.close())
  const dir = await mkdtemp(join(tmpdir(), 'fastify-users-lint-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  await writeFile(join(dir, 'openapi.json'), (await app.inject({ url: '/docs/json' })).body)
  await writeFile(join(dir, 'redocly.yaml'), 'extends:\n  - recommended\n')
  const env = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NODE_TEST_CONTEXT: undefined }
  const result = await run(REDOCLY, ['lint', 'openapi.json', '--format=stylish'], { cwd: dir, env })
    .catch((err: { stdout: string, stderr: string }) => assert.fail(`redocly lint reports errors:\n${err.stdout}${err.stderr}`))
  assert.match(`${result.stdout}${result.stderr}`, /valid/)
})
