import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestAsyncHookHandler, RouteOptions } from 'fastify'
import { PERMISSION_PATTERN, type User } from '../schemas/user.js'
import type { StoredUser, UserStore } from '../stores/types.js'
import type { AccessTokenClaims, TokenService } from '../services/tokens.js'
import { signedInWithin } from '../services/tokens.js'
import { CrossOriginRequestError, EmailAlreadyExistsError, InvalidTokenError, OAuthAccountExistsError, ServiceBusyError, StoreUnavailableError } from '../errors.js'
import { COOKIES, type UsersCookies } from './cookies.js'
import { externalSchemeName } from './openapi.js'
import type { SessionService } from '../services/sessions.js'
import type { ScopePolicy } from '../services/scopes.js'
import { createExternalTokenVerifier, type ExternalToken, type ExternalTokenVerifier } from '../services/external-tokens.js'
import { defaultFields, toPublicUser } from '../services/users.js'
import { ACCOUNT_SCOPE } from '../services/scopes.js'
import type { UsersConfig } from './config.js'
import type { OAuthAccountService } from '../services/oauth-accounts.js'
import { problemResponse, unavailable } from '../schemas/problem.js'
import { bearerChallenge, problem } from './errors.js'

/** What a route needs, declared once in `config.auth`. */
export type AuthRequirement = true | {
  /** Every one of these scopes must be granted to the token. */
  scopes?: readonly string[]
  /** The user's email must be verified. */
  verified?: boolean
  /** The user must be a superuser. */
  superuser?: boolean
  /**
   * Also accept tokens a client obtained for itself (client_credentials grant);
   * request.auth.user is null then, request.auth.clientId says which client it is.
   */
  clients?: boolean
  /**
   * The route manages the user's account: the token must have been issued to a first-party
   * client, or carry the account:manage scope (which a third-party client gets only when
   * the app lists it in the client's scopes, and the consent page names it).
   */
  account?: boolean
  /** Only tokens issued to a first-party client (the app's own, Swagger UI): administration, say. */
  firstParty?: boolean
  /**
   * Also accept our browser session cookie (GET /login) when the request has no Authorization
   * header: request.auth.clientId is then 'session', the scopes every one the user may have.
   * Requests that change something must come from a page of this site (CSRF).
   */
  session?: boolean
  /**
   * Every one of these permissions must be among the user's (stored with the user, given by
   * an administrator or the app's code). Superusers get none implicitly.
   */
  permissions?: readonly string[]
  /**
   * The user must have signed in recently: `true` for the app's recentSignInMaxAge, or a
   * number of seconds. An older sign-in gets 401 insufficient_user_authentication with
   * max_age (RFC 9470), to be answered by signing in again with that max_age.
   */
  recentSignIn?: boolean | number
}

/** What a guarded route knows of its caller, at request.auth. */
export interface RequestAuth {
  /**
   * The user the token acts for; null for a token a client got for itself (client_credentials),
   * and for an external issuer's token (resourceServer), whose subject is not a user of ours.
   */
  readonly user: User | null
  readonly claims: Readonly<AccessTokenClaims>
  readonly scopes: ReadonlySet<string>
  readonly clientId: string
  /** Who issued the token: our issuer, or one of resourceServer's. */
  readonly issuer: string
}

/**
 * The user is built from the stored record on first read: the conversion (ISO dates) cost
 * a scope-only route a twelfth of its throughput (bench/RESULTS.md).
 */
class GuardedRequestAuth implements RequestAuth {
  #stored: StoredUser | null
  #user: User | null = null
  readonly claims: Readonly<AccessTokenClaims>
  readonly scopes: ReadonlySet<string>
  readonly clientId: string
  readonly issuer: string
  constructor (claims: Readonly<AccessTokenClaims>, scopes: ReadonlySet<string>, stored: StoredUser | null) {
    this.claims = claims
    this.scopes = scopes
    this.clientId = claims.client_id
    this.issuer = claims.iss
    this.#stored = stored
  }

