import fp from 'fastify-plugin'
import { createGrantService, type GrantService } from '../services/grants.js'
import { createSessionService, type SessionService } from '../services/sessions.js'
import { toPublicUser } from '../services/users.js'
import type { StoredUser } from '../stores/types.js'

declare module 'fastify' {
  interface FastifyInstance {
    usersGrants: GrantService
    usersSessions: SessionService
  }
}

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

export default fp(async function usersGrantsPlugin (app) {
  const config = app.usersConfig
  app.decorate('usersGrants', createGrantService({
    store: config.store,
    tokens: app.usersTokens,
    codeTtl: config.codeTtl,
    refreshIdleTtl: config.refreshTokenIdleTtl,
    refreshAbsoluteTtl: config.refreshTokenAbsoluteTtl,
    accessTokenTtl: config.accessTokenTtl,
    allowedScopes: async (user) => config.allowedScopes(toPublicUser(user)),
    userClaims
  }))
  app.decorate('usersSessions', createSessionService({ store: config.store, ttl: config.sessionTtl }))
}, { name: 'fastify-users-grants', fastify: '5.x', dependencies: ['fastify-users-config', 'fastify-users-store', 'fastify-users-tokens'] })
