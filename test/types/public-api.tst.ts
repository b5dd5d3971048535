// Type tests of the published declarations: test/package.test.ts runs them with tstyche in a
// project that installed the packed tarball, so 'fastify-users' is dist/*.d.ts as an npm user
// gets it (in this repository it resolves to dist/ by self-reference, once built).
import type {
  FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest, onRequestAsyncHookHandler, RouteShorthandOptions
} from 'fastify'
import { describe, expect, test } from 'tstyche'
import fastifyUsers, {
  fastifyUsers as namedFastifyUsers,
  memoryStore,
  mongoStore,
  normalizeEmail,
  ACCOUNT_SCOPE,
  COOKIES,
  SUPERUSER_SCOPE,
  SWAGGER_UI_CLIENT_ID,
  CrossOriginRequestError,
  EmailAlreadyExistsError,
  InvalidTokenError,
  OAuthAccountExistsError,
  OAuthAccountNotFoundError,
  OAuthError,
  RegisterInvalidPasswordError,
  ServiceBusyError,
  StepUpRequiredError,
  StoreUnavailableError,
  TooManyRequestsError,
  UnlinkLastLoginMethodError,
  UpdateEmailAlreadyExistsError,
  UpdateInvalidPasswordError,
  UserAlreadyExistsError,
  UserNotFoundError,
  UpstreamLoginError,
  UsersError,
  ERROR_CODES,
  PROBLEM_CODES,
  type AccessTokenClaims,
  type Problem,
  type ProblemCode,
  type AuthRequirement,
  type ErrorCode,
  type OAuthErrorCode,
  type FastifyUsers,
  type FastifyUsersOptions,
  type PublicUsersConfig,
  type RequestAuth,
  type StoredOAuthAccount,
  type User,
  type UserStore,
  type UsersReadiness,
  type VerifiedAccessToken
} from 'fastify-users'
import { storeContract } from 'fastify-users/testing'

declare const app: FastifyInstance
declare const request: FastifyRequest
declare const reply: FastifyReply
declare const auth: RequestAuth

const options = { issuer: 'https://api.example.com', store: memoryStore() }

describe('the plugin', () => {
  test('the default export is a Fastify plugin taking FastifyUsersOptions', () => {
    expect(fastifyUsers).type.toBe<FastifyPluginAsync<FastifyUsersOptions>>()
    expect(namedFastifyUsers).type.toBe<FastifyPluginAsync<FastifyUsersOptions>>()
  })

  test('registers with its options', () => {
    expect(app.register(fastifyUsers, options)).type.not.toRaiseError()
    expect(app.register(fastifyUsers, {
      ...options,
      scopes: { 'items:read': 'Read items' },
      defaultScopes: ['items:read'],
      docs: { path: '/docs' }
    })).type.not.toRaiseError()
  })

  test('a wrong option type is an error', () => {
    expect(app.register(fastifyUsers, { ...options, issuer: 123 })).type.toRaiseError("Type 'number' is not assignable to type 'string'")
    expect(app.register(fastifyUsers, { ...options, defaultScopes: 'items:read' })).type.toRaiseError()
  })

  test('store is required, and must be a UserStore', () => {
    expect(app.register(fastifyUsers, { issuer: 'https://api.example.com' })).type.toRaiseError("Property 'store' is missing")
    expect(app.register(fastifyUsers, { issuer: 'https://api.example.com', store: {} })).type.toRaiseError()
    expect<FastifyUsersOptions['store']>().type.toBe<UserStore>()
    // An environment variable that may be unset is a fine value for an optional option.
    expect({ issuer: 'http://localhost', store: memoryStore(), audience: process.env.AUDIENCE }).type.toBeAssignableTo<FastifyUsersOptions>()
  })

  test('the stores are UserStores', () => {
    expect(memoryStore()).type.toBe<UserStore>()
    expect(mongoStore({ url: 'mongodb://localhost:27017' })).type.toBe<UserStore>()
    expect(normalizeEmail).type.toBe<(email: string) => string>()
  })
})

