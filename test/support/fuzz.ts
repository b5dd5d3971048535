import assert from 'node:assert/strict'
import fc from 'fast-check'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import type { TSchema } from '@sinclair/typebox'
import { ConsentFormSchema, LoginFormSchema } from '../../schemas/authorize.js'

/** JSON Schema as the OpenAPI document gives it, as far as we read it. */
type Schema = Record<string, unknown> & {
  $ref?: string
  type?: string | string[]
  properties?: Record<string, Schema>
  required?: string[]
  items?: Schema
  anyOf?: Schema[]
  oneOf?: Schema[]
  enum?: unknown[]
  const?: unknown
  format?: string
  minLength?: number
  maxLength?: number
  minimum?: number
  maximum?: number
}

export interface Operation {
  method: string
  path: string
  query: Record<string, Schema>
  pathParams: Record<string, Schema>
  /** content type → schema */
  body: Record<string, Schema>
}

interface OpenApi { paths: Record<string, Record<string, { parameters?: { in: string, name: string, schema: Schema }[], requestBody?: { content: Record<string, { schema: Schema }> } }>>, components: { schemas: Record<string, Schema> } }

/** Every operation of the document, and the hidden form routes of our pages, which it leaves out. */
export function operations (doc: OpenApi): Operation[] {
  const ops: Operation[] = []
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const params = op.parameters ?? []
      ops.push({
        method: method.toUpperCase(),
        path,
        query: Object.fromEntries(params.filter((p) => p.in === 'query').map((p) => [p.name, p.schema])),
        pathParams: Object.fromEntries(params.filter((p) => p.in === 'path').map((p) => [p.name, p.schema])),
        body: Object.fromEntries(Object.entries(op.requestBody?.content ?? {}).map(([type, c]) => [type, c.schema]))
      })
    }
  }
  const form = 'application/x-www-form-urlencoded'
  ops.push({ method: 'POST', path: '/oauth/login', query: {}, pathParams: {}, body: { [form]: LoginFormSchema as TSchema as Schema } })
  ops.push({ method: 'POST', path: '/oauth/consent', query: {}, pathParams: {}, body: { [form]: ConsentFormSchema as TSchema as Schema } })
  return ops
}

const weirdString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('', ' ', '__proto__', 'constructor', 'toString', '{"$ne":null}', '%zz', '\u0000', '\u200b', 'a'.repeat(5000), '../../etc/passwd', '<script>x</script>', 'Bearer x', '€'.repeat(300))
)

/**
 * Values that mean something to the server, by field name (a client id it knows, a grant type,
 * the test user's email and password): without them almost every request would stop at the
 * first check, and the handlers behind it would never be reached.
 */
export type Hints = Record<string, fc.Arbitrary<string>>
let hints: Hints = {}

