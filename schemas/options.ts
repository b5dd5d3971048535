import { Type, type Static, type TObject } from '@sinclair/typebox'
import { MailerOptionsSchema } from './mail.js'
import { ProviderOptionSchema } from './providers.js'
import type { AccessTokenClaimsHook, OAuthLoginInfo } from './hooks.js'
import type { UserStore } from '../stores/types.js'
import type { User } from './user.js'

const ScopeName = Type.String({ pattern: '^[\\x21\\x23-\\x5B\\x5D-\\x7E]+$', maxLength: 128 })

// Checked at registration so that a wrong object fails early with a clear message.
// Every method of the contract, and only those: the compiler says when one is added.
export const STORE_METHODS = Object.keys({
  init: true,
  close: true,
  createUser: true,
  getUserById: true,
  getUserByEmail: true,
  updateUser: true,
  deleteUser: true,
  listUsers: true,
  countSuperusers: true,
  listSigningKeys: true,
  addSigningKey: true,
  removeSigningKey: true,
  createGrant: true,
  getGrant: true,
  consumeGrant: true,
  createGrantFamily: true,
  getGrantFamily: true,
  extendGrantFamily: true,
  revokeGrantFamilies: true,
  getConsent: true,
  grantConsent: true,
  listConsents: true,
  deleteConsent: true,
  createSession: true,
  getSession: true,
  deleteSession: true,
  deleteUserSessions: true,
  listUserSessions: true,
  createOAuthAccount: true,
  getOAuthAccount: true,
  listOAuthAccounts: true,
  updateOAuthAccount: true,
  deleteOAuthAccount: true,
  createUpstreamState: true,
  consumeUpstreamState: true
} satisfies Record<keyof UserStore, true>) as (keyof UserStore)[]

const fn = <T>(description: string) => Type.Unsafe<T>(Type.Function([], Type.Unknown(), { description }))

export const SigningKeyOptionSchema = Type.Object({
  privateKey: Type.Union([
    Type.String({ minLength: 1, description: 'PKCS#8 PEM' }),
    Type.Object({ kty: Type.String(), d: Type.String() }, { additionalProperties: true, description: 'Private JWK' })
  ]),
  kid: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  alg: Type.Optional(Type.Union([Type.Literal('EdDSA'), Type.Literal('ES256'), Type.Literal('RS256')]))
}, { additionalProperties: false })
export type SigningKeyOption = Static<typeof SigningKeyOptionSchema>

export const GrantType = Type.Union([
  Type.Literal('authorization_code'),
  Type.Literal('refresh_token'),
  Type.Literal('password'),
  Type.Literal('client_credentials')
])

export const ClientOptionSchema = Type.Object({
  clientId: Type.String({ minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7E]+$' }),
  clientSecret: Type.Optional(Type.String({ minLength: 16, maxLength: 512, description: 'Makes the client confidential' })),
  name: Type.Optional(Type.String({ maxLength: 200 })),
  firstParty: Type.Optional(Type.Boolean({ description: 'Trusted client of the same operator: no consent screen, may use the password grant' })),
  grantTypes: Type.Optional(Type.Array(GrantType, {
    uniqueItems: true,
    description: 'Default: authorization_code and refresh_token with redirectUris, else client_credentials with a secret, else password for a first-party client'
  })),
  requirePkce: Type.Optional(Type.Boolean({ description: 'Default true; only a confidential client may turn it off' })),
  introspection: Type.Optional(Type.Boolean({ description: 'May call the introspection endpoint (RFC 7662); confidential clients only' })),
  idTokenSigningAlg: Type.Optional(Type.Union([Type.Literal('RS256'), Type.Literal('ES256'), Type.Literal('EdDSA')], {
    description: 'The algorithm of its id_tokens (OpenID Connect id_token_signed_response_alg); default RS256'
  })),
  defaultMaxAge: Type.Optional(Type.Integer({
    minimum: 0,
    maximum: 9_999_999_999,
    description: 'Seconds: an authorization request of this client without max_age is treated as if it sent this one (OpenID Connect default_max_age)'
  })),
  scopes: Type.Optional(Type.Array(ScopeName, { uniqueItems: true, description: 'Scopes the client may obtain; default all' })),
  redirectUris: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Za-z][A-Za-z0-9+.-]*:[^#]+$', maxLength: 2048 }), {
    uniqueItems: true,
    description: 'Matched exactly; http://127.0.0.1/... or http://[::1]/... without a port matches any port (RFC 8252)'
  }))
}, { additionalProperties: false })
export type ClientOption = Static<typeof ClientOptionSchema>

