import { Value } from '@sinclair/typebox/value'
import { FastifyUsersOptionsSchema, STORE_METHODS, type DocsOptions, type FastifyUsersOptions, type PasswordHashingOptions, type RateLimitOptions } from '../schemas/options.js'
import { RESERVED_USER_FIELDS, userSchemas, type User } from '../schemas/user.js'

type UserModels = ReturnType<typeof userSchemas>
import { Type, type TObject } from '@sinclair/typebox'
import type { MailerOptions } from '../schemas/mail.js'
import type { ExternalIssuerOptions } from '../services/external-tokens.js'
import { createClientRegistry, type Client } from '../services/clients.js'
import type { PasswordPolicy } from '../services/password.js'
import { ACCOUNT_SCOPE, OIDC_SCOPES, SUPERUSER_SCOPE } from '../services/scopes.js'
import type { UserStore } from '../stores/types.js'
import { createUserCache, type UserCache } from '../services/user-cache.js'
import type { ProviderOption } from '../schemas/providers.js'
import type { AccessTokenClaimsHook, OAuthLoginInfo } from '../schemas/hooks.js'
import { routePaths, type RoutePaths } from '../services/paths.js'

// Only the local machine reaches a server under one of these names.
const LOOPBACK_HOSTNAMES = new Set(['localhost', '127.0.0.1', '[::1]', '::1'])

/** Whether a URL's hostname (or a request's) names this machine: a development server. */
export const isLoopbackHostname = (hostname: string) => LOOPBACK_HOSTNAMES.has(hostname)

/** The options after validation, with every default applied. */
export interface UsersConfig {
  issuer: string
  audience: string
  prefix: string
  accessTokenTtl: number
  refreshTokenIdleTtl: number
  refreshTokenAbsoluteTtl: number
  codeTtl: number
  sessionTtl: number
  /** Our cookie-signing secrets, first signs; undefined = derive from the signing key. */
  cookieSecret?: string[]
  /** Cookies get Secure when the issuer is https. */
  secureCookies: boolean
  store: UserStore
  /** The guard's cache of users (userCacheTtl); `store` is then its store, whose user writes reach it. */
  userCache?: UserCache
  /** Seconds; 0: no cache. */
  userCacheTtl: number
  /** scope → description: declared ones, superuser ones, and those routes require (added as routes appear) */
  scopes: Record<string, string>
  rateLimit: RateLimitOptions | false
  passwordHashing: PasswordHashingOptions
  /** Seconds a sign-in counts as recent for sensitive account changes (RFC 9470 max_age). */
  recentSignInMaxAge: number
  mailer?: MailerOptions
  /** External issuers whose access tokens are accepted too. */
  resourceServer?: { issuers: ExternalIssuerOptions[] }
  /** false: no routes of ours and no tokens of ours, only the external issuers' (resourceServer). */
  authorizationServer: boolean
  verifyTokenTtl: number
  resetPasswordTokenTtl: number
  verifyOnRegister: boolean
  /** What a request that names no scope gets, of what the user may have. */
  defaultScopes: (allowed: string[]) => string[]
  superuserScopes: string[]
  allowedScopes: (user: User) => string[] | Promise<string[]>
  signingKeys?: FastifyUsersOptions['signingKeys']
  signingAlgorithm: 'EdDSA' | 'ES256'
  clients: ReadonlyMap<string, Client>
  docs: false | { path: string, title: string, version: string, description?: string, license?: DocsOptions['license'] }
  passwordPolicy: PasswordPolicy
  /** The app's own user fields (an empty object without the option). */
  userFields: TObject
  /** Our user models with those fields: as documented (the app's password minimum) and as validated. */
  userModels: { documented: UserModels, validated: UserModels }
  onAfterRegister?: (user: User) => void | Promise<void>
  registration: boolean
  bodyLimit: number
  providers: ProviderOption[]
  /** Encrypts upstream tokens at rest. */
  oauthTokenKey?: Uint8Array
  onOAuthLogin?: (user: User, info: OAuthLoginInfo) => void | Promise<void>
  accessTokenClaims?: AccessTokenClaimsHook
  /** Our paths under the prefix (services/paths.ts). */
  paths: RoutePaths
  /** Absolute URLs of our endpoints, as published in metadata and the OpenAPI document. */
  endpoints: {
    authorize: string
    token: string
    revoke: string
    introspect: string
    userinfo: string
    jwks: string
  }
}