describe('app.users', () => {
  test('is FastifyUsers once fastify-users is imported', () => {
    expect(app.users).type.toBe<FastifyUsers>()
  })

  test('config is the resolved options, read-only and without secrets', () => {
    expect(app.users.config).type.toBe<PublicUsersConfig>()
    expect(app.users.config.issuer).type.toBe<string>()
    expect(app.users.config.cookieSecret).type.toRaiseError("Property 'cookieSecret' does not exist")
    expect(app.users.config.oauthTokenKey).type.toRaiseError("Property 'oauthTokenKey' does not exist")
    expect(app.users.config.signingKeys).type.toRaiseError("Property 'signingKeys' does not exist")
    expect(app.users.config.providers[0]?.clientSecret).type.toRaiseError("Property 'clientSecret' does not exist")
    expect(app.users.config.clients.get('spa')?.secretHash).type.toRaiseError("Property 'secretHash' does not exist")
    expect(app.users.config.issuer = 'https://other.example.com').type.toRaiseError('read-only')
  })

  test('manager, keys, accounts', () => {
    expect(app.users.store).type.toBe<UserStore>()
    expect(app.users.manager.register({ email: 'a@example.com', password: 'a long password' })).type.toBe<Promise<User>>()
    expect(app.users.manager.register({ email: 'a@example.com', password: 'a long password' }, { isSuperuser: true, isVerified: true }))
      .type.toBe<Promise<User>>()
    expect(app.users.manager.register({ email: 'a@example.com' })).type.toRaiseError()
    expect(app.users.manager.authenticate('a@example.com', 'a long password')).type.toBe<Promise<User | null>>()
    expect(app.users.manager.update('user id', { email: 'b@example.com' }, { authTime: 1 })).type.toBe<Promise<User>>()
    expect(app.users.keys.rotate()).type.toBe<Promise<string>>()
    expect(app.users.keys.retire('kid')).type.toBe<Promise<boolean>>()
    expect(app.users.accounts.upstreamAccessToken('user id', 'github')).type.toBe<Promise<string | null>>()
    expect(app.users.accounts.list('user id')).type.toBe<Promise<StoredOAuthAccount[]>>()
    expect(app.users.providers).type.toBe<ReadonlyArray<{ readonly name: string, readonly label: string }>>()
  })

  test('events are typed by name', () => {
    app.users.on('login', (event) => {
      expect(event.user).type.toBe<User>()
      expect(event.method).type.toBe<'password' | 'provider'>()
    })
    app.users.on('tokenIssued', (event) => {
      expect(event.userId).type.toBe<string | null>()
    })
    expect(app.users.on('no-such-event', () => {})).type.toRaiseError()
  })

  test('verify resolves a VerifiedAccessToken', () => {
    expect(app.users.verify('token')).type.toBe<Promise<VerifiedAccessToken>>()
    expect<VerifiedAccessToken['scopes']>().type.toBe<ReadonlySet<string>>()
    expect<VerifiedAccessToken['claims']>().type.toBe<Readonly<AccessTokenClaims>>()
  })

  test('guard(requirement) is an onRequest hook', () => {
    expect(app.users.guard({ scopes: ['a'] })).type.toBeAssignableTo<onRequestAsyncHookHandler>()
    expect(app.users.guard()).type.toBeAssignableTo<onRequestAsyncHookHandler>()
    expect(app.users.guard(true)).type.toBeAssignableTo<onRequestAsyncHookHandler>()
    expect(app.users.guard({ scopes: 'a' })).type.toRaiseError()
    expect(app.get('/by-hand', { onRequest: [app.users.guard({ scopes: ['a'] })] }, async () => 'ok')).type.not.toRaiseError()
    expect(app.get('/by-hand', { onRequest: app.users.guard({ superuser: true }) }, async () => 'ok')).type.not.toRaiseError()
    expect(app.addHook('onRequest', app.users.guard({ verified: true }))).type.not.toRaiseError()
    // The factory itself is no hook (it fails at start-up): call it.
    expect(app.get('/uncalled', { onRequest: app.users.guard }, async () => 'ok')).type.toRaiseError()
    expect(app.get('/uncalled', { onRequest: [app.users.guard] }, async () => 'ok')).type.toRaiseError()
    expect(app.addHook('onRequest', app.users.guard)).type.toRaiseError()
  })

  test('ready() resolves the readiness', () => {
    expect(app.users.ready()).type.toBe<Promise<UsersReadiness>>()
    expect<UsersReadiness['store']>().type.toBe<'up' | 'down'>()
  })

  test('the plugin\'s internals are not on the instance', () => {
    expect(app.usersGrants).type.toRaiseError("Property 'usersGrants' does not exist")
    expect(app.usersCookies).type.toRaiseError("Property 'usersCookies' does not exist")
    expect(app.usersSessions).type.toRaiseError("Property 'usersSessions' does not exist")
    expect(app.usersTokens).type.toRaiseError("Property 'usersTokens' does not exist")
    expect(app.authenticate).type.toRaiseError("Property 'authenticate' does not exist")
    expect(app.users).type.not.toHaveProperty('tokens')
    expect(app.users).type.not.toHaveProperty('grants')
    expect(app.users).type.not.toHaveProperty('sessions')
    expect(app.users).type.not.toHaveProperty('cookies')
    expect(app.users).type.not.toHaveProperty('limits')
    expect(app.users).type.not.toHaveProperty('oauth')
    expect(app.users.accounts).type.not.toHaveProperty('link')
  })
})

