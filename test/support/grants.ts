import type { FastifyInstance } from 'fastify'
import { setupGrants } from '../../plugins/grants.js'
import { toSigningKey } from '../../services/keys.js'
import { createTokenService } from '../../services/tokens.js'
import { createEventBus } from '../../services/events.js'
import { createScopePolicy } from '../../services/scopes.js'

/**
 * A grant service of its own over the app's store and keys, for tests and benchmarks that
 * need many codes without a browser: what it writes, the app's token endpoint redeems.
 */
export async function grantsOf (app: FastifyInstance) {
  const config = app.users.config
  const keys = (await config.store.listSigningKeys()).map(toSigningKey)
  const tokens = createTokenService({ issuer: config.issuer, audience: config.audience, accessTokenTtl: config.accessTokenTtl, keys })
  const scopes = createScopePolicy({ known: config.scopes, superuserScopes: config.superuserScopes, defaults: config.defaultScopes, allowedFor: config.allowedScopes })
  return setupGrants(config, tokens, createEventBus(() => {}), scopes).grants
}
