// The check every test process runs (test/support/openapi-conformance.ts): an answer the
// operation does not document fails the process, one it documents does not.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'

const run = promisify(execFile)
const ROOT = new URL('..', import.meta.url).pathname
const { NODE_TEST_CONTEXT: _ours, NODE_V8_COVERAGE: _coverage, ...ENV } = process.env

const answer = (...urls: string[]) =>
  run(process.execPath, ['--import', 'tsx', '--import', './test/support/openapi-conformance.ts', 'test/support/conformance-fixture.ts', ...urls], { cwd: ROOT, env: ENV })
    .then(() => ({ code: 0, stderr: '' }), (err: { code: number, stderr: string }) => ({ code: err.code, stderr: err.stderr }))

test('documented answers pass', async () => {
  assert.deepEqual(await answer('/thing', '/thing?status=400&code=VALIDATION_ERROR'), { code: 0, stderr: '' })
})

test('an undocumented status, code or media type, and a problem without a code, each fail the process', async () => {
  const result = await answer('/thing?status=418&code=VALIDATION_ERROR', '/thing?status=400&code=BAD_REQUEST', '/thing?status=400',
    '/thing?status=400&code=VALIDATION_ERROR&json=true')
  assert.equal(result.code, 1)
  assert.match(result.stderr, /getThing \(GET \/thing\) answered 418, which it does not document/)
  assert.match(result.stderr, /getThing \(GET \/thing\) answered 400 with code BAD_REQUEST, which is not among the documented examples for 400/)
  assert.match(result.stderr, /getThing \(GET \/thing\) answered 400 with no error code/)
  assert.match(result.stderr, /getThing \(GET \/thing\) answered 400 with application\/json; documented: application\/problem\+json/)
})
