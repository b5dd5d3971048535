import type { onRequestAsyncHookHandler } from 'fastify'
import type { UsersConfig } from './config.js'
import type { AuthRequirement, RequestAuth } from './auth.js'
import type { UsersCookies } from './cookies.js'
import type { UsersKeys } from './tokens.js'
import type { UsersLimits } from './rate-limit.js'
import type { ProviderButton } from '../views/pages.js'
import type { GrantService } from '../services/grants.js'
import type { ExternalIssuerOptions } from '../services/external-tokens.js'
import type { OAuthAccountService } from '../services/oauth-accounts.js'
import type { UpstreamProvider } from '../services/providers/index.js'
import type { SessionService } from '../services/sessions.js'
import type { TokenService, VerifiedAccessToken } from '../services/tokens.js'
import type { UpdateProof, UserService } from '../services/users.js'
import type { User, UserUpdate } from '../schemas/user.js'
import type { ProviderOption } from '../schemas/providers.js'
import type { Client } from '../services/clients.js'
import type { UserStore } from '../stores/types.js'
import type { UsersEventBus } from '../services/events.js'
import type { ScopePolicy } from '../services/scopes.js'
import type { Authorization } from '../services/authorization.js'
import type { ProviderLogin } from '../services/provider-login.js'

/** A provider as configured, without its client secret. */
export type PublicProviderOption = Omit<ProviderOption, 'clientSecret'>
/** A client as registered, without the hash of its secret. */
export type PublicClient = Omit<Client, 'secretHash'>

/**
 * The options as resolved, without the secrets among them: cookie secrets, the token key,
 * signing keys, providers' client secrets and clients' secret hashes.
 */
export type PublicUsersConfig = Readonly<Omit<UsersConfig, 'cookieSecret' | 'oauthTokenKey' | 'signingKeys' | 'mailer' | 'resourceServer' | 'providers' | 'clients'> & {
  resourceServer?: { issuers: (Omit<ExternalIssuerOptions, 'introspection'> & { introspection?: { clientId: string } })[] }
  providers: readonly PublicProviderOption[]
  clients: ReadonlyMap<string, PublicClient>
}>

/** Users as an app handles them: public users in, public users out, never a password hash. */
export interface UsersManager {
  /** Registers a user (the first superuser too: `{ isSuperuser: true, isVerified: true }`). UserAlreadyExistsError, RegisterInvalidPasswordError. */
  register: UserService['register']
  /** The user when the credentials are right and the user is active; null otherwise, in equal time. */
  authenticate (email: string, password: string): Promise<User | null>
  /**
   * Changes a user as PATCH /users/me does, with the same proofs: a new password needs the
   * current one (or a recent sign-in, `authTime` in seconds, for a user without one). UserNotFoundError.
   */
  update (userId: string, changes: UserUpdate, proof?: UpdateProof): Promise<User>
}

/** Linked provider accounts, as an app may use them. */
export type UsersAccounts = Pick<OAuthAccountService, 'list' | 'unlink' | 'upstreamAccessToken'>

/** Whether the store answers: 'down' while it is out of reach (StoreUnavailableError). */
export interface UsersReadiness { store: 'up' | 'down' }

/**
 * What an app may use, at `app.users` (as @fastify/jwt's is at `app.jwt`). Everything else
 * (grants, sessions, cookie secrets, limits, login-page providers) stays inside the plugin.
 */
export interface FastifyUsers {
  /** The options after validation, with every default applied (secrets left out). */
  readonly config: PublicUsersConfig
  /** The store the plugin was given, initialised. */
  readonly store: UserStore
  /** Users: register (also the first superuser), authenticate, update. */
  readonly manager: UsersManager
  /** Rotation of the signing keys kept in the store. */
  readonly keys: UsersKeys
  /** The user's linked provider accounts, and their upstream access tokens. */
  readonly accounts: UsersAccounts
  /** Names and labels of the configured upstream providers, in the order of the options. */
  readonly providers: ReadonlyArray<{ readonly name: string, readonly label: string }>
  /** Verifies one of our access tokens; rejects with InvalidTokenError. */
  verify (token: string): Promise<VerifiedAccessToken>
  /**
   * The guard behind `config.auth`, for wiring by hand: `onRequest: [app.users.guard({ scopes })]`
   * (called: the guard itself is what it returns). No OpenAPI security then.
   */
  guard (requirement?: AuthRequirement): onRequestAsyncHookHandler
  /** The store's state, for the app's readiness route. One indexed lookup of a user that does not exist. */
  ready (): Promise<UsersReadiness>
  /** Listens to what happens (userCreated, login, logout, tokenIssued, refreshReuse, accountLinked, accountUnlinked); listeners are not awaited, what they throw is logged. */
  on: UsersEventBus['on']
  off: UsersEventBus['off']
}

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: AuthRequirement
  }
  interface FastifyRequest {
    /** On guarded routes: the verified token, its scopes, client and user. null elsewhere. */
    auth: RequestAuth | null
  }
  interface FastifyInstance {
    users: FastifyUsers
  }
}

/** Everything the plugin's routes share; built once at registration, never decorated. */
export interface UsersContext {
  config: UsersConfig
  store: UserStore
  manager: UserService
  tokens: TokenService
  keys: UsersKeys
  grants: GrantService
  sessions: SessionService
  cookies: UsersCookies
  providers: ReadonlyMap<string, UpstreamProvider>
  oauth: OAuthAccountService
  /** The login page's provider buttons, each carrying the pending authorization request. */
  loginProviders: (authorizeQuery: string, carried?: 'authorize_query' | 'return_to') => ProviderButton[]
  limits: UsersLimits
  /** Which scopes each grant gets (services/scopes.ts). */
  scopes: ScopePolicy
  /** The authorization endpoint's decisions (services/authorization.ts). */
  authorization: Authorization
  /** Each provider's login flow, by provider name (services/provider-login.ts). */
  logins: ReadonlyMap<string, ProviderLogin>
}
