// Loaded into every test process (`--import`, see package.json's test:unit): every answer of
// every operation (a route with an operationId) that the suites provoke is checked against
// what the route documents for OpenAPI. A status must be listed for that operation (`default`
// stands only for 500, the unexpected failure); a body must come in a documented media type;
// a problem's `code` or an OAuth `error` must be one of the examples documented for that
// status; the headers it documents must be sent. Whatever does not match fails the test file at exit, with the list.
import { subscribe } from 'node:diagnostics_channel'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

interface MediaObject { examples?: Record<string, { value?: unknown }> }
interface ResponseObject { type?: unknown, headers?: Record<string, unknown>, content?: Record<string, MediaObject | undefined> }

const violations = new Set<string>()
const payloads = new WeakMap<FastifyRequest, unknown>()

/** The documented response for a status: exact, then its range (4XX), then default for a 500. */
function documented (responses: Record<string, unknown>, status: number): ResponseObject | undefined {
  const found = responses[String(status)] ?? responses[`${String(status)[0]}XX`] ?? responses[`${String(status)[0]}xx`] ??
    (status === 500 ? responses.default : undefined)
  return found as ResponseObject | undefined
}

/** The error code a body carries: a problem's code, an OAuth error body's error. */
function codeOf (payload: unknown): string | undefined {
  if (typeof payload !== 'string' || payload === '') return undefined
  try {
    const body = JSON.parse(payload) as { code?: unknown, error?: unknown }
    const code = body.code ?? body.error
    return typeof code === 'string' ? code : undefined
  } catch {
    return undefined
  }
}

/** The codes a documented media object shows examples of (an example's value, by code or error). */
function exampleCodes (media: MediaObject): Set<string> {
  return new Set(Object.values(media.examples ?? {}).map((example) => codeOf(JSON.stringify(example.value ?? null))).filter((c) => c !== undefined))
}

function check (request: FastifyRequest, reply: FastifyReply) {
  const schema = request.routeOptions.schema as { operationId?: string, hide?: boolean, response?: Record<string, unknown> } | undefined
  const operationId = schema?.operationId
  if (operationId === undefined || schema?.hide === true) return
  const status = reply.statusCode
  const where = `${operationId} (${request.method} ${request.routeOptions.url ?? ''}) answered ${status}`
  const response = documented(schema?.response ?? {}, status)
  if (response === undefined) {
    violations.add(`${where}, which it does not document`)
    return
  }
  // The headers a response documents (a challenge, Retry-After, Location) come with it every time,
  // but for a 403's challenge: RFC 6750 sends it for a missing scope only.
  const absent = Object.keys(response.headers ?? {}).filter((name) => !reply.hasHeader(name) && !(status === 403 && name === 'WWW-Authenticate'))
  if (absent.length > 0) violations.add(`${where} without ${absent.join(', ')}`)
  const payload = payloads.get(request)
  // Node sends no body with these, whatever the handler gave.
  const empty = payload === undefined || payload === null || payload === '' || status === 204 || status === 304 || request.method === 'HEAD'
  if (empty) return
  const type = String(reply.getHeader('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
  // A response schema without `content` is JSON (application/json) to @fastify/swagger, one of type null no body.
  const content = response.content ?? (response.type === 'null' ? {} : { 'application/json': {} })
  const media = content[type]
  if (media === undefined) {
    violations.add(`${where} with ${type || 'no content type'}; documented: ${Object.keys(content).join(', ') || 'no body'}`)
    return
  }
  const code = status >= 400 ? codeOf(payload) : undefined
  if (code === undefined && media.examples !== undefined) {
    violations.add(`${where} with no error code`)
  } else if (code !== undefined && media.examples !== undefined && !exampleCodes(media).has(code)) {
    violations.add(`${where} with code ${code}, which is not among the documented examples for ${status}`)
  }
}

subscribe('fastify.initialization', (message) => {
  const app = (message as { fastify: FastifyInstance }).fastify
  // Named, so that a test of which hooks the plugin adds can tell these apart.
  app.addHook('onSend', async function openapiConformanceCapture (request, _reply, payload) {
    payloads.set(request, payload)
    return payload
  })
  app.addHook('onResponse', async function openapiConformanceCheck (request, reply) { check(request, reply) })
})

process.on('exit', () => {
  if (violations.size === 0) return
  process.stderr.write(`Answers the OpenAPI document does not describe:\n${[...violations].map((v) => `  - ${v}`).join('\n')}\n`)
  process.exitCode = 1
})
