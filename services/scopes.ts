import type { Client } from './clients.js'
import { oauthError } from '../errors.js'
import type { User } from '../schemas/user.js'

/** The scope only superusers may have, by default. */
export const SUPERUSER_SCOPE = 'users:admin'

/** OpenID Connect scopes (OIDC Core §3.1.2.1, §5.4), known to every server of ours. */
export const OIDC_SCOPES: Readonly<Record<string, string>> = {
  openid: 'Sign you in (OpenID Connect)',
  email: 'See your email address',
  profile: 'See your basic profile'
}

/**
 * The scope that lets a third-party client manage the user's account (password, email,
 * linked providers). First-party clients need no scope for that; a third-party client gets
 * this one only when its `scopes` option names it, and the consent page then says so.
 */
export const ACCOUNT_SCOPE = 'account:manage'

/** Splits an RFC 6749 §3.3 scope string; duplicates collapse. */
export function parseScope (scope: string | undefined): string[] {
  if (scope === undefined) return []
  return [...new Set(scope.split(' ').filter((s) => s !== ''))]
}

/**
 * Whether the client may obtain the scope: what its `scopes` option lists, or, without the
 * option, every scope but the account scope, which a third-party client must be given by name.
 */
export function clientMayHave (client: Client, scope: string): boolean {
  if (client.scopes !== undefined) return client.scopes.includes(scope)
  return scope !== ACCOUNT_SCOPE || client.firstParty
}

/** What the policy needs of the options: every scope, the defaults and who may have what. */
export interface ScopePolicyOptions {
  /** Every scope this server knows, name → description (the consent page shows these). */
  known: Readonly<Record<string, string>>
  /** The scopes only superusers may have. */
  superuserScopes: readonly string[]
  /** What a request that names no scope gets, of what the user may have. */
  defaults: (allowed: string[]) => string[]
  /** What a user may have. */
  allowedFor: (user: User) => string[] | Promise<string[]>
}

/**
 * The one place that decides which scopes a token gets, for every grant:
 * - a user's token (authorization code or password grant) is narrowed, not refused (RFC 6749
 *   §3.3): scopes that do not exist, that the client may not have or that the user may not
 *   have are dropped, and the token response's scope says what was granted; both flows alike;
 * - client credentials are strict: a scope the client may not have is invalid_scope;
 * - a code exchange or refresh never outgrows what the user may have now, and a refresh may
 *   ask for less than the grant, never more.
 */
export function createScopePolicy ({ known, superuserScopes, defaults, allowedFor }: ScopePolicyOptions) {
  const exists = (scope: string) => Object.hasOwn(known, scope)
  // A client acting for itself has no user: user-facing, account and superuser scopes are not its to have.
  const userOnly = (scope: string) => Object.hasOwn(OIDC_SCOPES, scope) || scope === ACCOUNT_SCOPE || superuserScopes.includes(scope)

  /** invalid_scope for the first scope that does not exist or may not be had. */
  function strict (requested: string[], mayHave: ReadonlySet<string>): string[] {
    for (const scope of requested) {
      if (!exists(scope)) throw oauthError('invalid_scope', `Unknown scope: ${scope}`)
      if (!mayHave.has(scope)) throw oauthError('invalid_scope', `Scope not allowed: ${scope}`)
    }
    return requested
  }

  return {
    /** The scopes of an authorization request worth carrying: known ones the client may have. */
    requestable (client: Client, requested: string[]): string[] {
      return requested.filter((s) => exists(s) && clientMayHave(client, s))
    },

    /** What a code is issued for: the request (or the defaults the client may have), of what the user may have. */
    /** Every scope the user may have. */
    async allowed (user: User): Promise<string[]> {
      return [...await allowedFor(user)]
    },

    async forAuthorization (client: Client, user: User, requested: string[]): Promise<string[]> {
      const allowed = await allowedFor(user)
      const wanted = requested.length > 0 ? requested : defaults(allowed).filter((s) => clientMayHave(client, s))
      return wanted.filter((s) => allowed.includes(s))
    },

    /** The password grant, as the authorization flow: the request (or the defaults), narrowed to what may be had. */
    async forPassword (client: Client, user: User, requested: string[]): Promise<string[]> {
      return this.forAuthorization(client, user, this.requestable(client, requested))
    },

    /** client_credentials: the client's own scopes (its option, else every scope that is not a user's). */
    forClient (client: Client, requested: string[]): string[] {
      const own = client.scopes ?? Object.keys(known).filter((s) => !userOnly(s))
      if (requested.length === 0) return [...own]
      return strict(requested, new Set(own))
    },

    /** A refresh may ask for less than its grant, never more (RFC 6749 §6): what it asks for. */
    withinGrant (granted: string[], requested: string[]): string[] {
      const beyond = requested.filter((s) => !granted.includes(s))
      if (beyond.length > 0) throw oauthError('invalid_scope', `Scope beyond the original grant: ${beyond.join(' ')}`)
      return requested.length > 0 ? requested : granted
    },

    /** A code exchange or refresh never outgrows what the user may have now. */
    async stillAllowed (user: User, scopes: string[]): Promise<string[]> {
      const allowed = new Set(await allowedFor(user))
      return scopes.filter((s) => allowed.has(s))
    }
  }
}

export type ScopePolicy = ReturnType<typeof createScopePolicy>
