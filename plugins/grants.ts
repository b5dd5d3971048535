import { createGrantService } from '../services/grants.js'
import { createSessionService } from '../services/sessions.js'
import type { TokenService } from '../services/tokens.js'
import type { UsersEventBus } from '../services/events.js'
import type { ScopePolicy } from '../services/scopes.js'
import type { StoredUser } from '../stores/types.js'
import type { PublicUsersConfig } from './context.js'

/** OIDC Core §5.4: what each scope lets the client see of the user. */
export function userClaims (user: StoredUser, scopes: string[]): Record<string, unknown> {
  const claims: Record<string, unknown> = {}
  if (scopes.includes('email')) {
    claims.email = user.email
    claims.email_verified = user.isVerified
  }
  if (scopes.includes('profile')) claims.updated_at = Math.floor(user.updatedAt.getTime() / 1000)
  return claims
}

/** Codes, refresh-token families and browser sessions. */
export function setupGrants (config: PublicUsersConfig, tokens: TokenService, events: UsersEventBus, scopePolicy: ScopePolicy) {
  const grants = createGrantService({
    store: config.store,
    tokens,
    codeTtl: config.codeTtl,
    refreshIdleTtl: config.refreshTokenIdleTtl,
    refreshAbsoluteTtl: config.refreshTokenAbsoluteTtl,
    accessTokenTtl: config.accessTokenTtl,
    scopePolicy,
    userClaims,
    accessTokenClaims: config.accessTokenClaims,
    events
  })
  const sessions = createSessionService({ store: config.store, ttl: config.sessionTtl, events })
  return { grants, sessions }
}
