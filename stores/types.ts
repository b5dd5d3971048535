import { InvalidCursorError } from '../errors.js'

/**
 * The persistence contract of fastify-users. Every adapter (memoryStore, mongoStore,
 * or one of your own) must pass the shared contract suite, storeContract from fastify-users/testing.
 *
 * Rules every adapter keeps:
 * - Emails are unique by their normalized form (see normalizeEmail); a write that
 *   would break that rejects with EmailAlreadyExistsError and changes nothing.
 * - Every method is atomic on its own, but deleteUser: it may stop half-way, in an order
 *   that is safe (see there). None leaves half-written records behind.
 * - Returned objects are copies, down to nested values (permissions, fields): mutating
 *   them never changes the store, nor does mutating an object after handing it over.
 */
export interface StoredUser {
  id: string
  email: string
  hashedPassword: string | null
  isActive: boolean
  isVerified: boolean
  isSuperuser: boolean
  /** Names the app gives the user, e.g. 'admin'; [] by default. */
  permissions: string[]
  /** The app's own fields (displayName, plan, ...): plain JSON values; {} by default. */
  fields: Record<string, unknown>
  createdAt: Date
  updatedAt: Date
}

export interface NewUser {
  email: string
  hashedPassword: string | null
  isActive?: boolean
  isVerified?: boolean
  isSuperuser?: boolean
  permissions?: string[]
  fields?: Record<string, unknown>
}

/** `permissions` and `fields` each replace the whole value. */
export type UserChanges = Partial<Pick<StoredUser, 'email' | 'hashedPassword' | 'isActive' | 'isVerified' | 'isSuperuser' | 'permissions' | 'fields'>>

/** A page of users for administrators. Users come ordered by createdAt, then id. */
export interface UserListQuery {
  /** 1..1000 */
  limit: number
  /** The `next` of the previous page; absent for the first page. */
  cursor?: string
  /** Exactly this address (compared in normalized form, see normalizeEmail). */
  email?: string
  /** Addresses starting with this (normalized form). */
  emailPrefix?: string
}

export interface UserPage {
  users: StoredUser[]
  /** The cursor of the next page; null on the last one. */
  next: string | null
}

export interface StoredSigningKey {
  kid: string
  alg: 'EdDSA' | 'ES256' | 'RS256'
  /** Private JWK. Whoever can read the store can sign tokens: protect it like a secret. */
  privateJwk: Record<string, unknown>
  createdAt: Date
}

/** A step of an authorization that a client redeems once: an authorization code or a refresh token. */
export type GrantKind = 'authorization_code' | 'refresh_token'

export interface StoredGrant {
  /** sha256 (base64url) of the token the client holds; the token itself is never stored. */
  tokenHash: string
  kind: GrantKind
  /** The family (one authorization of one client by one user) this grant belongs to. */
  familyId: string
  clientId: string
  userId: string
  scope: string
  createdAt: Date
  expiresAt: Date
  /** Set, once, by consumeGrant. */
  consumedAt: Date | null
  /** authorization_code: the redirect_uri of the request (null when it named none), PKCE and OIDC data. */
  redirectUri?: string | null
  codeChallenge?: string
  nonce?: string
  authTime?: Date
}

/**
 * Everything one authorization code led to: the code, each refresh token of its rotation
 * chain and the access tokens they were exchanged for. Revoking the family ends them all.
 */
export interface StoredGrantFamily {
  familyId: string
  clientId: string
  userId: string
  /** The browser session the user authorized from; logging out revokes its families. */
  sessionId?: string
  /** When the user signed in for this authorization: id_tokens issued on refresh keep it (OIDC Core §12.2). */
  authTime?: Date
  createdAt: Date
  /** The absolute end of the family: no refresh token of it outlives this. */
  expiresAt: Date
  revokedAt: Date | null
}

/** A browser login session; the cookie holds the id, the store its hash. */
export interface StoredSession {
  idHash: string
  userId: string
  createdAt: Date
  expiresAt: Date
}

/**
 * A provider account linked to a user: (provider, accountId) is unique, and a user has at
 * most one account per provider (the service keeps that rule).
 */
export interface StoredOAuthAccount {
  provider: string
  /** The provider's stable id of the account (OIDC `sub`, GitHub's numeric id, ...). */
  accountId: string
  userId: string
  accountEmail: string | null
  /** Upstream tokens, as the service hands them over: encrypted (JWE) when the app gave a key. */
  accessToken: string | null
  refreshToken: string | null
  /** When the upstream access token expires; null when the provider did not say. */
  expiresAt: Date | null
  createdAt: Date
  updatedAt: Date
}

export type OAuthAccountChanges = Partial<Pick<StoredOAuthAccount, 'accountEmail' | 'accessToken' | 'refreshToken' | 'expiresAt'>>

