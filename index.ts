import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import { resolveConfig } from './plugins/config.js'
import { setupStore, setupUserService } from './plugins/store.js'
import { setupMail } from './plugins/mail.js'
import { setupTokens } from './plugins/tokens.js'
import { setupJwt } from './plugins/jwt.js'
import { setupAuth } from './plugins/auth.js'
import { setupCookies } from './plugins/cookies.js'
import { setupGrants } from './plugins/grants.js'
import { setupOpenapi } from './plugins/openapi.js'
import { setupProviders } from './plugins/providers.js'
import { setupRateLimit } from './plugins/rate-limit.js'
import type { FastifyUsers, PublicUsersConfig, UsersContext } from './plugins/context.js'
import { toPublicUser } from './services/users.js'
import { createEventBus } from './services/events.js'
import { createScopePolicy } from './services/scopes.js'
import { createAuthorization } from './services/authorization.js'
import { problemErrorHandler } from './plugins/errors.js'
import { useStrictValidation } from './plugins/validation.js'
import { redactingLogSerializers } from './plugins/log-redaction.js'
import wellKnownRoutes from './routes/well-known/index.js'
import oauthRoutes from './routes/oauth/index.js'
import authRoutes from './routes/auth/index.js'
import accountRoutes from './routes/account/index.js'
import providerRoutes from './routes/auth/provider.js'
import sessionRoutes from './routes/session/index.js'
import usersRoutes, { adminRoutes, clientAuthorizationRoutes } from './routes/users/index.js'
import {
  AuthorizationServerMetadataSchema,
  IntrospectionRequestSchema,
  IntrospectionResponseSchema,
  JwksSchema,
  OAuthErrorSchema,
  RevocationRequestSchema,
  TokenRequestSchema,
  TokenResponseSchema,
  UserInfoSchema
} from './schemas/oauth.js'
import { ProblemSchema } from './schemas/problem.js'
import { ClientAuthorizationSchema, OAuthAccountSchema, UserPageSchema } from './schemas/user.js'
import type { FastifyUsersOptions } from './schemas/options.js'

export type { FastifyUsersOptions, ClientOption, SigningKeyOption } from './schemas/options.js'
export type { User, UserCreate, UserUpdate, UserAdminUpdate, UserFields } from './schemas/user.js'
export type { Problem, ProblemCode } from './schemas/problem.js'
export { PROBLEM_CODES } from './schemas/problem.js'
export type { OAuthErrorBody, TokenResponse } from './schemas/oauth.js'
export type {
  UserStore, StoredUser, NewUser, UserChanges, StoredSigningKey,
  StoredGrant, StoredGrantFamily, StoredSession, GrantKind, FamilySelector
} from './stores/types.js'
export type { AuthRequirement, RequestAuth } from './plugins/auth.js'
export type { FastifyUsers, PublicUsersConfig, PublicClient, PublicProviderOption, UsersAccounts, UsersManager, UsersReadiness } from './plugins/context.js'
export type { UpdateProof } from './services/users.js'
export type { UsersKeys } from './plugins/tokens.js'
export type { UserService } from './services/users.js'
export type { AccessTokenClaims, VerifiedAccessToken } from './services/tokens.js'
export type { UsersEvents, UsersEventName, UsersEventListener } from './services/events.js'
export type { AccessTokenClaimsHook, AccessTokenClaimsInput, GrantType, OAuthLoginInfo } from './schemas/hooks.js'
export type { UsersConfig } from './plugins/config.js'
export type { MongoStoreOptions } from './stores/mongo.js'
export { normalizeEmail, userCursor, parseUserListQuery } from './stores/types.js'
export {
  UsersError, OAuthError, ERROR_CODES, ERROR_PREFIX,
  UserAlreadyExistsError, RegisterInvalidPasswordError, UpdateEmailAlreadyExistsError, UpdateInvalidPasswordError,
  UserNotFoundError, OAuthAccountNotFoundError, UnlinkLastLoginMethodError, StepUpRequiredError,
  CrossOriginRequestError, TooManyRequestsError, ServiceBusyError, InvalidTokenError, UpstreamLoginError,
  EmailAlreadyExistsError, OAuthAccountExistsError, StoreUnavailableError,
  VerifyUserBadTokenError, VerifyUserAlreadyVerifiedError, ResetPasswordBadTokenError, ResetPasswordInvalidPasswordError,
  InvalidCursorError, SelfAdministrationError, LastSuperuserError, DeleteRefusedError, ClientAuthorizationNotFoundError, SessionNotFoundError
} from './errors.js'
export type { ErrorCode, OAuthErrorCode } from './errors.js'
export type { StoredOAuthAccount, OAuthAccountChanges, StoredUpstreamState, UserListQuery, UserPage, UserListPosition, ParsedUserListQuery } from './stores/types.js'
export type { ProviderOption, UpstreamProfile } from './schemas/providers.js'
export { memoryStore } from './stores/memory.js'
export { mongoStore } from './stores/mongo.js'
export { SUPERUSER_SCOPE, OIDC_SCOPES, ACCOUNT_SCOPE } from './services/scopes.js'
export { COOKIES } from './plugins/cookies.js'
export { SWAGGER_UI_CLIENT_ID } from './plugins/openapi.js'

