import type { FastifyInstance } from 'fastify'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { redactingLogSerializers } from './log-redaction.js'
import type { UsersConfig } from './config.js'

/** Swagger UI's built-in OAuth client, public and first-party. */
export const SWAGGER_UI_CLIENT_ID = 'swagger-ui'

/**
 * @fastify/swagger and @fastify/swagger-ui, wired to our authorization server: the
 * oauth2 security scheme points at our endpoints and lists every scope that options
 * and routes declare, and Swagger UI's Authorize dialog is preset with our client.
 */
export async function setupOpenapi (app: FastifyInstance, config: UsersConfig) {
  if (config.docs === false) return
  const docs = config.docs

  const oauth2 = () => ({
    type: 'oauth2' as const,
    description: `Sign in through this server. Swagger UI's client id is "${SWAGGER_UI_CLIENT_ID}" (public, no secret).`,
    flows: {
      authorizationCode: {
        authorizationUrl: config.endpoints.authorize,
        tokenUrl: config.endpoints.token,
        refreshUrl: config.endpoints.token,
        scopes: { ...config.scopes }
      },
      password: { tokenUrl: config.endpoints.token, refreshUrl: config.endpoints.token, scopes: { ...config.scopes } }
    }
  })

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: docs.title, version: docs.version, description: docs.description },
      components: { securitySchemes: { oauth2: oauth2() } }
    },
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
      openapiObject.components = { ...openapiObject.components, securitySchemes: { ...openapiObject.components?.securitySchemes, oauth2: oauth2() } }
      return openapiObject
    }
  })

  await app.register(async function docsRoutes (scope) {
    // Swagger UI's redirect page receives our authorization codes in its URL.
    scope.addHook('onRoute', (route) => { route.logSerializers ??= redactingLogSerializers })
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
      routePrefix: config.prefix + docs.path,
      initOAuth: {
        clientId: SWAGGER_UI_CLIENT_ID,
        usePkceWithAuthorizationCodeGrant: true,
        // Pressing Authorize is a sign-in: with a browser session older than a recent sign-in
        // the login page asks again, so that the token can make sensitive account changes
        // (and a step-up challenge is answered by logging out and authorizing again in its dialog).
        additionalQueryStringParams: { max_age: String(config.recentSignInMaxAge) }
      },
      uiConfig: { persistAuthorization: false }
    })
  })
}