describe('config.auth on routes', () => {
  test('a requirement compiles', () => {
    expect(app.get('/a', { config: { auth: { scopes: ['x'], recentSignIn: 300 } } }, async () => 'ok')).type.not.toRaiseError()
    expect(app.get('/a', { config: { auth: { recentSignIn: true, account: true, verified: true } } }, async () => 'ok'))
      .type.not.toRaiseError()
    expect(app.get('/a', { config: { auth: true } }, async () => 'ok')).type.not.toRaiseError()
    expect(app.route({ method: 'POST', url: '/a', config: { auth: { superuser: true, clients: true } }, handler: async () => 'ok' }))
      .type.not.toRaiseError()
  })

  test('a wrong requirement is an error', () => {
    expect(app.get('/a', { config: { auth: { scopes: 'x' } } }, async () => 'ok')).type.toRaiseError("Type 'string' is not assignable to type 'readonly string[]'")
    expect(app.get('/a', { config: { auth: { recentSignIn: '300' } } }, async () => 'ok')).type.toRaiseError()
    // Inline in app.get() Fastify infers the route's context config from the literal itself,
    // so there a non-object value (auth: false, auth: 12) compiles; typed options catch it.
    expect({ config: { auth: false } }).type.not.toBeAssignableTo<RouteShorthandOptions>()
    expect({ config: { auth: { scopes: ['x'], recentSignIn: 300 } } }).type.toBeAssignableTo<RouteShorthandOptions>()
  })

  test('the route\'s requirement is readable', () => {
    expect(request.routeOptions.config.auth).type.toBe<AuthRequirement | undefined>()
  })
})

describe('request.auth', () => {
  test('is RequestAuth | null', () => {
    expect(request.auth).type.toBe<RequestAuth | null>()
    expect(request.auth?.user).type.toBe<User | null | undefined>()
    expect(auth.user).type.toBe<User | null>()
    expect(auth.scopes).type.toBe<ReadonlySet<string>>()
    expect(auth.clientId).type.toBe<string>()
    expect(auth.claims).type.toBe<Readonly<AccessTokenClaims>>()
    expect(auth.claims.sub).type.toBe<string>()
  })

  test('the user has its public fields, and no secrets', () => {
    // Assignable, not the same: user-fields.tst.ts adds the app's fields (declaration merging is program-wide).
    expect<User>().type.not.toHaveProperty('hashedPassword')
    expect<User>().type.not.toHaveProperty('fields')
    expect<User>().type.toBeAssignableTo<{
      id: string
      email: string
      isActive: boolean
      isVerified: boolean
      isSuperuser: boolean
      permissions: string[]
      createdAt: string
      updatedAt: string
    }>()
    expect<User>().type.not.toHaveProperty('hashedPassword')
  })

  test('is read-only', () => {
    expect(auth.user = null).type.toRaiseError('read-only')
    expect(auth.scopes = new Set()).type.toRaiseError('read-only')
    expect(auth.claims.sub = 'someone else').type.toRaiseError('read-only')
  })

  test('request.user is not ours (it is @fastify/jwt\'s and @fastify/passport\'s)', () => {
    expect(request.user).type.toRaiseError("Property 'user' does not exist")
    // @fastify/jwt is registered at run time, but its types are its own: our declarations load
    // neither its nor @fastify/passport's (an app imports '@fastify/jwt' to see them).
    expect(request.jwtVerify).type.toRaiseError("Property 'jwtVerify' does not exist")
    expect(app.jwt).type.toRaiseError("Property 'jwt' does not exist")
    expect(reply).type.not.toHaveProperty('auth')
  })
})