/** Values the schema allows, roughly, with its bounds; a hinted field often gets a meaningful value. */
function valid (schema: Schema, doc: OpenApi, depth = 0, field?: string): fc.Arbitrary<unknown> {
  const hint = field === undefined ? undefined : hints[field]
  if (hint !== undefined) return fc.oneof({ weight: 3, arbitrary: hint }, { weight: 1, arbitrary: valid(schema, doc, depth) })
  if (schema.$ref !== undefined) {
    const name = schema.$ref.replace(/^#\/components\/schemas\//, '').replace(/#$/, '')
    const target = doc.components.schemas[name]
    return target === undefined ? fc.anything() : valid(target, doc, depth)
  }
  if (schema.const !== undefined) return fc.constant(schema.const)
  if (schema.enum !== undefined) return fc.constantFrom(...schema.enum)
  const alternatives = schema.anyOf ?? schema.oneOf
  if (alternatives !== undefined) return fc.oneof(...alternatives.map((s) => valid(s, doc, depth)))
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type
  switch (type) {
    case 'string':
      if (schema.format === 'email') return fc.emailAddress()
      if (schema.format === 'date-time') return fc.date({ noInvalidDate: true }).map((d) => d.toISOString())
      if (schema.format === 'uri') return fc.webUrl()
      return fc.string({ minLength: schema.minLength ?? 0, maxLength: Math.min(schema.maxLength ?? 40, 40) })
    case 'integer': return fc.integer({ min: schema.minimum ?? -1e6, max: schema.maximum ?? 1e6 })
    case 'number': return fc.double({ noNaN: true })
    case 'boolean': return fc.boolean()
    case 'null': return fc.constant(null)
    case 'array': return depth > 3 ? fc.constant([]) : fc.array(valid(schema.items ?? {}, doc, depth + 1), { maxLength: 4 })
    case 'object': {
      if (depth > 3) return fc.constant({})
      const props = schema.properties ?? {}
      const record = Object.fromEntries(Object.entries(props).map(([k, s]) => [k, valid(s, doc, depth + 1, k)]))
      // Hinted fields are always there (the mutations still drop them now and then).
      return fc.record(record, { requiredKeys: Object.keys(props).filter((k) => (schema.required ?? []).includes(k) || k in hints) })
    }
    default: return fc.anything({ maxDepth: 2 })
  }
}

/** A valid value, or one broken in one of the ways clients and attackers break them. */
function body (schema: Schema, doc: OpenApi): fc.Arbitrary<unknown> {
  const good = valid(schema, doc)
  return fc.oneof(
    { weight: 3, arbitrary: good },
    {
      weight: 4,
      arbitrary: fc.tuple(good, fc.nat(5), weirdString, fc.anything({ maxDepth: 3 })).map(([value, how, text, anything]) => {
        if (value === null || typeof value !== 'object' || Array.isArray(value)) return how % 2 === 0 ? text : anything
        const copy: Record<string, unknown> = { ...value as Record<string, unknown> }
        const keys = Object.keys(copy)
        const key = keys[how % Math.max(1, keys.length)]
        switch (how) {
          case 0: copy[text] = anything; break
          case 1: if (key !== undefined) delete copy[key]; break
          case 2: if (key !== undefined) copy[key] = anything; break
          case 3: if (key !== undefined) copy[key] = text; break
          case 4: return JSON.parse('{"__proto__":{"isSuperuser":true},"constructor":{"prototype":{"x":1}}}')
          default: return [copy]
        }
        return copy
      })
    }
  )
}

const contentTypes = fc.constantFrom(
  undefined, 'application/json', 'application/x-www-form-urlencoded', 'text/plain', 'application/json; charset=utf-16',
  'multipart/form-data; boundary=x', 'application/xml', 'garbage', 'application/x-www-form-urlencoded; charset=latin1'
)

function encode (value: unknown, type: string | undefined, how: number): string | Buffer | undefined {
  switch (how) {
    case 0: return undefined
    case 1: return Buffer.from([0xff, 0xfe, 0x7b, 0x22, 0xc3, 0x28])
    case 2: return JSON.stringify(value ?? null).slice(0, -1)
  }
  if (type?.startsWith('application/x-www-form-urlencoded') && value !== null && typeof value === 'object') {
    const params = new URLSearchParams()
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) params.append(k, typeof v === 'string' ? v : JSON.stringify(v) ?? '')
    return how === 3 ? `${params.toString()}&${params.toString()}` : params.toString()
  }
  return JSON.stringify(value ?? null)
}

/** Requests for one operation: its parameters, body, content type and headers, valid or not. */
export function requests (op: Operation, doc: OpenApi, credentials: fc.Arbitrary<Record<string, string>>): fc.Arbitrary<InjectOptions> {
  const query = fc.record(Object.fromEntries(Object.entries(op.query).map(([k, s]) => [k, fc.oneof({ weight: 3, arbitrary: valid(s, doc, 0, k).map(String) }, { weight: 1, arbitrary: weirdString })])), { requiredKeys: [] })
  const extraQuery = fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), weirdString, { maxKeys: 2 })
  const pathValues = fc.record(Object.fromEntries(Object.keys(op.pathParams).map((k) => [k, fc.oneof(fc.constantFrom('idp', 'github'), weirdString)])))
  const declared = Object.keys(op.body)
  const bodyArb = declared.length > 0 ? body(op.body[declared[0] as string] as Schema, doc) : fc.anything({ maxDepth: 2 })
  return fc.record({
    query,
    extraQuery,
    pathValues,
    value: bodyArb,
    credentials,
    type: declared.length > 0 ? fc.oneof({ weight: 4, arbitrary: fc.constant(declared[0]) }, { weight: 1, arbitrary: contentTypes }) : contentTypes,
    how: fc.nat(11),
    origin: fc.constantFrom(undefined, 'http://localhost:3000', 'https://evil.example', 'null')
  }).map(({ query, extraQuery, pathValues, value, credentials, type, how, origin }) => {
    const path = op.path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(String(pathValues[name] ?? 'x')).replace(/\./g, '%2E'))
    const search = new URLSearchParams()
    for (const [k, v] of Object.entries({ ...extraQuery, ...query })) search.append(k, String(v))
    const headers: Record<string, string> = { ...credentials }
    if (type !== undefined) headers['content-type'] = type
    if (origin !== undefined) headers.origin = origin
    const payload = op.method === 'GET' || op.method === 'DELETE' ? (how === 5 ? 'x' : undefined) : encode(value, type, how)
    return { method: op.method as InjectOptions['method'], url: search.size > 0 ? `${path}?${search.toString()}` : path, headers, payload }
  })
}

