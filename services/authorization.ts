import { OAuthError, type OAuthErrorCode } from '../errors.js'
import type { StoredSession, StoredUser, UserStore } from '../stores/types.js'
import { authorizationResponseUrl, type AuthorizeRequest } from './authorize.js'
import type { GrantService } from './grants.js'
import type { ScopePolicy } from './scopes.js'
import type { SessionService } from './sessions.js'
import { toPublicUser } from './users.js'

/** A browser's login session whose user is active. */
export interface SignedIn {
  sessionId: string
  session: StoredSession
  user: StoredUser
}

/**
 * What an authorization request gets (RFC 6749 §4.1.1, OpenID Connect Core §3.1.2): the login
 * page, the consent page, or a code; with prompt=none, an error for the client instead of a page.
 */
export type AuthorizeDecision =
  | { next: 'login' }
  | { next: 'consent', signedIn: SignedIn, scopes: string[] }
  | { next: 'code', signedIn: SignedIn, scopes: string[] }

export interface AuthorizationOptions {
  store: UserStore
  sessions: SessionService
  grants: GrantService
  scopes: Pick<ScopePolicy, 'forAuthorization'>
  issuer: string
  now?: () => Date
}

/** The authorization endpoint's decisions; the routes keep the browser's side (cookies, CSRF, pages). */
export function createAuthorization ({ store, sessions, grants, scopes, issuer, now = () => new Date() }: AuthorizationOptions) {
  /** An error of a trusted request: it goes to the client's redirect URI. */
  const toClient = (req: AuthorizeRequest, error: OAuthErrorCode, description: string) =>
    new OAuthError(error, description, { uri: req.redirectUri, state: req.state })

  /** Whether the user approved the client for every one of these scopes before. */
  async function approvedBefore (userId: string, clientId: string, wanted: string[]): Promise<boolean> {
    const consent = await store.getConsent(userId, clientId)
    return consent !== null && wanted.every((scope) => consent.scopes.includes(scope))
  }

  return {
    toClient,

    /** The session of this id, when it exists and its user is active. */
    async signedIn (sessionId: string | undefined): Promise<SignedIn | null> {
      if (sessionId === undefined) return null
      const session = await sessions.find(sessionId)
      if (!session) return null
      const user = await store.getUserById(session.userId)
      return user?.isActive ? { sessionId, session, user } : null
    },

    /**
     * prompt=login and a sign-in older than max_age (OIDC Core §3.1.2.1) do not count; a
     * third-party client, or prompt=consent, asks the user. With prompt=none, a page that would
     * be shown is an error for the client instead (login_required, consent_required).
     */
    async decide (req: AuthorizeRequest, signedIn: SignedIn | null): Promise<AuthorizeDecision> {
      const stale = signedIn !== null && req.maxAge !== undefined && now().getTime() - signedIn.session.createdAt.getTime() > req.maxAge * 1000
      const current = req.prompt.has('login') || stale ? null : signedIn
      if (!current) {
        if (req.prompt.has('none')) throw toClient(req, 'login_required', 'The user is not signed in')
        return { next: 'login' }
      }
      const granted = await scopes.forAuthorization(req.client, toPublicUser(current.user), req.scopes)
      if (!req.client.firstParty || req.prompt.has('consent')) {
        // A third-party client the user approved for these scopes before goes on without asking again.
        if (!req.client.firstParty && !req.prompt.has('consent') && await approvedBefore(current.user.id, req.client.clientId, granted)) {
          return { next: 'code', signedIn: current, scopes: granted }
        }
        if (req.prompt.has('none')) throw toClient(req, 'consent_required', 'The user has not approved this client')
        return { next: 'consent', signedIn: current, scopes: granted }
      }
      return { next: 'code', signedIn: current, scopes: granted }
    },

    /** Issues the code for the signed-in user: the URL that takes it to the client, with state and iss (RFC 9207). */
    async codeRedirect (req: AuthorizeRequest, signedIn: SignedIn, granted: string[]): Promise<string> {
      const code = await grants.issueCode({
        client: req.client,
        user: signedIn.user,
        scopes: granted,
        redirectUri: req.redirectUriParam,
        codeChallenge: req.codeChallenge,
        nonce: req.nonce,
        authTime: signedIn.session.createdAt,
        sessionId: signedIn.session.idHash
      })
      return authorizationResponseUrl(req.redirectUri, issuer, { code, state: req.state })
    },

    /**
     * The user approved on the consent page: remembered for this client and these scopes, and
     * the code, for what the request may have now.
     */
    async approved (req: AuthorizeRequest, signedIn: SignedIn): Promise<string> {
      const granted = await scopes.forAuthorization(req.client, toPublicUser(signedIn.user), req.scopes)
      await store.grantConsent(signedIn.user.id, req.client.clientId, granted, now())
      return this.codeRedirect(req, signedIn, granted)
    },

    /** The URL that takes an error to the client; undefined when it may not go there. */
    errorRedirect (err: OAuthError): string | undefined {
      if (!err.redirect) return undefined
      return authorizationResponseUrl(err.redirect.uri, issuer, { error: err.error, error_description: err.message, state: err.redirect.state })
    }
  }
}

export type Authorization = ReturnType<typeof createAuthorization>
