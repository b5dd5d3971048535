import { randomBytes } from 'node:crypto'
import Fastify, { type FastifyServerOptions } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import fastifyUsers, { memoryStore, mongoStore, type ProviderOption, type UserStore } from '../index.js'
import { startDemoIdp } from './idp.js'

export const DEMO_USER = { email: 'demo@example.com', password: 'demo-password' }
/** A superuser with the permission `admin`: administers users (/users) and deletes items. */
export const ADMIN_USER = { email: 'admin@example.com', password: 'admin-password' }

declare module 'fastify' {
  interface FastifyInstance {
    demoServiceSecret: string
  }
}

export interface DemoOptions {
  issuer: string
  store?: UserStore
  logger?: FastifyServerOptions['logger']
  /** The demo-service client's secret; default: env DEMO_SERVICE_SECRET, else a random one. */
  serviceSecret?: string
  /** Port of the Demo IdP on 127.0.0.1; default env DEMO_IDP_PORT, else any free port. false: no Demo IdP. */
  idpPort?: number | false
  /** Seconds a sign-in counts as recent for account changes; default the plugin's (300). */
  recentSignInMaxAge?: number
  /** Where mail goes: an SMTP URL; default env SMTP_URL, else each mail's links are logged. */
  smtpUrl?: string
}

/**
 * A nodemailer transport that sends nothing and logs who would get which links: the demo's
 * mail without a mail server. (Links hold one-time tokens: a real app never logs them.)
 */
function logTransport (log: (msg: string) => void) {
  return {
    name: 'demo-log',
    version: '1.0.0',
    send (mail: { data: { to?: unknown, subject?: unknown, text?: unknown } }, callback: (err: Error | null, info: object) => void) {
      const { to, subject, text } = mail.data
      const links = String(text ?? '').match(/https?:\/\/\S+/g) ?? []
      const recipients = [to].flat().map((r) => typeof r === 'object' && r !== null && 'address' in r ? String(r.address) : String(r))
      log(`Mail to ${recipients.join(', ')}: ${String(subject)}${links.length > 0 ? ` — ${[...new Set(links)].join(' ')}` : ''}`)
      callback(null, { messageId: `<demo-${Date.now()}@localhost>` })
    }
  }
}

/**
 * Real providers, switched on by their credentials in the environment. The redirect URI to
 * register at each is <issuer>/auth/<name>/callback (and /auth/<name>/associate/callback).
 */
function providersFromEnv (env: NodeJS.ProcessEnv): ProviderOption[] {
  const providers: ProviderOption[] = []
  const add = (name: string, type: ProviderOption['type'], prefix: string, extra: Partial<ProviderOption> = {}) => {
    const clientId = env[`${prefix}_CLIENT_ID`]
    const clientSecret = env[`${prefix}_CLIENT_SECRET`]
    if (clientId && clientSecret) providers.push({ name, type, clientId, clientSecret, ...extra })
  }
  add('github', 'github', 'GITHUB')
  add('google', 'google', 'GOOGLE')
  add('discord', 'discord', 'DISCORD')
  add('microsoft', 'microsoft', 'MICROSOFT', env.MICROSOFT_TENANT ? { tenant: env.MICROSOFT_TENANT } : {})
  if (env.OIDC_ISSUER) add('oidc', 'oidc', 'OIDC', { issuer: env.OIDC_ISSUER, label: env.OIDC_LABEL ?? 'OpenID Connect' })
  return providers
}

const DEMO_SCOPES = ['openid', 'email', 'profile', 'items:read', 'items:write']

/**
 * An external authorization server whose access tokens the demo accepts too (resource-server
 * mode), from EXTERNAL_ISSUER and EXTERNAL_AUDIENCE; opaque tokens need
 * EXTERNAL_INTROSPECTION_CLIENT_ID and _SECRET; EXTERNAL_CLIENT_ID is Swagger UI's client there.
 */
