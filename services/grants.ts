import { randomUUID } from 'node:crypto'
import type { StoredGrant, StoredUser, UserStore } from '../stores/types.js'
import type { Client } from './clients.js'
import { oauthError } from '../errors.js'
import { verifyS256 } from './pkce.js'
import { parseScope, type ScopePolicy } from './scopes.js'
import { hashToken, randomToken } from './secrets.js'
import type { TokenService } from './tokens.js'
import type { UsersEventBus } from './events.js'
import type { AccessTokenClaimsHook, AccessTokenClaimsInput, GrantType } from '../schemas/hooks.js'
import { toPublicUser } from './users.js'

/** Claims of ours that an app's accessTokenClaims hook may not set. */
const RESERVED_CLAIMS = new Set(['iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'jti', 'client_id', 'scope', 'auth_time', 'fam', 'typ', 'cnf', 'act'])

export interface GrantServiceOptions {
  store: UserStore
  tokens: TokenService
  /** seconds */
  codeTtl: number
  refreshIdleTtl: number
  refreshAbsoluteTtl: number
  accessTokenTtl: number
  /** Which scopes a code exchange or refresh grants. */
  scopePolicy: Pick<ScopePolicy, 'withinGrant' | 'stillAllowed'>
  /** OIDC claims of the user for the granted scopes (email, ...). */
  userClaims: (user: StoredUser, scopes: string[]) => Record<string, unknown>
  /** The app's claims for an access token, beside ours. */
  accessTokenClaims?: AccessTokenClaimsHook
  events: Pick<UsersEventBus, 'emit'>
  now?: () => Date
}

export interface TokenSet {
  access_token: string
  token_type: 'Bearer'
  expires_in: number
  scope: string
  refresh_token?: string
  id_token?: string
}

export interface CodeRequest {
  client: Client
  user: StoredUser
  scopes: string[]
  /** As the authorization request gave it; null when it named none. */
  redirectUri: string | null
  codeChallenge?: string
  nonce?: string
  authTime: Date
  sessionId?: string
}

export interface IntrospectionResult {
  active: boolean
  [claim: string]: unknown
}

const invalidGrant = (description: string) => oauthError('invalid_grant', description)

/**
 * Authorization codes and refresh tokens (RFC 6749 §4.1, §6). Every code starts a grant
 * family; each refresh token is redeemed once and replaced; a code or refresh token
 * presented twice is treated as stolen and its whole family revoked (RFC 6819 §5.2.2.3,
 * OAuth 2.0 Security BCP §4.14).
 */
export function createGrantService (options: GrantServiceOptions) {
  const { store, tokens } = options
  const now = options.now ?? (() => new Date())
  const later = (from: Date, seconds: number) => new Date(from.getTime() + seconds * 1000)

  /**
   * `authTime`: when the user signed in for this authorization; `family`: absent for the
   * password grant; `spend`: uses up the code or refresh token being exchanged. It is the last
   * write: should the store fail before it, the client still holds what it presented and may
   * retry; a refresh token stored before a failed spend was never handed out.
   */
  async function extraClaims (input: AccessTokenClaimsInput): Promise<Record<string, unknown> | undefined> {
    if (!options.accessTokenClaims) return undefined
    const claims = await options.accessTokenClaims(input)
    const reserved = Object.keys(claims).filter((c) => RESERVED_CLAIMS.has(c))
    if (reserved.length > 0) throw new Error(`fastify-users: accessTokenClaims may not set ${reserved.join(', ')}`)
    return claims
  }

  async function issueTokens (grantType: GrantType, client: Client, user: StoredUser, scopes: string[], authTime: Date | undefined, family?: { familyId: string, expiresAt: Date, grantScope: string, nonce?: string, spend: () => Promise<void> }): Promise<TokenSet> {
    const scope = scopes.join(' ')
    const extra = options.accessTokenClaims && await extraClaims({ user: toPublicUser(user), clientId: client.clientId, scopes, grantType })
    const { token, expiresIn } = tokens.signAccessToken({ sub: user.id, clientId: client.clientId, scope, familyId: family?.familyId, authTime, extra })
    const set: TokenSet = { access_token: token, token_type: 'Bearer', expires_in: expiresIn, scope }
    if (family && client.grantTypes.has('refresh_token')) {
      const issuedAt = now()
      const refreshToken = randomToken()
      const idleEnd = later(issuedAt, options.refreshIdleTtl)
      await store.createGrant({
        tokenHash: hashToken(refreshToken),
        kind: 'refresh_token',
        familyId: family.familyId,
        clientId: client.clientId,
        userId: user.id,
        // The grant keeps the scope of the authorization; a refresh may ask for less, once.
        scope: family.grantScope,
        createdAt: issuedAt,
        expiresAt: idleEnd < family.expiresAt ? idleEnd : family.expiresAt,
        consumedAt: null
      })
      set.refresh_token = refreshToken
    }
    await family?.spend()
    if (scopes.includes('openid')) {
      set.id_token = tokens.signIdToken({
        sub: user.id,
        clientId: client.clientId,
        nonce: family?.nonce,
        authTime,
        accessToken: token,
        claims: options.userClaims(user, scopes),
        ...(client.idTokenAlg !== undefined && { alg: client.idTokenAlg })
      })
    }
    options.events.emit('tokenIssued', { userId: user.id, clientId: client.clientId, scopes, grantType })
    return set
  }

  async function activeUser (userId: string): Promise<StoredUser> {
    const user = await store.getUserById(userId)
    if (!user || !user.isActive) throw invalidGrant('The user of this grant is inactive or gone')
    return user
  }

  /** Reuse of a one-time grant: whoever holds the family's tokens may be an attacker. */
  async function reused (grant: StoredGrant, what: string): Promise<never> {
    await store.revokeGrantFamilies({ familyId: grant.familyId }, now())
    options.events.emit('refreshReuse', { familyId: grant.familyId, userId: grant.userId, clientId: grant.clientId, grantType: grant.kind })
    throw invalidGrant(`This ${what} was already used; every token issued from it is revoked`)
  }

  return {
    /** Starts a grant family and returns the authorization code for it. */
    async issueCode (request: CodeRequest): Promise<string> {
      const issuedAt = now()
      const familyId = randomUUID()
      const codeEnd = later(issuedAt, options.codeTtl)
      // The family lives as long as its code until the code is redeemed: a browser that asks
      // for codes it never redeems leaves nothing behind for longer than that.
      await store.createGrantFamily({
        familyId,
        clientId: request.client.clientId,
        userId: request.user.id,
        sessionId: request.sessionId,
        authTime: request.authTime,
        createdAt: issuedAt,
        expiresAt: codeEnd,
        revokedAt: null
      })
      const code = randomToken()
      await store.createGrant({
        tokenHash: hashToken(code),
        kind: 'authorization_code',
        familyId,
        clientId: request.client.clientId,
        userId: request.user.id,
        scope: request.scopes.join(' '),
        createdAt: issuedAt,
        expiresAt: codeEnd,
        consumedAt: null,
        redirectUri: request.redirectUri,
        codeChallenge: request.codeChallenge,
        nonce: request.nonce,
        authTime: request.authTime
      })
      return code
    },

    /** RFC 6749 §4.1.3 with RFC 7636 §4.6. */
    async exchangeCode (client: Client, params: { code?: string, redirectUri?: string, codeVerifier?: string }): Promise<TokenSet> {
      if (!params.code) throw oauthError('invalid_request', 'code is required')
      const tokenHash = hashToken(params.code)
      const grant = await store.getGrant(tokenHash, now())
      if (!grant || grant.kind !== 'authorization_code') throw invalidGrant('Unknown or expired authorization code')
      if (grant.consumedAt !== null) return reused(grant, 'authorization code')
      // Checked before the code is spent, so that a thief without the verifier cannot burn it.
      if (grant.clientId !== client.clientId) throw invalidGrant('The authorization code was issued to another client')
      if ((grant.redirectUri ?? undefined) !== params.redirectUri) {
        throw invalidGrant(grant.redirectUri ? 'redirect_uri does not match the authorization request' : 'The authorization request had no redirect_uri; the token request must not have one either')
      }
      if (grant.codeChallenge !== undefined) {
        if (!params.codeVerifier) throw invalidGrant('code_verifier is required')
        if (!verifyS256(params.codeVerifier, grant.codeChallenge)) throw invalidGrant('code_verifier does not match the code_challenge')
      } else if (params.codeVerifier !== undefined) {
        throw invalidGrant('The authorization request had no code_challenge')
      }
      const user = await activeUser(grant.userId)
      // Being redeemed: the family gets its full life (only a request that passed every check
      // gets this far). Access tokens name their family; it outlives the last of them.
      const familyEnd = later(grant.createdAt, options.refreshAbsoluteTtl + options.accessTokenTtl)
      const family = await store.extendGrantFamily(grant.familyId, familyEnd, now())
      if (!family || family.revokedAt !== null) throw invalidGrant('The authorization was revoked')
      const scopes = await options.scopePolicy.stillAllowed(toPublicUser(user), parseScope(grant.scope))
      return issueTokens('authorization_code', client, user, scopes, grant.authTime, {
        familyId: family.familyId,
        expiresAt: new Date(family.expiresAt.getTime() - options.accessTokenTtl * 1000),
        grantScope: scopes.join(' '),
        nonce: grant.nonce,
        spend: async () => {
          if (!await store.consumeGrant(tokenHash, 'authorization_code', now())) await reused(grant, 'authorization code')
        }
      })
    },

    /** RFC 6749 §6, with rotation. */
    async refresh (client: Client, params: { refreshToken?: string, scope?: string }): Promise<TokenSet> {
      if (!params.refreshToken) throw oauthError('invalid_request', 'refresh_token is required')
      const tokenHash = hashToken(params.refreshToken)
      const grant = await store.getGrant(tokenHash, now())
      if (!grant || grant.kind !== 'refresh_token') throw invalidGrant('Unknown or expired refresh token')
      if (grant.clientId !== client.clientId) throw invalidGrant('The refresh token was issued to another client')
      if (grant.consumedAt !== null) return reused(grant, 'refresh token')
      // Checked before the token is spent: a refused request leaves the client its token to retry.
      const granted = parseScope(grant.scope)
      const wanted = options.scopePolicy.withinGrant(granted, parseScope(params.scope))
      const family = await store.getGrantFamily(grant.familyId, now())
      if (!family || family.revokedAt !== null) throw invalidGrant('The authorization was revoked')
      const user = await activeUser(grant.userId)
      // The grant as the user may have it now; what this refresh asked for is within it.
      const stillGranted = await options.scopePolicy.stillAllowed(toPublicUser(user), granted)
      const scopes = wanted.filter((s) => stillGranted.includes(s))
      return issueTokens('refresh_token', client, user, scopes, family.authTime, {
        familyId: family.familyId,
        expiresAt: new Date(family.expiresAt.getTime() - options.accessTokenTtl * 1000),
        grantScope: stillGranted.join(' '),
        // Of concurrent refreshes with this token one spends it; the others revoke the family,
        // the winner's new refresh token with it.
        spend: async () => {
          if (!await store.consumeGrant(tokenHash, 'refresh_token', now())) await reused(grant, 'refresh token')
        }
      })
    },

    /** Tokens for the password grant: no family, no refresh token; the user signed in just now. */
    async passwordTokens (client: Client, user: StoredUser, scopes: string[]): Promise<TokenSet> {
      return issueTokens('password', client, user, scopes, now())
    },

    /** RFC 6749 §4.4: the client acts for itself; `sub` is its id (RFC 9068 §2.2). */
    async clientTokens (client: Client, scopes: string[]): Promise<TokenSet> {
      const scope = scopes.join(' ')
      const extra = await extraClaims({ user: null, clientId: client.clientId, scopes, grantType: 'client_credentials' })
      const { token, expiresIn } = tokens.signAccessToken({ sub: client.clientId, clientId: client.clientId, scope, extra })
      options.events.emit('tokenIssued', { userId: null, clientId: client.clientId, scopes, grantType: 'client_credentials' })
      return { access_token: token, token_type: 'Bearer', expires_in: expiresIn, scope }
    },

    /** RFC 7009: a refresh token or an access token of a family ends the family. */
    async revoke (client: Client, token: string): Promise<void> {
      const grant = await store.getGrant(hashToken(token), now())
      if (grant) {
        // §2.1: a client may only revoke its own tokens; others are silently ignored.
        if (grant.clientId === client.clientId) await store.revokeGrantFamilies({ familyId: grant.familyId }, now())
        return
      }
      const claims = (await tokens.verifyAccessToken(token).catch(() => undefined))?.claims
      if (claims?.fam !== undefined && claims.client_id === client.clientId) {
        await store.revokeGrantFamilies({ familyId: claims.fam }, now())
      }
    },

    /** RFC 7662 §2.2; inactive tokens say nothing more than that. */
    async introspect (token: string): Promise<IntrospectionResult> {
      const at = now()
      const grant = await store.getGrant(hashToken(token), at)
      if (grant) {
        if (grant.kind !== 'refresh_token' || grant.consumedAt !== null) return { active: false }
        const family = await store.getGrantFamily(grant.familyId, at)
        const user = family && family.revokedAt === null ? await store.getUserById(grant.userId) : null
        if (!user?.isActive) return { active: false }
        return {
          active: true,
          token_type: 'refresh_token',
          client_id: grant.clientId,
          sub: grant.userId,
          scope: grant.scope,
          iat: Math.floor(grant.createdAt.getTime() / 1000),
          exp: Math.floor(grant.expiresAt.getTime() / 1000)
        }
      }
      const claims = (await tokens.verifyAccessToken(token).catch(() => undefined))?.claims
      if (!claims) return { active: false }
      if (claims.fam !== undefined) {
        const family = await store.getGrantFamily(claims.fam, at)
        if (!family || family.revokedAt !== null) return { active: false }
      }
      if (claims.sub !== claims.client_id) {
        const user = await store.getUserById(claims.sub)
        if (!user?.isActive) return { active: false }
      }
      const { fam: _fam, ...published } = claims
      return { active: true, token_type: 'Bearer', ...published }
    }
  }
}

export type GrantService = ReturnType<typeof createGrantService>
