import fp from 'fastify-plugin'
import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler, RouteOptions } from 'fastify'
import type { User } from '../schemas/user.js'
import type { StoredUser } from '../stores/types.js'
import type { AccessTokenClaims } from '../services/tokens.js'
import { InvalidTokenError, signedInWithin } from '../services/tokens.js'
import { toPublicUser } from '../services/users.js'
import { ACCOUNT_SCOPE } from '../services/scopes.js'
import { bearerChallenge, problem } from './errors.js'

/** What a route needs, declared once in `config.auth`. */
export type AuthRequirement = true | {
  /** Every one of these scopes must be granted to the token. */
  scopes?: string[]
  /** The user's email must be verified. */
  verified?: boolean
  /** The user must be a superuser. */
  superuser?: boolean
  /**
   * Also accept tokens a client obtained for itself (client_credentials grant);
   * request.user is null then, request.auth says which client it is.
   */
  clients?: boolean
  /**
   * The route manages the user's account: the token must have been issued to a first-party
   * client, or carry the account:manage scope (which a third-party client gets only when
   * the app lists it in the client's scopes, and the consent page names it).
   */
  account?: boolean
  /**
   * The user must have signed in recently: `true` for the app's recentSignInMaxAge, or a
   * number of seconds. An older sign-in gets 401 insufficient_user_authentication with
   * max_age (RFC 9470), to be answered by signing in again with that max_age.
   */
  recentSignIn?: boolean | number
}

export interface RequestAuth {
  claims: AccessTokenClaims
  scopes: ReadonlySet<string>
  clientId: string
}

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: AuthRequirement
  }
  interface FastifyRequest {
    /** The authenticated user on guarded routes, null elsewhere. */
    user: User | null
    /** The verified token behind request.user. */
    auth: RequestAuth | null
  }
  interface FastifyInstance {
    /** The guard behind `config.auth`, for wiring by hand (no OpenAPI security then). */
    authenticate: (requirement?: AuthRequirement) => onRequestAsyncHookHandler
  }
}

const GUARDED = Symbol('fastify-users guarded')
const STORED_USER = Symbol('fastify-users stored user')
const PUBLIC_USER = Symbol('fastify-users public user')
interface UserSlots { [STORED_USER]: StoredUser | null, [PUBLIC_USER]: User | null }

const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i

interface Need {
  scopes: string[]
  verified: boolean
  superuser: boolean
  clients: boolean
  account: boolean
  /** Seconds; undefined: any sign-in will do. */
  maxAuthAge?: number
}

function normalize (requirement: AuthRequirement | undefined, where: string, recentSignInMaxAge: number): Need {
  if (requirement === true || requirement === undefined) return { scopes: [], verified: false, superuser: false, clients: false, account: false }
  if (typeof requirement !== 'object' || requirement === null) throw new Error(`fastify-users: ${where}: config.auth must be true or an object`)
  const { scopes = [], verified = false, superuser = false, clients = false, account = false, recentSignIn = false, ...rest } = requirement
  const unknown = Object.keys(rest)
  if (unknown.length > 0) throw new Error(`fastify-users: ${where}: unknown config.auth field ${unknown.join(', ')}`)
  if (!Array.isArray(scopes) || scopes.some((s) => typeof s !== 'string' || !/^[\x21\x23-\x5B\x5D-\x7E]+$/.test(s))) {
    throw new Error(`fastify-users: ${where}: config.auth.scopes must be an array of scope names`)
  }
  if (clients && (verified || superuser || account || recentSignIn !== false)) {
    throw new Error(`fastify-users: ${where}: config.auth.clients cannot be combined with verified, superuser, account or recentSignIn`)
  }
  if (recentSignIn !== false && recentSignIn !== true && !(Number.isInteger(recentSignIn) && recentSignIn > 0)) {
    throw new Error(`fastify-users: ${where}: config.auth.recentSignIn must be true or a positive number of seconds`)
  }
  const maxAuthAge = recentSignIn === true ? recentSignInMaxAge : recentSignIn === false ? undefined : recentSignIn
  return { scopes, verified, superuser, clients, account, maxAuthAge }
}