  get user (): User | null {
    if (this.#user === null && this.#stored !== null) this.#user = toPublicUser(this.#stored)
    return this.#user
  }
}

const GUARDED = Symbol('fastify-users guarded')

const PERMISSION = new RegExp(PERMISSION_PATTERN)

const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i

interface Need {
  scopes: string[]
  verified: boolean
  superuser: boolean
  clients: boolean
  account: boolean
  firstParty: boolean
  session: boolean
  permissions: string[]
  /** Seconds; undefined: any sign-in will do. */
  maxAuthAge?: number
}

function normalize (requirement: AuthRequirement | undefined, where: string, recentSignInMaxAge: number): Need {
  if (requirement === true || requirement === undefined) return { scopes: [], verified: false, superuser: false, clients: false, account: false, firstParty: false, session: false, permissions: [] }
  if (typeof requirement !== 'object' || requirement === null) throw new Error(`fastify-users: ${where}: config.auth must be true or an object`)
  const { scopes = [], verified = false, superuser = false, clients = false, account = false, firstParty = false, session = false, permissions = [], recentSignIn = false, ...rest } = requirement
  const unknown = Object.keys(rest)
  if (unknown.length > 0) throw new Error(`fastify-users: ${where}: unknown config.auth field ${unknown.join(', ')}`)
  if (!Array.isArray(scopes) || scopes.some((s) => typeof s !== 'string' || !/^[\x21\x23-\x5B\x5D-\x7E]+$/.test(s))) {
    throw new Error(`fastify-users: ${where}: config.auth.scopes must be an array of scope names`)
  }
  if (!Array.isArray(permissions) || permissions.some((p) => typeof p !== 'string' || !PERMISSION.test(p))) {
    throw new Error(`fastify-users: ${where}: config.auth.permissions must be an array of permission names (${PERMISSION.source})`)
  }
  if (clients && (verified || superuser || account || permissions.length > 0 || recentSignIn !== false)) {
    throw new Error(`fastify-users: ${where}: config.auth.clients cannot be combined with verified, superuser, account, permissions or recentSignIn`)
  }
  if (recentSignIn !== false && recentSignIn !== true && !(Number.isInteger(recentSignIn) && recentSignIn > 0)) {
    throw new Error(`fastify-users: ${where}: config.auth.recentSignIn must be true or a positive number of seconds`)
  }
  const maxAuthAge = recentSignIn === true ? recentSignInMaxAge : recentSignIn === false ? undefined : recentSignIn
  return { scopes, verified, superuser, clients, account, firstParty, session, permissions: [...permissions], maxAuthAge }
}

/** What the guard of a requirement may answer, for the route's OpenAPI operation. */
function guardResponses (need: Need, external: boolean) {
  return {
    401: problemResponse(
      need.maxAuthAge === undefined ? 'No access token, or one that is invalid, expired or revoked' : 'No valid access token, or a sign-in that is not recent enough',
      need.maxAuthAge === undefined ? ['AUTHENTICATION_REQUIRED', 'INVALID_TOKEN'] : ['AUTHENTICATION_REQUIRED', 'INVALID_TOKEN', 'INSUFFICIENT_USER_AUTHENTICATION']
    ),
    403: problemResponse(
      'The token lacks a scope, or its user a right, that this route needs',
      [
        'INSUFFICIENT_SCOPE',
        ...(need.verified ? ['USER_NOT_VERIFIED' as const] : []),
        ...(need.permissions.length > 0 ? ['INSUFFICIENT_PERMISSIONS' as const] : []),
        // With a session cookie, a request from a page of another site.
        ...(need.session ? ['CROSS_ORIGIN_REQUEST' as const] : [])
      ]
    ),
    // An external issuer that cannot be asked is a 503 too.
    ...unavailable(external ? ['STORE_UNAVAILABLE', 'SERVICE_BUSY'] : ['STORE_UNAVAILABLE'])
  }
}

/** A request, not a requirement: the guard factory was given to Fastify as a hook. */
function looksLikeRequest (value: unknown): boolean {
  return typeof value === 'object' && value !== null && 'raw' in value && 'routeOptions' in value
}

const UNCALLED = 'app.users.guard is a factory: call it, onRequest: [app.users.guard()] or [app.users.guard({ scopes: [...] })], or declare config.auth on the route'

/**
 * config.auth on every route: an onRoute hook puts the guard in front of the route and its
 * requirement into the route's OpenAPI security. Returns the guard factory, for hand wiring.
 */
/** What a session's guard needs of the browser side: its cookie, the session store, the user's scopes. */
export interface BrowserSessions {
  cookies: Pick<UsersCookies, 'read' | 'fromOwnOrigin'>
  sessions: Pick<SessionService, 'find'>
  scopes: Pick<ScopePolicy, 'allowed'>
}

/** request.auth.clientId of a request authenticated by our session cookie. */
export const SESSION_CLIENT = 'session'

export function setupAuth (app: FastifyInstance, config: UsersConfig, store: UserStore, tokens: TokenService, browser: BrowserSessions, accounts: Pick<OAuthAccountService, 'announceCreated' | 'afterRegister'>) {
  if (app.hasRequestDecorator('auth')) throw new Error('fastify-users: request.auth is taken by another plugin; fastify-users keeps the verified token and its user there')
  app.decorateRequest('auth', null)

  // RFC 6750 §3.1's error codes (and RFC 9470's), as our problem codes say them.
  const CODES = { invalid_token: 'INVALID_TOKEN', insufficient_scope: 'INSUFFICIENT_SCOPE', insufficient_user_authentication: 'INSUFFICIENT_USER_AUTHENTICATION' } as const

  function deny (request: FastifyRequest, reply: FastifyReply, status: 401 | 403, error: keyof typeof CODES | undefined, detail: string, scopes: string[] = [], maxAge?: number) {
    return reply
      .code(status)
      .header('www-authenticate', bearerChallenge(config.issuer, { error, description: detail, scopes, maxAge }))
      .type('application/problem+json')
      .send(problem(request, status, detail, error === undefined ? 'AUTHENTICATION_REQUIRED' : CODES[error]))
  }

  // The user of each request: from the app's cache (userCacheTtl), or else from the store.
  const readUser = config.userCache?.getUserById ?? ((id: string) => store.getUserById(id))

  // Tokens of external issuers (resourceServer): verified against their keys or by introspection.
  const external = config.resourceServer && createExternalTokenVerifier(config.resourceServer.issuers)
  const issuerOptions = new Map((config.resourceServer?.issuers ?? []).map((i) => [i.issuer, i]))

  /**
   * The user of ours for an external subject (users: link): the one linked to it, else a new
   * one made from the token's email claim and linked. Never an existing user of that email:
   * whoever controls an account at the issuer would take the local account over. A string
   * says why there is none.
   */
  async function linkedUser (name: string, token: ExternalToken, retried = false): Promise<StoredUser | string> {
    const account = await store.getOAuthAccount(name, token.subject)
    if (account) return await store.getUserById(account.userId) ?? 'The user linked to this token is gone'
    const email = typeof token.claims.email === 'string' ? token.claims.email : undefined
    if (email === undefined) return 'The token names no email: no user of ours can be made for it'
    let user: StoredUser
    try {
      user = await store.createUser({ email, hashedPassword: null, isVerified: token.claims.email_verified === true, fields: defaultFields(config.userFields) })
    } catch (err) {
      if (!(err instanceof EmailAlreadyExistsError)) throw err
      // A request of the same subject may have made it a moment ago; else it is someone else's.
      if (!retried) return linkedUser(name, token, true)
      return 'A user of ours has this email already, not linked to this account of the issuer'
    }
    const now = new Date()
    try {
      await store.createOAuthAccount({ provider: name, accountId: token.subject, userId: user.id, accountEmail: email, accessToken: null, refreshToken: null, expiresAt: null, createdAt: now, updatedAt: now })
    } catch (err) {
      if (!(err instanceof OAuthAccountExistsError)) throw err
      await store.deleteUser(user.id)
      return retried ? 'The account of the issuer is being linked: try again' : linkedUser(name, token, true)
    }
    // As a first login through a provider: the app learns of its new user the same way.
    await accounts.afterRegister(accounts.announceCreated(user, name, token.subject))
    return user
  }

  /**
   * An external issuer's token: its subject is no user of ours, so only routes that take
   * tokens without a user (clients: true) accept it, with the same scope rules. An issuer that
   * cannot be asked is a 503, never a 401: the token may be good.
   */
  async function guardExternal (request: FastifyRequest, reply: FastifyReply, token: string, need: Need) {
    let verified: ExternalToken
    try {
      verified = await (external as ExternalTokenVerifier).verify(token)
    } catch (err) {
      if (err instanceof ServiceBusyError) {
        request.log.warn({ err: err.cause ?? err }, 'fastify-users: a token issuer could not be asked')
        return reply.code(503).header('retry-after', String(err.retryAfter)).type('application/problem+json')
          .send(problem(request, 503, err.message, 'SERVICE_BUSY'))
      }
      return deny(request, reply, 401, 'invalid_token', err instanceof InvalidTokenError ? err.message : 'The access token is invalid', need.scopes)
    }
    const granted = new Set(verified.scopes)
    const users = issuerOptions.get(verified.issuer)?.users
    if (users?.mode === 'link') {
      let user: StoredUser | string
      try {
        user = await linkedUser(users.name, verified)
      } catch (err) {
        if (!(err instanceof StoreUnavailableError)) throw err
        return reply.code(503).header('retry-after', String(err.retryAfter)).type('application/problem+json')
          .send(problem(request, 503, err.message, 'STORE_UNAVAILABLE'))
      }
      if (typeof user === 'string') return deny(request, reply, 403, 'insufficient_scope', user)
      if (!user.isActive) return deny(request, reply, 401, 'invalid_token', 'The user of this token is inactive', need.scopes)
      const claims = { ...verified.claims, client_id: verified.clientId ?? verified.subject } as AccessTokenClaims
      return admit(request, reply, need, claims, granted, user, false)
    }
    if (!need.clients) return deny(request, reply, 403, 'insufficient_scope', `This route acts for a user of this server; the token is ${verified.issuer}'s`)
    const missing = need.scopes.filter((s) => !granted.has(s))
    if (missing.length > 0) return deny(request, reply, 403, 'insufficient_scope', `Missing scope: ${missing.join(' ')}`, need.scopes)
    request.auth = {
      user: null,
      claims: verified.claims as AccessTokenClaims,
      scopes: granted,
      clientId: verified.clientId ?? verified.subject,
      issuer: verified.issuer
    }
  }

  function guard (requirement?: AuthRequirement): onRequestAsyncHookHandler {
    if (looksLikeRequest(requirement)) throw new Error(`fastify-users: ${UNCALLED}`)
    const need = normalize(requirement, 'app.users.guard()', config.recentSignInMaxAge)
    return async function fastifyUsersGuard (request: FastifyRequest, reply: FastifyReply) {
      const header = request.headers.authorization
      // A token seen before skips the parsing and the signature check (services/tokens.ts).
      let verified = header !== undefined && header.startsWith('Bearer ') ? tokens.knownAccessToken(header.slice(7)) : undefined
      if (verified === undefined) {
        if (header === undefined && need.session) return admitSession(request, reply, need)
        if (header === undefined || !/^Bearer(?: |$)/i.test(header)) {
          // RFC 6750 §3.1: no credentials, no error code.
          return deny(request, reply, 401, undefined, 'Authentication required', need.scopes)
        }
        const token = BEARER.exec(header)?.[1]
        if (!token) return deny(request, reply, 401, 'invalid_token', 'Malformed bearer token', need.scopes)
        if (external?.handles(token)) return guardExternal(request, reply, token, need)
        try {
          verified = await tokens.verifyAccessToken(token)
        } catch (err) {
          const detail = err instanceof InvalidTokenError ? err.message : 'The access token is invalid'
          return deny(request, reply, 401, 'invalid_token', detail, need.scopes)
        }
      }
      const { claims, scopes: granted } = verified
      // RFC 9068 §2.2: a token a client got for itself has the client as its subject.
      if (claims.sub === claims.client_id && config.clients.get(claims.sub)?.grantTypes.has('client_credentials')) {
        if (!need.clients) return deny(request, reply, 403, 'insufficient_scope', 'This route acts for a user; the token was issued to a client acting for itself')
        const missing = need.scopes.filter((s) => !granted.has(s))
        if (missing.length > 0) return deny(request, reply, 403, 'insufficient_scope', `Missing scope: ${missing.join(' ')}`, need.scopes)
        request.auth = new GuardedRequestAuth(claims, granted, null)
        return
      }
      let user: StoredUser | null
      try {
        user = await readUser(claims.sub)
      } catch (err) {
        // The same answer on the app's routes as on ours, whatever the app's error handler does.
        if (!(err instanceof StoreUnavailableError)) throw err
        return reply.code(503).header('retry-after', String(err.retryAfter)).type('application/problem+json')
          .send(problem(request, 503, err.message, 'STORE_UNAVAILABLE'))
      }
      if (!user || !user.isActive) return deny(request, reply, 401, 'invalid_token', 'The user of this token is inactive or gone', need.scopes)
      return admit(request, reply, need, claims, granted, user, config.clients.get(claims.client_id)?.firstParty === true)
    }
  }

  /** What a user's credentials (a token of ours, or a session) must also satisfy: the route's requirement. */
  function admit (request: FastifyRequest, reply: FastifyReply, need: Need, claims: AccessTokenClaims, granted: ReadonlySet<string>, user: StoredUser, firstParty: boolean) {
    const missing = need.scopes.filter((s) => !granted.has(s))
    if (missing.length > 0) return deny(request, reply, 403, 'insufficient_scope', `Missing scope: ${missing.join(' ')}`, need.scopes)
    if (need.superuser && !user.isSuperuser) return deny(request, reply, 403, 'insufficient_scope', 'Superusers only')
    if (need.firstParty && !firstParty) return deny(request, reply, 403, 'insufficient_scope', 'This route takes tokens of the app\'s own clients only')
    if (need.account && !granted.has(ACCOUNT_SCOPE) && !firstParty) {
      return deny(request, reply, 403, 'insufficient_scope', `Managing the account needs a token of a first-party client or the ${ACCOUNT_SCOPE} scope`, [ACCOUNT_SCOPE])
    }
    if (need.maxAuthAge !== undefined && !signedInWithin(claims, need.maxAuthAge)) {
      return deny(request, reply, 401, 'insufficient_user_authentication', 'This change needs a recent sign-in: sign in again', [], need.maxAuthAge)
    }
    if (need.permissions.length > 0) {
      const lacking = need.permissions.filter((p) => !user.permissions.includes(p))
      if (lacking.length > 0) {
        return reply.code(403).type('application/problem+json').send(problem(request, 403, `Missing permission: ${lacking.join(' ')}`, 'INSUFFICIENT_PERMISSIONS'))
      }
    }
    if (need.verified && !user.isVerified) {
      return reply.code(403).type('application/problem+json').send(problem(request, 403, 'The email address is not verified', 'USER_NOT_VERIFIED'))
    }
    request.auth = new GuardedRequestAuth(claims, granted, user)
  }

  const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

  /**
   * A browser's session (config.auth.session), when the request carries no Authorization: the
   * user, with every scope they may have (the session is our own site's, first-party). A
   * request that changes something must come from a page of this site (CSRF): the browser's
   * Sec-Fetch-Site or Origin says so, as for our own forms.
   */
  async function admitSession (request: FastifyRequest, reply: FastifyReply, need: Need) {
    const id = browser.cookies.read(request, COOKIES.session)
    const session = id === undefined ? null : await browser.sessions.find(id)
    const user = session ? await readUser(session.userId) : null
    if (!session || !user?.isActive) return deny(request, reply, 401, undefined, 'Authentication required: sign in, or send a bearer token', need.scopes)
    if (!SAFE_METHODS.has(request.method) && !browser.cookies.fromOwnOrigin(request)) {
      return reply.code(403).type('application/problem+json').send(problem(request, 403, new CrossOriginRequestError().message, 'CROSS_ORIGIN_REQUEST'))
    }
    const granted = new Set(await browser.scopes.allowed(toPublicUser(user)))
    const signedIn = Math.floor(session.createdAt.getTime() / 1000)
    const claims: AccessTokenClaims = {
      iss: config.issuer,
      sub: user.id,
      aud: config.audience,
      exp: Math.floor(session.expiresAt.getTime() / 1000),
      iat: signedIn,
      jti: session.idHash,
      client_id: SESSION_CLIENT,
      scope: [...granted].join(' '),
      auth_time: signedIn
    }
    return admit(request, reply, need, claims, granted, user, true)
  }

  // Fail closed: a route declared before this plugin loaded (before register, or right
  // after an un-awaited one) never reaches the onRoute hook below. It is still guarded,
  // lazily, here; only its OpenAPI security is missing, which we warn about. Such a route
  // is in the router already; when none is, no hook is added, and the app's other routes
  // pay nothing for this check. (An unknown answer of printRoutes counts as a route.)
  const lateGuards = new WeakMap<object, onRequestAsyncHookHandler>()
  function fastifyUsersLateGuard (this: FastifyInstance, request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) {
    const routeConfig = request.routeOptions.config as { auth?: AuthRequirement, [GUARDED]?: true }
    if (routeConfig.auth === undefined || routeConfig[GUARDED]) return done()
    let late = lateGuards.get(routeConfig)
    if (!late) {
      request.log.warn({ route: request.routeOptions.url }, 'fastify-users: route declared before the plugin loaded; guarded at request time, no OpenAPI security. Await app.register(fastifyUsers) before declaring routes.')
      late = guard(routeConfig.auth)
      lateGuards.set(routeConfig, late)
    }
    late.call(app, request, reply).then(() => done(), done)
  }
  if (app.printRoutes() !== '(empty tree)') app.addHook('onRequest', fastifyUsersLateGuard)

  app.addHook('onRoute', (route: RouteOptions) => {
    const requirement = route.config?.auth
    const where = `${String(route.method)} ${route.url}`
    for (const hook of ['onRequest', 'preParsing', 'preValidation', 'preHandler'] as const) {
      const value: unknown = route[hook]
      if (value === guard || (Array.isArray(value) && value.includes(guard))) throw new Error(`fastify-users: ${where}: ${hook}: ${UNCALLED}`)
    }
    if (requirement === undefined || requirement === false as unknown) return
    const need = normalize(requirement, where, config.recentSignInMaxAge)
    if (need.session && !config.authorizationServer) throw new Error(`fastify-users: ${where}: config.auth.session needs our sign-in page; the authorization server is off (authorizationServer: false)`)
    // Fastify copies config (symbol keys included) into request.routeOptions.config.
    route.config = { ...route.config, [GUARDED]: true } as RouteOptions['config']
    for (const scope of need.scopes) config.scopes[scope] ??= ''
    const hooks = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest]
    route.onRequest = [guard(requirement), ...hooks]
    const schema = route.schema ?? {}
    const needs = [
      need.permissions.length > 0 && `the permissions ${need.permissions.join(', ')}`,
      need.superuser && 'a superuser',
      need.firstParty && 'a token of a first-party client',
      need.verified && 'a verified email address'
    ].filter(Boolean)
    route.schema = {
      ...schema,
      ...(needs.length > 0 && { description: [schema.description, `Needs ${needs.join(', ')}.`].filter(Boolean).join(' ') }),
      // Machine-readable, for tools and generated clients (an OpenAPI extension).
      ...(need.permissions.length > 0 && { 'x-permissions': need.permissions }),
      security: schema.security ?? [
        // Without an authorization server of ours, a token of an external issuer pasted as is.
        config.authorizationServer ? { oauth2: need.scopes } : { bearer: [] },
        ...(need.session ? [{ sessionCookie: [] }] : []),
        // The external issuers Swagger UI signs in at, where their tokens are taken (without a user, only with clients).
        ...(config.resourceServer?.issuers ?? []).flatMap((issuer, index) =>
          issuer.swaggerUiClientId !== undefined && (need.clients || issuer.users?.mode === 'link') ? [{ [externalSchemeName(index)]: need.scopes }] : [])
      ],
      response: { ...guardResponses(need, external !== undefined), ...(schema.response as object | undefined) }
    }
  })
  return guard
}