/** Turns '/clients/0/clientId' into 'clients[0].clientId', the way the option is written. */
function optionName (path: string): string {
  return path.split('/').filter(Boolean).reduce((name, part) => /^\d+$/.test(part) ? `${name}[${part}]` : name ? `${name}.${part}` : part, '')
}

export function validateOptions (options: unknown): FastifyUsersOptions {
  const error = Value.Errors(FastifyUsersOptionsSchema, options).First()
  if (error) {
    const name = optionName(error.path)
    throw new Error(name ? `fastify-users: invalid option "${name}": ${error.message}` : `fastify-users: invalid options: ${error.message}`)
  }
  return options as FastifyUsersOptions
}

function checkUrl (name: string, value: string): URL {
  try {
    return new URL(value)
  } catch {
    throw new Error(`fastify-users: invalid option "${name}": not a URL`)
  }
}

/** The store as every part of ours uses it, and the guard's cache of users when the app wants one. */
function storeWithCache (options: FastifyUsersOptions): Pick<UsersConfig, 'store' | 'userCache'> {
  if (!options.userCacheTtl) return { store: options.store }
  const userCache = createUserCache(options.store, STORE_METHODS, { ttl: options.userCacheTtl * 1000, maxEntries: options.userCacheMaxEntries ?? 10_000 })
  return { store: userCache.store, userCache }
}