describe('errors', () => {
  test('are classes an app can construct', () => {
    expect(UserAlreadyExistsError).type.toBeConstructableWith()
    expect(RegisterInvalidPasswordError).type.toBeConstructableWith('too short')
    expect(UpdateInvalidPasswordError).type.toBeConstructableWith('too short')
    expect(UpdateEmailAlreadyExistsError).type.toBeConstructableWith()
    expect(UserNotFoundError).type.toBeConstructableWith()
    expect(OAuthAccountNotFoundError).type.toBeConstructableWith('github')
    expect(UnlinkLastLoginMethodError).type.toBeConstructableWith()
    expect(CrossOriginRequestError).type.toBeConstructableWith()
    expect(TooManyRequestsError).type.toBeConstructableWith(60, 'slow down')
    expect(ServiceBusyError).type.toBeConstructableWith(1, 'busy')
    expect(StepUpRequiredError).type.toBeConstructableWith(300, 'sign in again')
    expect(InvalidTokenError).type.toBeConstructableWith('expired')
    expect(UpstreamLoginError).type.toBeConstructableWith(502, 'Sign-in failed', 'The provider did not answer')
    expect(UpstreamLoginError).type.not.toBeConstructableWith(500, 'Sign-in failed', 'The provider did not answer')
    expect(OAuthError).type.toBeConstructableWith('invalid_grant', 'the code was used')
    expect(OAuthError).type.not.toBeConstructableWith('not_an_oauth_error', 'description')
    expect(StoreUnavailableError).type.toBeConstructableWith()
    expect(StoreUnavailableError).type.toBeConstructableWith({ cause: new Error('ECONNREFUSED') })
    expect(EmailAlreadyExistsError).type.toBeConstructableWith()
    expect(OAuthAccountExistsError).type.toBeConstructableWith()
  })

  test('are UsersErrors, with a code and the status they answer with', () => {
    expect(new UserAlreadyExistsError()).type.toBeAssignableTo<UsersError>()
    expect(new StoreUnavailableError()).type.toBeAssignableTo<UsersError>()
    expect(new OAuthError('invalid_request', 'x')).type.toBeAssignableTo<UsersError>()
    expect(new InvalidTokenError('x')).type.toBeAssignableTo<Error>()
    expect<UsersError['code']>().type.toBe<ErrorCode>()
    expect<UsersError['statusCode']>().type.toBe<number>()
    expect(ERROR_CODES.UserAlreadyExistsError).type.toBe<'FST_USERS_REGISTER_USER_ALREADY_EXISTS'>()
    expect<'FST_USERS_OAUTH_INVALID_GRANT'>().type.toBeAssignableTo<ErrorCode>()
    expect<OAuthErrorCode>().type.toBeAssignableTo<string>()
    expect<'invalid_grant'>().type.toBeAssignableTo<OAuthErrorCode>()
  })

  test('a problem body\'s code is one of a closed list, our codes without their prefix', () => {
    expect<Problem['code']>().type.toBe<ProblemCode>()
    expect<'REGISTER_USER_ALREADY_EXISTS'>().type.toBeAssignableTo<ProblemCode>()
    expect<'AUTHENTICATION_REQUIRED'>().type.toBeAssignableTo<ProblemCode>()
    expect<'FST_USERS_REGISTER_USER_ALREADY_EXISTS'>().type.not.toBeAssignableTo<ProblemCode>()
    expect<string>().type.not.toBeAssignableTo<ProblemCode>()
    expect(PROBLEM_CODES).type.toBe<ProblemCode[]>()
  })

  test('instanceof narrows to the class and its code', () => {
    const err = new Error('x') as unknown
    if (err instanceof UserAlreadyExistsError) expect(err.code).type.toBe<'FST_USERS_REGISTER_USER_ALREADY_EXISTS'>()
    if (err instanceof UsersError) expect(err.code).type.toBe<ErrorCode>()
    if (err instanceof StoreUnavailableError) expect(err.retryAfter).type.toBeAssignableTo<number>()
    if (err instanceof TooManyRequestsError) expect(err.retryAfter).type.toBe<number>()
    if (err instanceof StepUpRequiredError) expect(err.maxAge).type.toBe<number>()
    if (err instanceof OAuthError) expect(err.error).type.toBe<OAuthErrorCode>()
    if (err instanceof InvalidTokenError) expect(err.statusCode).type.toBe<number>()
  })
})

describe('constants', () => {
  test('scope names and cookie names', () => {
    expect(SUPERUSER_SCOPE).type.toBeAssignableTo<string>()
    expect(ACCOUNT_SCOPE).type.toBeAssignableTo<string>()
    expect(SWAGGER_UI_CLIENT_ID).type.toBeAssignableTo<string>()
    expect(COOKIES.session).type.toBeAssignableTo<string>()
    expect(COOKIES.browser).type.toBeAssignableTo<string>()
  })
})

describe('fastify-users/testing', () => {
  test('storeContract', () => {
    expect(storeContract).type.toBe<(name: string, make: () => Promise<UserStore>) => void>()
    expect(storeContract('memoryStore', async () => memoryStore())).type.not.toRaiseError()
  })
})
