// Calls that the generated types must refuse: each line after `@ts-expect-error` has to be a
// type error, else tsc fails on the unused directive. Only type-checked, never run.
import createClient from 'openapi-fetch'
import type { components, paths } from './schema.js'

type UserUpdate = components['schemas']['fastify-users.UserUpdate']

const client = createClient<paths>({ baseUrl: 'http://127.0.0.1' })

export async function wrongCalls (): Promise<void> {
  // @ts-expect-error: a registration needs a password
  await client.POST('/auth/register', { body: { email: 'someone@example.com' } })

  // @ts-expect-error: an item's name is a string
  await client.POST('/items', { body: { name: 42 } })

  // openapi-fetch lets excess properties of a body through (openapi-ts/openapi-typescript#2329);
  // the schema's own type does not: UserUpdate is additionalProperties: false.
  // @ts-expect-error: UserUpdate has no isSuperuser
  const update: UserUpdate = { email: 'someone@example.com', isSuperuser: true }
  await client.PATCH('/users/me', { body: update })

  // @ts-expect-error: a misspelt field of the token form (TokenRequest is closed to the types, open on the wire)
  const form: components['schemas']['fastify-users.TokenRequest'] = { grant_type: 'password', usernme: 'someone@example.com' }
  await client.POST('/oauth/token', { body: form })

  const registered = await client.POST('/auth/register', { body: { email: 'someone@example.com', password: 'long enough' } })
  if (registered.error) {
    // @ts-expect-error: register's 400 lists its own codes; an update's code is not one of them
    if (registered.error.code === 'UPDATE_USER_EMAIL_ALREADY_EXISTS') return
  }

  // @ts-expect-error: implicit is not a grant type of the token endpoint
  await client.POST('/oauth/token', { body: { grant_type: 'implicit', client_id: 'swagger-ui' } })

  // @ts-expect-error: no such path
  await client.GET('/user/me')

  const me = await client.GET('/users/me')
  if (me.error) {
    // @ts-expect-error: a problem's code is one of the documented codes, not any string
    if (me.error.code === 'NO_SUCH_CODE') return
    return
  }
  // @ts-expect-error: the User schema has no username
  console.log(me.data.username)
  // @ts-expect-error: createdAt is a date-time string, not a Date
  console.log(me.data.createdAt.getTime())

  const token = await client.POST('/oauth/token', {
    body: { grant_type: 'client_credentials', client_id: 'demo-service', client_secret: 'secret' },
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' }
  })
  // @ts-expect-error: an OAuth error is one of RFC 6749's codes
  if (token.error?.error === 'access_denied_by_policy') return

  const items = await client.GET('/items')
  // @ts-expect-error: data is undefined until the error is ruled out
  console.log(items.data.length)
  if (items.data) {
    // @ts-expect-error: under noUncheckedIndexedAccess an element may be undefined
    console.log(items.data[0].name)
  }
}