function externalIssuerFromEnv (env: NodeJS.ProcessEnv) {
  const issuer = env.EXTERNAL_ISSUER
  if (!issuer) return undefined
  const id = env.EXTERNAL_INTROSPECTION_CLIENT_ID
  const secret = env.EXTERNAL_INTROSPECTION_CLIENT_SECRET
  return {
    issuers: [{
      issuer,
      audience: env.EXTERNAL_AUDIENCE ?? issuer,
      ...(id && secret ? { introspection: { clientId: id, clientSecret: secret } } : {}),
      // The public client Swagger UI uses at that issuer: the document gets a scheme signing in there.
      ...(env.EXTERNAL_CLIENT_ID ? { swaggerUiClientId: env.EXTERNAL_CLIENT_ID } : {})
    }]
  }
}

const ItemSchema = Type.Object({ id: Type.Integer(), name: Type.String() }, { $id: 'Item', title: 'Item' })

/** The demo application: what `npm start` serves, and what the browser tests drive. */
export async function buildDemo ({ issuer, store, logger = false, serviceSecret, idpPort, recentSignInMaxAge, smtpUrl = process.env.SMTP_URL }: DemoOptions) {
  const app = Fastify({ logger }).withTypeProvider<TypeBoxTypeProvider>()
  const secret = serviceSecret ?? process.env.DEMO_SERVICE_SECRET ?? randomBytes(24).toString('base64url')

  // The Demo IdP: a local OpenID Connect provider, so that "Continue with Demo IdP" works
  // offline. It signs in any email with any password and says the email is verified.
  const providers = providersFromEnv(process.env)
  const port = idpPort ?? Number(process.env.DEMO_IDP_PORT ?? 0)
  let closeIdp: (() => Promise<void>) | undefined
  if (port !== false) {
    const idpSecret = randomBytes(24).toString('base64url')
    const idp = await startDemoIdp({
      port,
      clients: [{ clientId: 'fastify-users-demo', clientSecret: idpSecret, redirectUris: [`${issuer}/auth/demo-idp/callback`, `${issuer}/auth/demo-idp/associate/callback`] }],
      logger: (msg) => app.log.info(msg)
    })
    closeIdp = () => idp.close()
    app.addHook('onClose', closeIdp)
    providers.unshift({
      name: 'demo-idp',
      type: 'oidc',
      label: 'Demo IdP',
      issuer: idp.issuer,
      clientId: 'fastify-users-demo',
      clientSecret: idpSecret,
      // It says every email is verified; linking to existing users by email stays off, so
      // nobody takes over the demo user through it.
      isVerifiedByDefault: true
    })
  }

  try {
    await app.register(fastifyUsers, {
      issuer,
      store: store ?? (process.env.MONGODB_URL ? mongoStore({ url: process.env.MONGODB_URL }) : memoryStore()),
      scopes: {
        'items:read': 'Read items',
        'items:write': 'Create items'
      },
      // A password login that asks for no scope may read, not write.
      defaultScopes: ['items:read'],
      docs: { path: '/docs', title: 'fastify-users demo', version: '0.1.0', license: { name: 'MIT', identifier: 'MIT' } },
      clients: [
        // A native app (RFC 8252): public, PKCE, loopback redirect on whatever port it listens.
        { clientId: 'demo-cli', name: 'Demo CLI', redirectUris: ['http://127.0.0.1/callback'], grantTypes: ['authorization_code', 'refresh_token'], scopes: DEMO_SCOPES },
        // A backend service: confidential, acts for itself, may introspect tokens.
        { clientId: 'demo-service', name: 'Demo service', clientSecret: secret, grantTypes: ['client_credentials'], introspection: true, scopes: DEMO_SCOPES }
      ],
      providers,
      ...(externalIssuerFromEnv(process.env) && { resourceServer: externalIssuerFromEnv(process.env) }),
      // An empty SMTP_URL (an unset variable in a compose file) is no URL: mail is logged then.
      mailer: { transport: smtpUrl || logTransport((msg) => app.log.info(msg)), from: '"fastify-users demo" <no-reply@example.com>' },
      ...(recentSignInMaxAge !== undefined ? { recentSignInMaxAge } : {})
    })
  } catch (err) {
    // A failed start must not leave the Demo IdP listening.
    await closeIdp?.()
    throw err
  }
  app.decorate('demoServiceSecret', secret)

  if (!await app.users.store.getUserByEmail(DEMO_USER.email)) {
    await app.users.manager.register(DEMO_USER, { isVerified: true })
  }
  if (!await app.users.store.getUserByEmail(ADMIN_USER.email)) {
    await app.users.manager.register(ADMIN_USER, { isVerified: true, isSuperuser: true, permissions: ['admin'] })
  }

  const items: { id: number, name: string }[] = [{ id: 1, name: 'first item' }]
  app.addSchema(ItemSchema)

  // Someone who opens the server's root is looking for the docs.
  app.get('/', { schema: { hide: true } }, async (_request, reply) => reply.redirect('/docs', 302))

  app.get('/health', {
    schema: { tags: ['demo'], operationId: 'getHealth', summary: 'Is the service up', security: [], response: { 200: Type.Object({ status: Type.Literal('ok') }, { description: 'It is' }) } }
  }, async () => ({ status: 'ok' as const }))

  // Reading needs no user: a backend service (demo-service, client_credentials) or an external
  // issuer's token (EXTERNAL_ISSUER) may list the items too.
  app.get('/items', {
    config: { auth: { scopes: ['items:read'], clients: true } },
    schema: { tags: ['demo'], operationId: 'listItems', summary: 'List items', response: { 200: Type.Array(Type.Ref(ItemSchema), { description: 'Every item' }) } }
  }, async () => items)

  app.post('/items', {
    config: { auth: { scopes: ['items:write'] } },
    schema: {
      tags: ['demo'],
      operationId: 'createItem',
      summary: 'Create an item',
      body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false }),
      response: {
        201: Type.Ref(ItemSchema, { description: 'The new item' }),
        // The app's own routes answer with Fastify's error format; only the guard's answers are ours.
        400: Type.Object({
          statusCode: Type.Integer(),
          code: Type.String({ examples: ['FST_ERR_VALIDATION'] }),
          error: Type.String(),
          message: Type.String({ examples: ['body/name must NOT have fewer than 1 characters'] })
        }, { description: 'An invalid item (Fastify\'s error format)' })
      }
    }
  }, async (request, reply) => {
    const item = { id: Math.max(0, ...items.map((i) => i.id)) + 1, name: request.body.name }
    items.push(item)
    return reply.code(201).send(item)
  })

  // A page of the app itself: a signed-in browser (GET /login?return_to=/privileged) or a bearer token.
  app.get('/privileged', {
    config: { auth: { scopes: ['items:read'], session: true } },
    schema: {
      tags: ['demo'],
      operationId: 'getPrivileged',
      summary: 'Who is signed in (session cookie or bearer token)',
      response: { 200: Type.Object({ email: Type.String(), via: Type.String() }, { description: 'The signed-in user' }) }
    }
  }, async (request) => ({ email: (request.auth?.user as { email: string }).email, via: request.auth?.clientId ?? '' }))

  app.delete('/items/:id', {
    config: { auth: { scopes: ['items:write'], permissions: ['admin'] } },
    schema: {
      tags: ['demo'],
      operationId: 'deleteItem',
      summary: 'Delete an item',
      params: Type.Object({ id: Type.Integer() }),
      response: { 204: Type.Null({ description: 'Deleted' }), 404: Type.Object({ message: Type.String() }, { description: 'No such item' }) }
    }
  }, async (request, reply) => {
    const index = items.findIndex((i) => i.id === request.params.id)
    if (index === -1) return reply.code(404).send({ message: 'No such item' })
    items.splice(index, 1)
    return reply.code(204).send(null)
  })

  return app
}