export const LimitSettingSchema = Type.Object({
  max: Type.Integer({ minimum: 1, description: 'Requests (or failures) allowed in the window' }),
  timeWindow: Type.Integer({ minimum: 1, maximum: 86400, description: 'Seconds' })
}, { additionalProperties: false })
export type LimitSetting = Static<typeof LimitSettingSchema>

const limit = (description: string) => Type.Optional(Type.Union([LimitSettingSchema, Type.Literal(false)], { description }))

export const RateLimitOptionsSchema = Type.Object({
  redis: Type.Optional(Type.Unsafe<object>(Type.Object({ defineCommand: Type.Function([], Type.Unknown()) }, {
    additionalProperties: true,
    description: 'An ioredis client: the counters are kept there, shared by every instance that uses it'
  }))),
  refusalDelay: Type.Optional(Type.Integer({
    minimum: 0,
    maximum: 10000,
    description: 'Milliseconds a refused (429) request waits for its answer, so that a flood slows itself down (default 1000)'
  })),
  loginAddress: limit('Password sign-in attempts from one address (password grant and login form)'),
  loginAccountAddress: limit('Password sign-in attempts at one account from one address'),
  loginAccount: limit('Failed sign-ins at one account from anywhere; past it only addresses without a failure there may try'),
  register: limit('Registrations from one address'),
  providerStart: limit('Provider sign-in starts from one address'),
  authorize: limit('Authorization requests from one address without a browser session'),
  refresh: limit('Refresh-token grants from one address'),
  accountMail: limit('Requests for a verification or password reset mail from one address'),
  mailRecipient: limit('Verification and reset mails to one address, whoever asks; past it none is sent (the answer is still 202)')
}, { additionalProperties: false })
export type RateLimitOptions = Static<typeof RateLimitOptionsSchema>

export const PasswordHashingOptionsSchema = Type.Object({
  concurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 1024, description: 'argon2 computations at once (default: libuv thread pool size - 1)' })),
  queue: Type.Optional(Type.Integer({ minimum: 0, maximum: 100000, description: 'Computations that may wait for a turn; past it 503 at once (default 50)' }))
}, { additionalProperties: false })
export type PasswordHashingOptions = Static<typeof PasswordHashingOptionsSchema>

export const DocsOptionSchema = Type.Object({
  path: Type.Optional(Type.String({ pattern: '^/[^?#]*$', default: '/docs' })),
  title: Type.Optional(Type.String()),
  version: Type.Optional(Type.String()),
  description: Type.Optional(Type.String()),
  license: Type.Optional(Type.Object({
    name: Type.String({ minLength: 1 }),
    identifier: Type.Optional(Type.String({ description: 'SPDX expression, e.g. MIT' })),
    url: Type.Optional(Type.String({ format: 'uri' }))
  }, { additionalProperties: false, description: 'The API\'s license, for info.license' }))
}, { additionalProperties: false })
export type DocsOptions = Static<typeof DocsOptionSchema>