/**
 * A login at an upstream provider in progress: created when the browser is sent to the
 * provider, consumed once when it comes back. The state the provider echoes is its key.
 */
export interface StoredUpstreamState {
  /** sha256 (base64url) of the state parameter. */
  stateHash: string
  provider: string
  purpose: 'login' | 'associate'
  /** login: the pending /oauth/authorize request, as carried through our forms. */
  authorizeQuery?: string
  /** login without a client (/login): the same-site path the browser goes back to. */
  returnTo?: string
  /** associate: the user the account is to be linked to. */
  userId?: string
  /** OIDC: the nonce sent, to be found in the id_token. */
  nonce?: string
  createdAt: Date
  expiresAt: Date
}

/** Which families to revoke: one, a session's, a user's, or what a user authorized one client to do. */
export type FamilySelector = { familyId: string } | { sessionId: string } | { userId: string } | { userId: string, clientId: string }

/**
 * What a user approved a third-party client to do, remembered so that the consent page is not
 * shown again for those scopes: (userId, clientId) is unique.
 */
export interface StoredConsent {
  userId: string
  clientId: string
  scopes: string[]
  createdAt: Date
  updatedAt: Date
}

export interface UserStore {
  /** Creates indexes and connects; called once when the plugin starts. Idempotent. */
  init(): Promise<void>
  /** Releases connections the store opened itself. */
  close(): Promise<void>

  /** @throws EmailAlreadyExistsError when the normalized email is taken */
  createUser(user: NewUser): Promise<StoredUser>
  getUserById(id: string): Promise<StoredUser | null>
  /** Looks up by normalized email. */
  getUserByEmail(email: string): Promise<StoredUser | null>
  /**
   * Applies the changes and bumps updatedAt; null when no such user. With `expected`, only
   * while the stored password hash is still that one (null when there is none), atomically:
   * of concurrent changes made from the same hash, one wins and the others resolve null
   * (two uses of one password reset link at once).
   * @throws EmailAlreadyExistsError when the new email belongs to another user
   */
  updateUser(id: string, changes: UserChanges, expected?: { hashedPassword: string | null }): Promise<StoredUser | null>
  /**
   * true when a user was deleted. Everything of the user goes with it: OAuth accounts,
   * grant families and their grants, sessions, and upstream states of purpose 'associate'.
   * Without a transaction, the records of the user go first and the user last: a failure
   * half-way leaves a user with fewer sessions or grants, which a retry finishes, never a
   * grant that outlives its user.
   */
  deleteUser(id: string): Promise<boolean>
  /**
   * Users in a stable order: by createdAt, then by id (as strings compare). Pages are
   * keyset-based: users created or deleted between two pages make the others neither
   * skipped nor repeated.
   * @throws InvalidCursorError when the cursor is not one this store gave
   * @throws RangeError when the limit is not an integer in 1..1000
   */
  listUsers(query: UserListQuery): Promise<UserPage>
  /** How many superusers there are, active or not: the last one must not be removed. */
  countSuperusers(): Promise<number>

  /** Every signing key kept in the store, newest first. */
  listSigningKeys(): Promise<StoredSigningKey[]>
  /** Adds a key; a second key with the same kid is ignored. */
  addSigningKey(key: StoredSigningKey): Promise<void>
  /** Retires a key: tokens it signed stop verifying. true when it existed. */
  removeSigningKey(kid: string): Promise<boolean>

  /** @throws Error when a grant with this tokenHash exists */
  createGrant(grant: StoredGrant): Promise<void>
  /** The grant, consumed or not; null when unknown or expired at `now`. */
  getGrant(tokenHash: string, now: Date): Promise<StoredGrant | null>
  /**
   * Marks the grant consumed, atomically: of any number of concurrent calls for one grant,
   * exactly one resolves the grant (as it was before); the others, and calls for unknown,
   * expired or already consumed grants, resolve null.
   */
  consumeGrant(tokenHash: string, kind: GrantKind, now: Date): Promise<StoredGrant | null>

  createGrantFamily(family: StoredGrantFamily): Promise<void>
  /** null when unknown or expired at `now`. */
  getGrantFamily(familyId: string, now: Date): Promise<StoredGrantFamily | null>
  /**
   * Moves the family's end to `expiresAt` when it exists and has not ended at `now`;
   * resolves the family as it is then (revoked or not), or null. A family starts with the
   * short life of its authorization code and gets its full life when the code is redeemed.
   */
  extendGrantFamily(familyId: string, expiresAt: Date, now: Date): Promise<StoredGrantFamily | null>
  /** Sets revokedAt on every matching family not yet revoked; resolves how many. */
  revokeGrantFamilies(selector: FamilySelector, now: Date): Promise<number>

