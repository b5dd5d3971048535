import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import configPlugin from './plugins/config.js'
import storePlugin from './plugins/store.js'
import tokensPlugin from './plugins/tokens.js'
import authPlugin from './plugins/auth.js'
import cookiesPlugin from './plugins/cookies.js'
import grantsPlugin from './plugins/grants.js'
import openapiPlugin from './plugins/openapi.js'
import providersPlugin from './plugins/providers.js'
import rateLimitPlugin from './plugins/rate-limit.js'
import { problemErrorHandler } from './plugins/errors.js'
import { useStrictValidation } from './plugins/validation.js'
import { redactingLogSerializers } from './plugins/log-redaction.js'
import wellKnownRoutes from './routes/well-known/index.js'
import oauthRoutes from './routes/oauth/index.js'
import authRoutes from './routes/auth/index.js'
import providerRoutes from './routes/auth/provider.js'
import usersRoutes from './routes/users/index.js'
import {
  AuthorizationServerMetadataSchema,
  IntrospectionResponseSchema,
  JwksSchema,
  OAuthErrorSchema,
  TokenResponseSchema,
  UserInfoSchema
} from './schemas/oauth.js'
import { ProblemSchema } from './schemas/problem.js'
import { OAuthAccountSchema, UserCreateSchema, UserSchema, UserUpdateSchema } from './schemas/user.js'
import type { FastifyUsersOptions } from './schemas/options.js'

export type { FastifyUsersOptions, ClientOption, SigningKeyOption } from './schemas/options.js'
export type { User, UserCreate, UserUpdate } from './schemas/user.js'
export type { Problem } from './schemas/problem.js'
export type { OAuthError, TokenResponse } from './schemas/oauth.js'
export type {
  UserStore, StoredUser, NewUser, UserChanges, StoredSigningKey,
  StoredGrant, StoredGrantFamily, StoredSession, GrantKind, FamilySelector
} from './stores/types.js'
export type { AuthRequirement, RequestAuth } from './plugins/auth.js'
export type { AccessTokenClaims } from './services/tokens.js'
export type { UsersConfig } from './plugins/config.js'
export type { MongoStoreOptions } from './stores/mongo.js'
export { EmailAlreadyExistsError, OAuthAccountExistsError, StoreUnavailableError, normalizeEmail } from './stores/types.js'
export type { StoredOAuthAccount, OAuthAccountChanges, StoredUpstreamState } from './stores/types.js'
export type { ProviderOption, UpstreamProfile } from './schemas/providers.js'
export type { OAuthLoginInfo } from './services/oauth-accounts.js'
export { memoryStore } from './stores/memory.js'
export { mongoStore } from './stores/mongo.js'
export { SUPERUSER_SCOPE, OIDC_SCOPES, ACCOUNT_SCOPE } from './plugins/config.js'
export { COOKIES } from './plugins/cookies.js'
export { SWAGGER_UI_CLIENT_ID } from './plugins/openapi.js'

const sharedSchemas = [
  UserSchema, UserCreateSchema, UserUpdateSchema, OAuthAccountSchema, ProblemSchema,
  TokenResponseSchema, OAuthErrorSchema, JwksSchema, AuthorizationServerMetadataSchema,
  IntrospectionResponseSchema, UserInfoSchema
]

const fastifyUsers: FastifyPluginAsync<FastifyUsersOptions> = async (app, options) => {
  await app.register(configPlugin, { raw: options })
  // Added at the app's root so that the OpenAPI document has one component per model
  // and the app's own routes can $ref them too.
  for (const schema of sharedSchemas) app.addSchema(schema)
  await app.register(storePlugin)
  await app.register(tokensPlugin)
  await app.register(grantsPlugin)
  await app.register(cookiesPlugin)
  await app.register(authPlugin)
  await app.register(openapiPlugin)
  await app.register(providersPlugin)

  const { prefix, bodyLimit } = app.usersConfig
  await app.register(async function fastifyUsersRoutes (scope) {
    useStrictValidation(scope)
    // Our endpoints take JSON (and forms, under /oauth): a text body is a wrong content type (415).
    scope.removeContentTypeParser('text/plain')
    scope.setErrorHandler(problemErrorHandler)
    await scope.register(rateLimitPlugin)
    scope.addHook('onRoute', (route) => {
      route.bodyLimit ??= bodyLimit
      route.logSerializers ??= redactingLogSerializers
    })
    // What a token shows of its user is for that token's holder only: never kept by a cache.
    scope.addHook('onSend', async (request, reply) => {
      if (request.routeOptions.config.auth !== undefined && !reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store')
    })
    await scope.register(wellKnownRoutes, { prefix: `${prefix}/.well-known` })
    await scope.register(oauthRoutes, { prefix: `${prefix}/oauth` })
    await scope.register(authRoutes, { prefix: `${prefix}/auth` })
    for (const provider of app.usersProviders.values()) {
      await scope.register(providerRoutes, { prefix: `${prefix}/auth/${provider.name}`, provider })
    }
    await scope.register(usersRoutes, { prefix: `${prefix}/users` })
  })
}

const plugin = fp(fastifyUsers, { name: 'fastify-users', fastify: '5.x' })
export default plugin
export { plugin as fastifyUsers }