const sharedSchemas = [
  UserPageSchema, OAuthAccountSchema, ClientAuthorizationSchema, ProblemSchema,
  TokenResponseSchema, OAuthErrorSchema, JwksSchema, AuthorizationServerMetadataSchema,
  IntrospectionResponseSchema, UserInfoSchema, TokenRequestSchema, RevocationRequestSchema, IntrospectionRequestSchema
]

const fastifyUsers: FastifyPluginAsync<FastifyUsersOptions> = async (app, options) => {
  if (app.hasDecorator('users')) throw new Error('fastify-users: app.users is taken (registered twice, or by another plugin)')
  const config = resolveConfig(options)
  // Added at the app's root so that the OpenAPI document has one component per model
  // and the app's own routes can $ref them too.
  for (const schema of sharedSchemas) app.addSchema(schema)
  // The user models with the app's fields and password minimum, as its document shows them
  // (our routes validate bodies with a minimum of 1: the service answers with its own code).
  for (const schema of Object.values(config.userModels.documented)) app.addSchema(schema)
  const events = createEventBus((err, event) => app.log.error({ err, event }, 'fastify-users: an event listener failed'))
  const { store, ready } = await setupStore(app, config)
  const { tokens, keys } = await setupTokens(config, app.log)
  const manager = setupUserService(app, config, events, tokens, setupMail(app, config))
  await setupJwt(app, config, tokens)
  const scopes = createScopePolicy({ known: config.scopes, superuserScopes: config.superuserScopes, defaults: config.defaultScopes, allowedFor: config.allowedScopes })
  const { grants, sessions } = setupGrants(config, tokens, events, scopes)
  const cookies = setupCookies(config, tokens)
  const { providers, oauth, loginProviders, logins } = await setupProviders(config, events, app.log)
  const guard = setupAuth(app, config, store, tokens, { cookies, sessions, scopes }, oauth)
  await setupOpenapi(app, config)

  // The mailer's transport may hold SMTP credentials.
  const { cookieSecret: _cookieSecret, oauthTokenKey: _oauthTokenKey, signingKeys: _signingKeys, mailer: _mailer, userCache: _userCache, resourceServer, ...rest } = config
  const publicConfig: PublicUsersConfig = {
    ...rest,
    providers: config.providers.map(({ clientSecret: _secret, ...provider }) => provider),
    // The introspection credentials stay ours.
    ...(resourceServer && { resourceServer: { issuers: resourceServer.issuers.map(({ introspection, ...issuer }) => ({ ...issuer, ...(introspection && { introspection: { clientId: introspection.clientId } }) })) } }),
    clients: new Map([...config.clients].map(([id, { secretHash: _hash, ...client }]) => [id, client]))
  }
  app.decorate('users', {
    config: publicConfig,
    store,
    manager: {
      register: manager.register,
      async authenticate (email, password) {
        const user = await manager.authenticate(email, password)
        return user && toPublicUser(user)
      },
      update: manager.update
    },
    keys,
    accounts: { list: oauth.list, unlink: oauth.unlink, upstreamAccessToken: oauth.upstreamAccessToken },
    providers: [...providers.values()].map(({ name, label }) => ({ name, label })),
    verify: (token) => tokens.verifyAccessToken(token),
    guard,
    ready,
    on: events.on,
    off: events.off
  } satisfies FastifyUsers)

  const { paths, bodyLimit } = config
  // A resource server only: the external issuers sign people in, and nothing here issues tokens.
  if (!config.authorizationServer) return
  await app.register(async function fastifyUsersRoutes (scope) {
    useStrictValidation(scope)
    // Our endpoints take JSON (and forms, under /oauth): a text body is a wrong content type (415).
    scope.removeContentTypeParser('text/plain')
    scope.setErrorHandler(problemErrorHandler)
    await cookies.registerIn(scope)
    const limits = await setupRateLimit(scope, config.rateLimit)
    const authorization = createAuthorization({ store, sessions, grants, scopes, issuer: config.issuer })
    const ctx: UsersContext = { config, store, manager, tokens, keys, grants, sessions, cookies, providers, oauth, loginProviders, limits, scopes, authorization, logins }
    scope.addHook('onRoute', (route) => {
      route.bodyLimit ??= bodyLimit
      route.logSerializers ??= redactingLogSerializers
    })
    // What a token shows of its user is for that token's holder only: never kept by a cache.
    scope.addHook('onSend', async (request, reply) => {
      if (request.routeOptions.config.auth !== undefined && !reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store')
    })
    await scope.register(wellKnownRoutes, { prefix: paths.wellKnown, ctx })
    await scope.register(oauthRoutes, { prefix: paths.oauth, ctx })
    await scope.register(authRoutes, { prefix: paths.auth, ctx })
    await scope.register(accountRoutes, { prefix: paths.account, ctx })
    for (const provider of providers.values()) {
      await scope.register(providerRoutes, { prefix: paths.provider(provider.name).base, provider, ctx })
    }
    await scope.register(sessionRoutes, { prefix: config.prefix, ctx })
    await scope.register(usersRoutes, { prefix: paths.users, ctx })
    await scope.register(adminRoutes, { prefix: paths.users, ctx })
    await scope.register(clientAuthorizationRoutes, { prefix: paths.users, ctx })
  })
}

const plugin: FastifyPluginAsync<FastifyUsersOptions> = fp(fastifyUsers, { name: 'fastify-users', fastify: '5.x' })
export default plugin
export { plugin as fastifyUsers }