  /** The user's consent for the client, or null. */
  getConsent(userId: string, clientId: string): Promise<StoredConsent | null>
  /**
   * Adds scopes to the user's consent for the client, creating it: the union is kept, and
   * concurrent grants lose none of their scopes. Resolves the consent as it is then.
   */
  grantConsent(userId: string, clientId: string, scopes: string[], now: Date): Promise<StoredConsent>
  /** The clients the user approved, oldest first. */
  listConsents(userId: string): Promise<StoredConsent[]>
  /** true when a consent was removed. */
  deleteConsent(userId: string, clientId: string): Promise<boolean>

  createSession(session: StoredSession): Promise<void>
  /** null when unknown or expired at `now`. */
  getSession(idHash: string, now: Date): Promise<StoredSession | null>
  /** true when a session was deleted */
  deleteSession(idHash: string): Promise<boolean>
  /** Deletes every session of the user (as when the user is deactivated); resolves how many. */
  deleteUserSessions(userId: string): Promise<number>
  /** The user's sessions not expired at `now`, oldest first. */
  listUserSessions(userId: string, now: Date): Promise<StoredSession[]>

  /** @throws OAuthAccountExistsError when (provider, accountId) is linked already */
  createOAuthAccount(account: StoredOAuthAccount): Promise<void>
  getOAuthAccount(provider: string, accountId: string): Promise<StoredOAuthAccount | null>
  /** The user's accounts, oldest first. */
  listOAuthAccounts(userId: string): Promise<StoredOAuthAccount[]>
  /** Applies the changes and bumps updatedAt; null when no such account. */
  updateOAuthAccount(provider: string, accountId: string, changes: OAuthAccountChanges): Promise<StoredOAuthAccount | null>
  /** Unlinks the user's account at this provider; true when one was removed. */
  deleteOAuthAccount(userId: string, provider: string): Promise<boolean>

  /** @throws Error when a state with this hash exists */
  createUpstreamState(state: StoredUpstreamState): Promise<void>
  /**
   * Removes and returns the state, atomically: of concurrent calls exactly one gets it;
   * null when unknown, consumed or expired at `now`.
   */
  consumeUpstreamState(stateHash: string, now: Date): Promise<StoredUpstreamState | null>
}

export { EmailAlreadyExistsError, InvalidCursorError, OAuthAccountExistsError, StoreUnavailableError } from '../errors.js'

/**
 * The form under which emails are compared. Domains are case-insensitive by RFC 5321
 * and mail providers treat local parts the same way in practice, so the whole address
 * is lower-cased, after Unicode NFC normalization so that visually equal addresses match.
 */
export function normalizeEmail (email: string): string {
  return email.trim().normalize('NFC').toLowerCase()
}

/** Where a page of users starts: after the user with this createdAt and id. */
export interface UserListPosition {
  createdAt: Date
  id: string
}

/**
 * The cursor that continues a listing after this user. Opaque to callers, but not secret:
 * it holds the user's creation time and id, both of which the page shows anyway.
 */
export function userCursor (user: Pick<StoredUser, 'createdAt' | 'id'>): string {
  return Buffer.from(`${user.createdAt.getTime()}:${user.id}`).toString('base64url')
}

/** A listing query as adapters use it: see parseUserListQuery. */
export interface ParsedUserListQuery {
  limit: number
  /** null for the first page. */
  after: UserListPosition | null
  /** Normalized. */
  email?: string
  /** Normalized; never empty. */
  emailPrefix?: string
}

/**
 * Checks a listing query for an adapter: the limit, the cursor turned back into a position,
 * the email filters normalized (an empty prefix filters nothing).
 * @throws RangeError, InvalidCursorError
 */
export function parseUserListQuery ({ limit, cursor, email, emailPrefix }: UserListQuery): ParsedUserListQuery {
  // The limit bounds what one call reads; MongoDB would take a limit of 0 for none at all.
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new RangeError('listUsers: limit must be an integer in 1..1000')
  const parsed: ParsedUserListQuery = { limit, after: cursor === undefined ? null : positionOf(cursor) }
  if (email !== undefined) parsed.email = normalizeEmail(email)
  const prefix = emailPrefix === undefined ? '' : normalizeEmail(emailPrefix)
  if (prefix !== '') parsed.emailPrefix = prefix
  return parsed
}

function positionOf (cursor: string): UserListPosition {
  const text = Buffer.from(cursor, 'base64url').toString()
  // The decoder skips what is not base64url; only a cursor that re-encodes to itself is ours.
  const match = Buffer.from(text).toString('base64url') === cursor ? /^(\d{1,15}):(.+)$/s.exec(text) : null
  if (match === null) throw new InvalidCursorError()
  return { createdAt: new Date(Number(match[1])), id: match[2] as string }
}
