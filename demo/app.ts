import Fastify, { type FastifyServerOptions } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import fastifyUsers, { memoryStore, mongoStore, type UserStore } from '../index.js'

export const DEMO_USER = { email: 'demo@example.com', password: 'demo-password' }

export interface DemoOptions {
  issuer: string
  store?: UserStore
  logger?: FastifyServerOptions['logger']
}

const ItemSchema = Type.Object({ id: Type.Integer(), name: Type.String() }, { $id: 'Item', title: 'Item' })

/** The demo application: what `npm start` serves, and what the browser tests drive. */
export async function buildDemo ({ issuer, store, logger = false }: DemoOptions) {
  const app = Fastify({ logger }).withTypeProvider<TypeBoxTypeProvider>()

  await app.register(fastifyUsers, {
    issuer,
    store: store ?? (process.env.MONGODB_URL ? mongoStore({ url: process.env.MONGODB_URL }) : memoryStore()),
    scopes: {
      'items:read': 'Read items',
      'items:write': 'Create items'
    },
    // A password login that asks for no scope may read, not write.
    defaultScopes: ['items:read'],
    docs: { path: '/docs', title: 'fastify-users demo', version: '0.1.0' }
  })

  if (!await app.usersStore.getUserByEmail(DEMO_USER.email)) {
    await app.usersService.register(DEMO_USER, { isVerified: true })
  }

  const items: { id: number, name: string }[] = [{ id: 1, name: 'first item' }]
  app.addSchema(ItemSchema)

  app.get('/health', {
    schema: { tags: ['demo'], response: { 200: Type.Object({ status: Type.Literal('ok') }) } }
  }, async () => ({ status: 'ok' as const }))

  app.get('/items', {
    config: { auth: { scopes: ['items:read'] } },
    schema: { tags: ['demo'], summary: 'List items', response: { 200: Type.Array(Type.Ref(ItemSchema)) } }
  }, async () => items)

  app.post('/items', {
    config: { auth: { scopes: ['items:write'] } },
    schema: {
      tags: ['demo'],
      summary: 'Create an item',
      body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false }),
      response: { 201: Type.Ref(ItemSchema) }
    }
  }, async (request, reply) => {
    const item = { id: items.length + 1, name: request.body.name }
    items.push(item)
    return reply.code(201).send(item)
  })

  return app
}