export const FastifyUsersOptionsSchema = Type.Object({
  issuer: Type.String({ pattern: '^https?://[^?#]+$', description: 'Our issuer URL (RFC 8414); no query or fragment' }),
  store: Type.Unsafe<UserStore>(Type.Object(
    Object.fromEntries(STORE_METHODS.map((m) => [m, Type.Function([], Type.Unknown())])),
    { description: 'A UserStore, e.g. memoryStore() or mongoStore({ url })' }
  )),
  userCacheTtl: Type.Optional(Type.Number({
    minimum: 0,
    maximum: 3600,
    description: 'Seconds the guard may answer from a user it read before (default 0: it reads the store every request). Changes made through this instance apply at once; those of other instances within this time'
  })),
  userCacheMaxEntries: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000_000, description: 'Users the guard\'s cache holds at most (default 10 000)' })),
  audience: Type.Optional(Type.String({ minLength: 1, description: 'aud of access tokens; default: the issuer' })),
  prefix: Type.Optional(Type.String({ pattern: '^(/[A-Za-z0-9._~-]+)*$', description: 'URL prefix of every route of ours' })),
  accessTokenTtl: Type.Optional(Type.Integer({ minimum: 30, maximum: 86400, description: 'Seconds (default 900)' })),
  refreshTokenIdleTtl: Type.Optional(Type.Integer({ minimum: 60, description: 'Seconds a refresh token lives unused (default 14 days)' })),
  refreshTokenAbsoluteTtl: Type.Optional(Type.Integer({ minimum: 60, description: 'Seconds a grant family lives however often it is refreshed (default 90 days)' })),
  sessionTtl: Type.Optional(Type.Integer({ minimum: 60, description: 'Seconds a browser login session lasts (default 7 days)' })),
  cookieSecret: Type.Optional(Type.Union([Type.String({ minLength: 32 }), Type.Array(Type.String({ minLength: 32 }), { minItems: 1 })], {
    description: 'Signs our cookies; the first signs, all verify. Default: derived from the active signing key'
  })),
  scopes: Type.Optional(Type.Record(ScopeName, Type.String({ maxLength: 500 }), { additionalProperties: false, description: 'Scope name → description' })),
  superuserScopes: Type.Optional(Type.Array(ScopeName, { uniqueItems: true })),
  defaultScopes: Type.Optional(Type.Array(ScopeName, { uniqueItems: true })),
  allowedScopes: Type.Optional(fn<(user: User) => string[] | Promise<string[]>>('Scopes a user may have; default: every declared scope, superuser scopes to superusers only')),
  signingKeys: Type.Optional(Type.Array(SigningKeyOptionSchema, { minItems: 1, description: 'The first one signs; all verify' })),
  signingAlgorithm: Type.Optional(Type.Union([Type.Literal('EdDSA'), Type.Literal('ES256')], { description: 'For keys generated and kept in the store' })),
  clients: Type.Optional(Type.Array(ClientOptionSchema)),
  docs: Type.Optional(Type.Union([Type.Literal(false), DocsOptionSchema])),
  rateLimit: Type.Optional(Type.Union([RateLimitOptionsSchema, Type.Literal(false)], {
    description: 'Limits on requests that cost or write; false switches them all off. Default: every limit at its default, in memory'
  })),
  passwordHashing: Type.Optional(PasswordHashingOptionsSchema),
  recentSignInMaxAge: Type.Optional(Type.Integer({
    minimum: 1,
    maximum: 86400,
    description: 'Seconds a sign-in counts as recent: older ones must sign in again (or give the current password) for sensitive account changes (default 300)'
  })),
  passwordMinLength: Type.Optional(Type.Integer({ minimum: 8, maximum: 256 })),
  mailer: Type.Optional(MailerOptionsSchema),
  verifyTokenTtl: Type.Optional(Type.Integer({ minimum: 60, maximum: 7 * 86400, description: 'Seconds an email verification link works (default 86400)' })),
  resetPasswordTokenTtl: Type.Optional(Type.Integer({ minimum: 60, maximum: 86400, description: 'Seconds a password reset link works (default 1800)' })),
  verifyOnRegister: Type.Optional(Type.Boolean({ description: 'Mail a verification link at registration, when a mailer is configured (default true)' })),
  validatePassword: Type.Optional(fn<(password: string, user: { email: string }) => string | undefined | Promise<string | undefined>>('Returns a message when the password is refused')),
  onAfterRegister: Type.Optional(fn<(user: User) => void | Promise<void>>('Called after a user registered')),
  registration: Type.Optional(Type.Boolean({ description: 'Expose POST /auth/register (default true)' })),
  authorizationServer: Type.Optional(Type.Boolean({
    description: 'Our own authorization server, login pages and account routes (default true); false: a resource server only, taking the tokens of resourceServer\'s issuers'
  })),
  resourceServer: Type.Optional(Type.Object({
    issuers: Type.Array(Type.Object({
      issuer: Type.String({ pattern: '^https?://[^?#]+$', description: 'The external issuer\'s exact iss; its metadata comes from discovery' }),
      audience: Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })], { description: 'What aud must contain (one of these)' }),
      algorithms: Type.Optional(Type.Array(Type.String({ pattern: '^(RS|PS|ES)(256|384|512)$|^EdDSA$' }), { minItems: 1, description: 'Accepted signing algorithms (asymmetric only); default RS256, ES256, EdDSA, PS256' })),
      introspection: Type.Optional(Type.Object({
        clientId: Type.String({ minLength: 1 }),
        clientSecret: Type.String({ minLength: 1 })
      }, { additionalProperties: false, description: 'Credentials to introspect opaque tokens (RFC 7662)' })),
      scopeClaim: Type.Optional(fn<(claims: Record<string, unknown>) => string[]>('(claims) => scopes: where the issuer puts them (default scope, else scp)')),
      requireTyp: Type.Optional(Type.Boolean({ description: 'Refuse JWTs not typed at+jwt (RFC 9068); default false' })),
      swaggerUiClientId: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'A public client registered at that issuer for Swagger UI (PKCE, redirect URI <our issuer><docs path>/static/oauth2-redirect.html): adds a security scheme signing in there' })),
      users: Type.Optional(Type.Union([
        Type.Object({ mode: Type.Literal('claims') }, { additionalProperties: false }),
        Type.Object({
          mode: Type.Literal('link'),
          name: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,39}$', description: 'The provider name its users are linked under (oauth accounts)' })
        }, { additionalProperties: false })
      ], { description: 'claims (default): the token alone, no user of ours; link: a user of ours for each subject, found or created (from its email claim) and linked as a provider account named `name`' })),
      cache: Type.Optional(Type.Object({
        maxEntries: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
        maxSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 3600 }))
      }, { additionalProperties: false, description: 'Introspection results: how many, how long at most (default 10 000, 60 s)' }))
    }, { additionalProperties: false }), { minItems: 1 })
  }, { additionalProperties: false, description: 'Also accept access tokens of these external issuers (JWTs by their JWKS, opaque ones by introspection) on routes that take tokens without a user of ours (config.auth.clients)' })),
  userFields: Type.Optional(Type.Unsafe<TObject>(Type.Object({
    type: Type.Literal('object'),
    properties: Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$' }), Type.Object({}, { additionalProperties: true }))
  }, {
    additionalProperties: true,
    description: 'The app\'s own user fields, a TypeBox object (Type.Object({ displayName: Type.Optional(Type.String()) })); a field marked readOnly is for administrators to set'
  }))),
  bodyLimit: Type.Optional(Type.Integer({ minimum: 1024, maximum: 1048576, description: 'Bytes accepted by our routes' })),
  providers: Type.Optional(Type.Array(ProviderOptionSchema, { description: 'Upstream login providers: a button each on the login page, routes under /auth/<name>/' })),
  oauthTokenKey: Type.Optional(Type.String({
    pattern: '^[A-Za-z0-9_-]{43}$',
    description: '32 random bytes, base64url: upstream access and refresh tokens are stored encrypted under it (JWE, A256GCM)'
  })),
  onOAuthLogin: Type.Optional(fn<(user: User, info: OAuthLoginInfo) => void | Promise<void>>('Called after every sign-in through a provider')),
  accessTokenClaims: Type.Optional(fn<AccessTokenClaimsHook>('Claims of the app in every access token, beside ours (which it may not set)'))
}, { additionalProperties: false })

/**
 * An optional option may also be given as undefined (`audience: process.env.AUDIENCE`), also
 * under exactOptionalPropertyTypes: it means the default, as leaving it out does.
 */
type UndefinedMeansDefault<T> = { [K in keyof T]: undefined extends T[K] ? T[K] | undefined : T[K] }

export type FastifyUsersOptions = UndefinedMeansDefault<Static<typeof FastifyUsersOptionsSchema>>
