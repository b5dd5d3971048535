import type { FastifyInstance } from 'fastify'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { redactingLogSerializers } from './log-redaction.js'
import { isLoopbackHostname, type UsersConfig } from './config.js'
import { COOKIES } from './cookies.js'

/** Swagger UI's built-in OAuth client, public and first-party. */
export const SWAGGER_UI_CLIENT_ID = 'swagger-ui'

// Said once at the top of the document, under the app's own description.
const HOW_TO_AUTHORIZE = `**Authorize** (top right) signs you in through this server with the \`oauth2\` scheme; the client id \`${SWAGGER_UI_CLIENT_ID}\` is prefilled and has no secret.
- *authorizationCode*: tick scopes and sign in on the page that opens (password, or a provider's button).
- *password*: your email and password.
In both, ticking no scope gives the default scopes, and scopes your user may not have are left out of the token (the token response's \`scope\` says what you got).
Open this page at the server's own address (its issuer): the sign-in page sends the code back only there.`

// The same, for a resource server only (authorizationServer: false).
const HOW_TO_AUTHORIZE_EXTERNAL = '**Authorize** (top right): sign in at the token issuer through its scheme (its client id for this page is in the scheme\'s description), or paste one of its access tokens under `bearer`.'

/** Our tags, described; the app's own routes may add theirs. */
const TAGS = [
  { name: 'oauth', description: 'The OAuth 2 / OpenID Connect authorization server: authorize, token, revocation, introspection, userinfo' },
  { name: 'discovery', description: 'Metadata and public keys, for clients and resource servers' },
  { name: 'auth', description: 'Local accounts and browser sessions: registration, email verification, password reset, logout, linking sign-in providers' },
  { name: 'users', description: 'The signed-in user and their linked provider accounts' },
  { name: 'admin', description: 'User administration: superusers, with a first-party token and the users:admin scope' }
]

/**
 * A scheme per external issuer Swagger UI may sign in at (resourceServer): OpenID Connect
 * discovery, read by Swagger UI itself, so that nothing of the issuer is needed at start.
 */
function externalSchemes (config: Pick<UsersConfig, 'resourceServer'>) {
  return Object.fromEntries((config.resourceServer?.issuers ?? [])
    .map((issuer, index) => [issuer, externalSchemeName(index)] as const)
    .filter(([issuer]) => issuer.swaggerUiClientId !== undefined)
    .map(([issuer, name]) => [name, {
      type: 'openIdConnect' as const,
      openIdConnectUrl: `${issuer.issuer}/.well-known/openid-configuration`,
      description: `Sign in at ${issuer.issuer}. Swagger UI's client id there is "${String(issuer.swaggerUiClientId)}" (public, PKCE): type it in the dialog.`
    }]))
}

/** The name of the security scheme of resourceServer.issuers[index]. */
export const externalSchemeName = (index: number) => index === 0 ? 'external' : `external${index + 1}`

/** Our oauth2 scheme: both flows at our endpoints, every scope options and routes declare. */
function oauth2Scheme (config: UsersConfig) {
  return {
    type: 'oauth2' as const,
    description: `Sign in through this server. Swagger UI's client id is "${SWAGGER_UI_CLIENT_ID}" (public, no secret).`,
    flows: {
      authorizationCode: {
        authorizationUrl: config.endpoints.authorize,
        tokenUrl: config.endpoints.token,
        refreshUrl: config.endpoints.token,
        scopes: { ...config.scopes }
      },
      // The password grant returns no refresh token: no refreshUrl.
      password: { tokenUrl: config.endpoints.token, scopes: { ...config.scopes } }
    }
  }
}

/**
 * Our security schemes: oauth2 (both flows at our endpoints) for the routes that take a
 * bearer token, and clientBasic (client_secret_basic) for the token, revocation and
 * introspection endpoints, where clients authenticate.
 */
function securitySchemes (config: UsersConfig) {
  if (!config.authorizationServer) {
    return {
      ...externalSchemes(config),
      bearer: { type: 'http' as const, scheme: 'bearer', description: `An access token of ${(config.resourceServer?.issuers ?? []).map((i) => i.issuer).join(', ')}` }
    }
  }
  return {
    ...externalSchemes(config),
    oauth2: oauth2Scheme(config),
    clientBasic: { type: 'http' as const, scheme: 'basic', description: 'Client authentication (RFC 6749 §2.3.1, client_secret_basic): client id and secret. Public clients send their client_id in the form instead.' },
    // Routes with config.auth.session: a browser signed in at /login (the cookie is HttpOnly: browsers send it themselves).
    sessionCookie: { type: 'apiKey' as const, in: 'cookie', name: COOKIES.session, description: `The browser session of ${config.paths.sessionLogin}; requests that change something must come from a page of this site` }
  }
}

/**
 * @fastify/swagger and @fastify/swagger-ui, wired to our authorization server: the
 * oauth2 security scheme points at our endpoints and lists every scope that options
 * and routes declare, and Swagger UI's Authorize dialog is preset with our client.
 * An app that registered its own @fastify/swagger first keeps it: its document gets our
 * paths (its onRoute hook sees them) and our security scheme, and nothing else of ours.
 */