const OAUTH_ERRORS = new Set([
  'invalid_request', 'invalid_client', 'invalid_grant', 'unauthorized_client', 'unsupported_grant_type',
  'invalid_scope', 'unsupported_token_type', 'server_error', 'temporarily_unavailable', 'slow_down'
])
// Our browser routes answer every failure with a page; the OAuth endpoints with RFC 6749
// bodies, except userinfo, a protected resource, whose errors are problem JSON as on every
// other guarded route.
const PAGE_ROUTES = /^\/(oauth\/(authorize|login|consent)|auth\/[^/]+\/(authorize|callback|associate\/callback))(\?|$)/

/** No 5xx; every 4xx in the shape its route promises: a page, an RFC 6749 body or RFC 9457 problem JSON. */
export function checkAnswer (request: InjectOptions, res: LightMyRequestResponse) {
  const what = `${request.method} ${String(request.url).slice(0, 120)} (${String(request.headers?.['content-type'])}): ${res.statusCode} ${res.body.slice(0, 300)}`
  assert.ok(res.statusCode < 500, what)
  if (res.statusCode < 400) return
  // A path parameter over Fastify's maxParamLength is refused by the app's router, before any
  // route of ours is found: its answer is the app's (frameworkErrors), not ours.
  if (res.statusCode === 414 && res.json().code === 'FST_ERR_MAX_PARAM_LENGTH') return
  const type = String(res.headers['content-type'])
  const url = String(request.url)
  if (PAGE_ROUTES.test(url)) {
    assert.match(type, /^text\/html/, what)
    return
  }
  if (url.startsWith('/oauth/') && !url.startsWith('/oauth/userinfo')) {
    assert.match(type, /^application\/json/, what)
    const errorBody = res.json() as Record<string, unknown>
    assert.ok(Object.keys(errorBody).every((k) => k === 'error' || k === 'error_description'), what)
    assert.ok(OAUTH_ERRORS.has(errorBody.error as string), what)
    return
  }
  assert.match(type, /^application\/problem\+json/, what)
  const problem = res.json() as Record<string, unknown>
  assert.equal(problem.status, res.statusCode, what)
  assert.equal(typeof problem.title, 'string', what)
  assert.equal(typeof problem.detail, 'string', what)
}

/** Runs `runs` generated requests across every operation (seeded: the same requests each time). */
export async function fuzzApp (app: FastifyInstance, runs: number, seed: number, credentials: fc.Arbitrary<Record<string, string>>, fieldHints: Hints = {}) {
  hints = fieldHints
  const doc = (await app.inject('/docs/json')).json() as OpenApi
  const ops = operations(doc)
  const arbitrary = fc.oneof(...ops.map((op) => requests(op, doc, credentials)))
  let count = 0
  // What the run reached, by route and status: a run that only ever met 415 would prove little.
  const seen = new Map<string, number>()
  const details = await fc.check(fc.asyncProperty(arbitrary, async (request) => {
    count++
    const res = await app.inject(request)
    const key = `${request.method} ${String(request.url).split('?')[0]?.replace(/oauth-accounts\/.*/, 'oauth-accounts/…')} ${res.statusCode}`
    seen.set(key, (seen.get(key) ?? 0) + 1)
    checkAnswer(request, res)
  }), { seed, numRuns: runs, endOnFailure: true })
  if (details.failed) {
    const error = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance)
    assert.fail(`after ${details.numRuns} requests (seed ${seed}, path ${details.counterexamplePath}): ${error}`)
  }
  return { operations: ops.length, count, seen }
}
