// A client developer's program against the demo's API, written as one would write it: types
// generated from the served OpenAPI document (./schema.ts, by openapi-typescript) and requests
// made with openapi-fetch. It checks every answer itself, throws on anything unexpected, and
// prints a JSON summary as its last line. test/openapi-client.test.ts generates the schema next
// to a copy of this file, type-checks both under strict options, then runs it against the demo.
// Usage: node --import tsx client.ts <base URL>   (or API_BASE_URL in the environment)
import { randomUUID } from 'node:crypto'
import createClient from 'openapi-fetch'
import type { components, paths } from './schema.js'

type User = components['schemas']['fastify-users.User']
type TokenRequest = components['schemas']['fastify-users.TokenRequest']
type UserUpdate = components['schemas']['fastify-users.UserUpdate']

const baseUrl = process.argv[2] ?? process.env.API_BASE_URL
if (!baseUrl) throw new Error('usage: client.ts <base URL> (or API_BASE_URL in the environment)')

const SCOPE = 'openid items:read items:write'

/** An answer this program did not expect, with what the server said. */
function unexpected (what: string, response: Response, body: unknown): Error {
  return new Error(`${what}: unexpected ${response.status} ${JSON.stringify(body)}`)
}

function check (condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(message)
}

/** The token endpoint takes a form (RFC 6749 §3.2), not JSON: the typed body, serialized as one. */
function formBody (body: TokenRequest): URLSearchParams {
  const form = new URLSearchParams()
  for (const [name, value] of Object.entries(body)) {
    if (typeof value === 'string') form.set(name, value)
  }
  return form
}
const FORM = { bodySerializer: formBody, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } }

const anonymous = createClient<paths>({ baseUrl })

// Registration: a new local user.
const email = `client-${randomUUID()}@example.com`
const password = 'a password for the generated client'
const registered = await anonymous.POST('/auth/register', { body: { email, password } })
if (registered.error) throw unexpected('POST /auth/register', registered.response, registered.error)
const user: User = registered.data
check(registered.response.status === 201, `registered with ${registered.response.status}`)
check(user.email === email && !user.isVerified && !user.isSuperuser, `the new user: ${JSON.stringify(user)}`)

// The same email again: refused, and the program tells why by the problem's code.
const again = await anonymous.POST('/auth/register', { body: { email, password } })
if (!again.error) throw unexpected('POST /auth/register (the same email)', again.response, again.data)
let duplicate: string
switch (again.error.code) {
  case 'REGISTER_USER_ALREADY_EXISTS':
    duplicate = again.error.code
    break
  case 'REGISTER_INVALID_PASSWORD':
  case 'RATE_LIMITED':
  default:
    throw unexpected('POST /auth/register (the same email)', again.response, again.error)
}
check(again.response.status === 400 && again.error.status === 400, `refused with ${again.response.status}`)

// Without a token, the API says 401 with a problem body.
const noToken = await anonymous.GET('/users/me')
if (!noToken.error) throw unexpected('GET /users/me without a token', noToken.response, noToken.data)
check(noToken.response.status === 401 && noToken.error.code === 'AUTHENTICATION_REQUIRED', `without a token: ${JSON.stringify(noToken.error)}`)

// A token with the password grant, as the built-in first-party client swagger-ui.
const token = await anonymous.POST('/oauth/token', {
  body: { grant_type: 'password', client_id: 'swagger-ui', username: email, password, scope: SCOPE },
  ...FORM
})
if (token.error) throw unexpected('POST /oauth/token', token.response, token.error)
check(token.data.token_type === 'Bearer', `token_type ${token.data.token_type}`)
check(token.data.scope.split(' ').sort().join(' ') === SCOPE.split(' ').sort().join(' '), `granted scope ${token.data.scope}`)
check(token.data.expires_in > 0, `expires_in ${token.data.expires_in}`)

// A wrong password: the OAuth error body of RFC 6749 §5.2, its `error` a closed enum.
const refused = await anonymous.POST('/oauth/token', {
  body: { grant_type: 'password', client_id: 'swagger-ui', username: email, password: 'not the password', scope: SCOPE },
  ...FORM
})
if (!refused.error) throw unexpected('POST /oauth/token (a wrong password)', refused.response, refused.data)
check(refused.error.error === 'invalid_grant', `a wrong password: ${refused.error.error}`)

const api = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${token.data.access_token}` } })

const me = await api.GET('/users/me')
if (me.error) throw unexpected('GET /users/me', me.response, me.error)
check(me.data.id === user.id && me.data.email === email, `me: ${JSON.stringify(me.data)}`)

const listed = await api.GET('/items')
if (listed.error) throw unexpected('GET /items', listed.response, listed.error)
const first = listed.data[0]
check(first !== undefined && first.id === 1 && typeof first.name === 'string', `items: ${JSON.stringify(listed.data)}`)

const name = `made by ${email}`
const created = await api.POST('/items', { body: { name } })
if (created.error) throw unexpected('POST /items', created.response, created.error)
check(created.response.status === 201 && created.data.name === name, `created: ${JSON.stringify(created.data)}`)

const relisted = await api.GET('/items')
if (relisted.error) throw unexpected('GET /items', relisted.response, relisted.error)
check(relisted.data.some((item) => item.id === created.data.id && item.name === name), 'the new item is listed')

// A change of email with a wrong current password: refused, by its code.
const newEmail = `renamed-${randomUUID()}@example.com`
const wrongPassword = await api.PATCH('/users/me', { body: { email: newEmail, currentPassword: 'not the password' } })
if (!wrongPassword.error) throw unexpected('PATCH /users/me (a wrong current password)', wrongPassword.response, wrongPassword.data)
let refusedUpdate: string
if (wrongPassword.error.code === 'UPDATE_USER_INVALID_PASSWORD') refusedUpdate = wrongPassword.error.code
else throw unexpected('PATCH /users/me (a wrong current password)', wrongPassword.response, wrongPassword.error)

// With the current password it is made; a new address is no longer verified. (`satisfies`: openapi-fetch
// does not refuse a body's excess properties by itself, the schema's type does.)
const updated = await api.PATCH('/users/me', { body: { email: newEmail, currentPassword: password } satisfies UserUpdate })
if (updated.error) throw unexpected('PATCH /users/me', updated.response, updated.error)
check(updated.data.id === user.id && updated.data.email === newEmail && !updated.data.isVerified, `updated: ${JSON.stringify(updated.data)}`)
check(Date.parse(updated.data.updatedAt) >= Date.parse(user.updatedAt), 'updatedAt moves forward')

console.log(JSON.stringify({
  registered: { id: user.id, email },
  duplicate,
  anonymous: { status: noToken.response.status, code: noToken.error.code },
  token: { type: token.data.token_type, scope: token.data.scope, idToken: token.data.id_token !== undefined },
  wrongPassword: refused.error.error,
  me: me.data.email,
  items: relisted.data.length,
  created: created.data,
  refusedUpdate,
  updated: { email: updated.data.email, isVerified: updated.data.isVerified }
}))