export async function setupOpenapi (app: FastifyInstance, config: UsersConfig) {
  const schemes = () => securitySchemes(config)

  if (app.hasDecorator('swagger')) {
    addSecuritySchemes(app, schemes)
  } else if (config.docs !== false) {
    await registerSwagger(app, config, config.docs, schemes)
  }
  if (config.docs === false) return
  const docs = config.docs

  const ui = config.paths.docs(docs.path).ui
  const issuer = new URL(config.issuer)
  await app.register(async function docsRoutes (scope) {
    // Swagger UI's redirect page receives our authorization codes in its URL.
    scope.addHook('onRoute', (route) => { route.logSerializers ??= redactingLogSerializers })
    // Both flows only work from the issuer's origin: the code comes back only to the redirect
    // page registered there, and the token endpoint answers no other origin (no CORS). Opened
    // under another loopback name of a local issuer (127.0.0.1 for localhost, as the start-up
    // log prints it), the page is sent there. Only between loopback names: behind a proxy the
    // Host seen here may never be the issuer's, and a redirect would loop.
    if (isLoopbackHostname(issuer.hostname)) {
      scope.addHook('onRequest', async (request, reply) => {
        const path = request.url.split('?')[0]
        if (request.method !== 'GET' || (path !== ui && path !== `${ui}/`)) return
        if (isLoopbackHostname(request.hostname) && request.host !== issuer.host) return reply.redirect(`${issuer.origin}${request.url}`, 302)
      })
    }
    // Swagger UI holds a token of a first-party client: framed by another site, its buttons
    // could be clicked for the user (clickjacking). The app's own pages may still frame it.
    scope.addHook('onSend', async (_request, reply) => {
      const csp = reply.getHeader('content-security-policy')
      if (typeof csp === 'string' && csp !== '') {
        if (!/(^|;)\s*frame-ancestors\b/.test(csp)) reply.header('content-security-policy', `${csp}; frame-ancestors 'self'`)
      } else {
        reply.header('content-security-policy', "frame-ancestors 'self'")
      }
      reply.header('x-frame-options', 'SAMEORIGIN')
    })
    await scope.register(swaggerUi, {
      routePrefix: config.paths.docs(docs.path).ui,
      initOAuth: {
        // Prefilled in every scheme's dialog: ours, or else the first external issuer's.
        clientId: config.authorizationServer ? SWAGGER_UI_CLIENT_ID : config.resourceServer?.issuers.find((i) => i.swaggerUiClientId !== undefined)?.swaggerUiClientId ?? '',
        // The swagger-ui client's defaultMaxAge asks for a recent sign-in (see config).
        usePkceWithAuthorizationCodeGrant: true
      },
      uiConfig: { persistAuthorization: false }
    })
  })
}

type SecuritySchemes = () => ReturnType<typeof securitySchemes>
type Docs = Exclude<UsersConfig['docs'], false>

async function registerSwagger (app: FastifyInstance, config: Pick<UsersConfig, 'issuer' | 'authorizationServer'>, docs: Docs, schemes: SecuritySchemes) {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: docs.title,
        version: docs.version,
        description: [docs.description, config.authorizationServer ? HOW_TO_AUTHORIZE : HOW_TO_AUTHORIZE_EXTERNAL].filter(Boolean).join('\n\n'),
        ...(docs.license && { license: docs.license })
      },
      // Without an authorization server none of our routes is there to carry them.
      tags: config.authorizationServer ? TAGS : [],
      // The issuer is where the app's root is served: paths (the prefix included) follow it as they are.
      servers: [{ url: config.issuer, description: 'This server' }],
      components: { securitySchemes: schemes() }
    },
    stripBasePath: false,
    // Components named after the models' $id (User, Problem, ...) rather than def-N, so
    // that generated clients get meaningful type names.
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => typeof json.$id === 'string' ? json.$id : `def-${i}`
    },
    // Routes add their scopes as they are declared, after this registration: the
    // scheme is rebuilt when the document is.
    transformObject: (documentObject) => {
      if (!('openapiObject' in documentObject)) return documentObject.swaggerObject
      const { openapiObject } = documentObject
      openapiObject.components = { ...openapiObject.components, securitySchemes: { ...openapiObject.components?.securitySchemes, ...schemes() } }
      return openapiObject
    }
  })
}

/**
 * The app's document needs our scheme while it is built: @fastify/swagger looks each route's
 * security up in it then. A route's swaggerTransform runs before its operation is built, so
 * the first route after this point (one of ours, before any that needs the scheme) carries
 * one that puts the scheme in; the scopes are all known by then.
 */
function addSecuritySchemes (app: FastifyInstance, schemes: SecuritySchemes) {
  let carried = false
  app.addHook('onRoute', (route) => {
    if (carried || route.config?.swaggerTransform !== undefined) return
    carried = true
    route.config = {
      ...route.config,
      swaggerTransform: (document) => {
        if ('openapiObject' in document) {
          const components = (document.openapiObject.components ??= {})
          components.securitySchemes = { ...components.securitySchemes, ...schemes() }
        }
        return { schema: document.schema, url: document.url }
      }
    }
  })
}