export default fp(async function usersAuthPlugin (app) {
  const { usersTokens: tokens, usersStore: store, usersConfig: config } = app

  // request.user is built from the stored record on first read: the conversion (ISO
  // dates) cost a scope-only route a twelfth of its throughput (bench/RESULTS.md).
  app.decorateRequest(STORED_USER, null)
  app.decorateRequest(PUBLIC_USER, null)
  app.decorateRequest('user', {
    getter (this: FastifyRequest) {
      const slots = this as unknown as UserSlots
      if (slots[PUBLIC_USER] === null && slots[STORED_USER] !== null) slots[PUBLIC_USER] = toPublicUser(slots[STORED_USER])
      return slots[PUBLIC_USER]
    },
    setter (this: FastifyRequest, value: User | null) {
      const slots = this as unknown as UserSlots
      slots[PUBLIC_USER] = value
      slots[STORED_USER] = null
    }
  })
  app.decorateRequest('auth', null)

  function deny (reply: FastifyReply, status: 401 | 403, error: string | undefined, detail: string, scopes: string[] = [], maxAge?: number) {
    return reply
      .code(status)
      .header('www-authenticate', bearerChallenge(config.issuer, { error, description: detail, scopes, maxAge }))
      .type('application/problem+json')
      .send(problem(status, detail, error?.toUpperCase()))
  }

  function guard (requirement?: AuthRequirement): onRequestAsyncHookHandler {
    const need = normalize(requirement, 'authenticate()', config.recentSignInMaxAge)
    return async function fastifyUsersGuard (request: FastifyRequest, reply: FastifyReply) {
      const header = request.headers.authorization
      // A token seen before skips the parsing and the signature check (services/tokens.ts).
      let verified = header !== undefined && header.startsWith('Bearer ') ? tokens.knownAccessToken(header.slice(7)) : undefined
      if (verified === undefined) {
        if (header === undefined || !/^Bearer(?: |$)/i.test(header)) {
          // RFC 6750 §3.1: no credentials, no error code.
          return deny(reply, 401, undefined, 'Authentication required', need.scopes)
        }
        const token = BEARER.exec(header)?.[1]
        if (!token) return deny(reply, 401, 'invalid_token', 'Malformed bearer token', need.scopes)
        try {
          verified = await tokens.verifyAccessToken(token)
        } catch (err) {
          const detail = err instanceof InvalidTokenError ? err.message : 'The access token is invalid'
          return deny(reply, 401, 'invalid_token', detail, need.scopes)
        }
      }
      const { claims, scopes: granted } = verified
      // RFC 9068 §2.2: a token a client got for itself has the client as its subject.
      if (claims.sub === claims.client_id && config.clients.get(claims.sub)?.grantTypes.has('client_credentials')) {
        if (!need.clients) return deny(reply, 403, 'insufficient_scope', 'This route acts for a user; the token was issued to a client acting for itself')
        const missing = need.scopes.filter((s) => !granted.has(s))
        if (missing.length > 0) return deny(reply, 403, 'insufficient_scope', `Missing scope: ${missing.join(' ')}`, need.scopes)
        request.auth = { claims, scopes: granted, clientId: claims.client_id }
        return
      }
      const user = await store.getUserById(claims.sub)
      if (!user || !user.isActive) return deny(reply, 401, 'invalid_token', 'The user of this token is inactive or gone', need.scopes)
      const missing = need.scopes.filter((s) => !granted.has(s))
      if (missing.length > 0) return deny(reply, 403, 'insufficient_scope', `Missing scope: ${missing.join(' ')}`, need.scopes)
      if (need.superuser && !user.isSuperuser) return deny(reply, 403, 'insufficient_scope', 'Superusers only')
      if (need.account && !granted.has(ACCOUNT_SCOPE) && config.clients.get(claims.client_id)?.firstParty !== true) {
        return deny(reply, 403, 'insufficient_scope', `Managing the account needs a token of a first-party client or the ${ACCOUNT_SCOPE} scope`, [ACCOUNT_SCOPE])
      }
      if (need.maxAuthAge !== undefined && !signedInWithin(claims, need.maxAuthAge)) {
        return deny(reply, 401, 'insufficient_user_authentication', 'This change needs a recent sign-in: sign in again', [], need.maxAuthAge)
      }
      if (need.verified && !user.isVerified) {
        return reply.code(403).type('application/problem+json').send(problem(403, 'The email address is not verified', 'USER_NOT_VERIFIED'))
      }
      (request as unknown as UserSlots)[STORED_USER] = user
      request.auth = { claims, scopes: granted, clientId: claims.client_id }
    }
  }

  app.decorate('authenticate', guard)

  // Fail closed: a route declared before this plugin finished loading (app.get right
  // after an un-awaited register) never reached the onRoute hook below. It is still
  // guarded, lazily, here; only its OpenAPI security is missing, which we warn about.
  const lateGuards = new WeakMap<object, onRequestAsyncHookHandler>()
  app.addHook('onRequest', function fastifyUsersLateGuard (request, reply, done) {
    const routeConfig = request.routeOptions.config as { auth?: AuthRequirement, [GUARDED]?: true }
    if (routeConfig.auth === undefined || routeConfig[GUARDED]) return done()
    let late = lateGuards.get(routeConfig)
    if (!late) {
      request.log.warn({ route: request.routeOptions.url }, 'fastify-users: route declared before the plugin loaded; guarded at request time, no OpenAPI security. Await app.register(fastifyUsers) before declaring routes.')
      late = guard(routeConfig.auth)
      lateGuards.set(routeConfig, late)
    }
    late.call(app, request, reply).then(() => done(), done)
  })

  app.addHook('onRoute', (route: RouteOptions) => {
    const requirement = route.config?.auth
    if (requirement === undefined || requirement === false as unknown) return
    const where = `${String(route.method)} ${route.url}`
    const need = normalize(requirement, where, config.recentSignInMaxAge)
    // Fastify copies config (symbol keys included) into request.routeOptions.config.
    route.config = { ...route.config, [GUARDED]: true } as RouteOptions['config']
    for (const scope of need.scopes) config.scopes[scope] ??= ''
    const hooks = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest]
    route.onRequest = [guard(requirement), ...hooks]
    const schema = route.schema ?? {}
    route.schema = {
      ...schema,
      security: schema.security ?? [{ oauth2: need.scopes }],
      response: {
        401: { $ref: 'Problem#', description: 'Missing, invalid or expired access token' },
        403: { $ref: 'Problem#', description: 'The token lacks a scope, or the user a right, this route needs' },
        ...(schema.response as object | undefined)
      }
    }
  })
}, {
  name: 'fastify-users-auth',
  fastify: '5.x',
  dependencies: ['fastify-users-config', 'fastify-users-store', 'fastify-users-tokens']
})