export function resolveConfig (raw: unknown): UsersConfig {
  const options = validateOptions(raw)
  checkUrl('issuer', options.issuer)
  const issuer = options.issuer.replace(/\/+$/, '')
  const prefix = options.prefix ?? ''
  const paths = routePaths(prefix)
  const passwordMinLength = options.passwordMinLength ?? 8
  const userFields = options.userFields ?? Type.Object({})
  // Our own tokens are told from external ones by their iss: it must be ours alone.
  if (options.resourceServer?.issuers.some((i) => i.issuer.replace(/\/+$/, '') === issuer)) {
    throw new Error('fastify-users: resourceServer: an external issuer cannot be our own issuer')
  }
  const authorizationServer = options.authorizationServer ?? true
  if (!authorizationServer) {
    if (options.resourceServer === undefined) throw new Error('fastify-users: authorizationServer: false needs resourceServer: whose tokens would the routes take?')
    for (const field of ['clients', 'providers'] as const) {
      if (options[field]?.length) throw new Error(`fastify-users: option "${field}" needs our authorization server; it is off (authorizationServer: false)`)
    }
  }
  const reserved = Object.keys(userFields.properties).filter((name) => RESERVED_USER_FIELDS.includes(name))
  if (reserved.length > 0) throw new Error(`fastify-users: userFields: ${reserved.join(', ')} ${reserved.length > 1 ? 'are names' : 'is a name'} of ours; name the field otherwise`)
  const docs = options.docs === undefined || options.docs === false
    ? false as const
    : { path: options.docs.path ?? '/docs', title: options.docs.title ?? 'API', version: options.docs.version ?? '1.0.0', description: options.docs.description, license: options.docs.license }

  const superuserScopes = options.superuserScopes ?? [SUPERUSER_SCOPE]
  const scopes: Record<string, string> = { ...OIDC_SCOPES, ...options.scopes }
  for (const s of superuserScopes) scopes[s] ??= 'Administer users (superusers only)'
  scopes[ACCOUNT_SCOPE] ??= 'Manage your account: change your password and email address, link and unlink sign-in providers'
  for (const [i, s] of (options.defaultScopes ?? []).entries()) {
    if (!Object.hasOwn(scopes, s)) throw new Error(`fastify-users: invalid option "defaultScopes[${i}]": unknown scope ${s}`)
  }

  const clientOptions = [...(options.clients ?? [])]
  for (const [i, c] of clientOptions.entries()) {
    for (const [j, uri] of (c.redirectUris ?? []).entries()) checkUrl(`clients[${i}].redirectUris[${j}]`, uri)
    for (const [j, s] of (c.scopes ?? []).entries()) {
      if (!Object.hasOwn(scopes, s)) throw new Error(`fastify-users: invalid option "clients[${i}].scopes[${j}]": unknown scope ${s}`)
    }
  }
  const providerNames = new Set<string>()
  for (const [i, p] of (options.providers ?? []).entries()) {
    if (providerNames.has(p.name)) throw new Error(`fastify-users: invalid option "providers[${i}].name": ${p.name} is used twice`)
    providerNames.add(p.name)
    if (p.type === 'oidc' && !p.issuer) throw new Error(`fastify-users: invalid option "providers[${i}].issuer": an oidc provider needs its issuer`)
    for (const field of ['issuer', 'apiBaseUrl', 'authorizationUrl', 'tokenUrl'] as const) {
      if (p[field] !== undefined) checkUrl(`providers[${i}].${field}`, p[field])
    }
  }

  // Swagger UI is a built-in public, first-party client: it runs on our own origin.
  if (docs && authorizationServer && !clientOptions.some((c) => c.clientId === 'swagger-ui')) {
    clientOptions.push({
      clientId: 'swagger-ui',
      name: 'Swagger UI',
      firstParty: true,
      // Pressing Authorize is a sign-in: with a browser session older than a recent sign-in the
      // login page asks again, so that the token can make sensitive account changes (and a
      // step-up challenge is answered by logging out and authorizing again in its dialog).
      // Not a query parameter of initOAuth: Swagger UI would send that to every scheme's
      // issuer, and an external one may refuse max_age (oidc-provider does, without openid).
      defaultMaxAge: options.recentSignInMaxAge ?? 300,
      grantTypes: ['authorization_code', 'refresh_token', 'password'],
      redirectUris: [`${issuer}${paths.docs(docs.path).oauth2Redirect}`]
    })
  }

  return {
    issuer,
    audience: options.audience ?? issuer,
    prefix,
    accessTokenTtl: options.accessTokenTtl ?? 900,
    refreshTokenIdleTtl: options.refreshTokenIdleTtl ?? 14 * 86400,
    refreshTokenAbsoluteTtl: options.refreshTokenAbsoluteTtl ?? 90 * 86400,
    // RFC 6749 §4.1.2 asks for at most 10 minutes; a browser redirect needs seconds.
    codeTtl: 60,
    sessionTtl: options.sessionTtl ?? 7 * 86400,
    cookieSecret: options.cookieSecret === undefined ? undefined : [options.cookieSecret].flat(),
    secureCookies: issuer.startsWith('https:'),
    ...storeWithCache(options),
    userCacheTtl: options.userCacheTtl ?? 0,
    scopes,
    // OpenID scopes and the account scope are a client's to ask for: never granted unasked.
    defaultScopes: (allowed) => options.defaultScopes?.filter((s) => allowed.includes(s)) ?? allowed.filter((s) => !Object.hasOwn(OIDC_SCOPES, s) && s !== ACCOUNT_SCOPE),
    recentSignInMaxAge: options.recentSignInMaxAge ?? 300,
    ...(options.mailer !== undefined && { mailer: options.mailer }),
    ...(options.resourceServer !== undefined && { resourceServer: options.resourceServer as { issuers: ExternalIssuerOptions[] } }),
    authorizationServer,
    verifyTokenTtl: options.verifyTokenTtl ?? 86400,
    resetPasswordTokenTtl: options.resetPasswordTokenTtl ?? 1800,
    verifyOnRegister: options.verifyOnRegister ?? true,
    rateLimit: options.rateLimit ?? {},
    passwordHashing: options.passwordHashing ?? {},
    superuserScopes,
    allowedScopes: options.allowedScopes ??
      ((user) => Object.keys(scopes).filter((s) => user.isSuperuser || !superuserScopes.includes(s))),
    signingKeys: options.signingKeys,
    signingAlgorithm: options.signingAlgorithm ?? 'EdDSA',
    clients: createClientRegistry(clientOptions),
    docs,
    passwordPolicy: { minLength: passwordMinLength, validate: options.validatePassword },
    userFields,
    userModels: { documented: userSchemas({ passwordMinLength, fields: userFields }), validated: userSchemas({ passwordMinLength: 1, fields: userFields }) },
    onAfterRegister: options.onAfterRegister,
    registration: options.registration ?? true,
    bodyLimit: options.bodyLimit ?? 64 * 1024,
    providers: options.providers ?? [],
    oauthTokenKey: options.oauthTokenKey === undefined ? undefined : Buffer.from(options.oauthTokenKey, 'base64url'),
    onOAuthLogin: options.onOAuthLogin,
    accessTokenClaims: options.accessTokenClaims,
    paths,
    endpoints: {
      authorize: issuer + paths.authorize,
      token: issuer + paths.token,
      revoke: issuer + paths.revoke,
      introspect: issuer + paths.introspect,
      userinfo: issuer + paths.userinfo,
      jwks: issuer + paths.jwks
    }
  }
}
