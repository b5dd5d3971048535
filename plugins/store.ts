import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import { StoreUnavailableError } from '../stores/types.js'
import { createUserService, type AccountNotifier } from '../services/users.js'
import { createActionTokens } from '../services/action-tokens.js'
import type { TokenService } from '../services/tokens.js'
import { createPasswordHasher } from '../services/password.js'
import type { UsersConfig } from './config.js'
import type { UsersReadiness } from './context.js'
import type { UsersEventBus } from '../services/events.js'

// A well-formed id (an ObjectId's hex form) that no user has.
const NO_SUCH_USER = '000000000000000000000000'

/** Opens the store (closed with the app). */
export async function setupStore (app: FastifyInstance, config: UsersConfig) {
  const { store } = config
  await store.init()
  app.addHook('onClose', async () => { await store.close() })
  async function ready (): Promise<UsersReadiness> {
    try {
      await store.getUserById(NO_SUCH_USER)
      return { store: 'up' }
    } catch (err) {
      if (err instanceof StoreUnavailableError) return { store: 'down' }
      throw err
    }
  }
  return { store, ready }
}

/** Reports what failed after a change was made (an onAfterRegister hook that threw): the change stands. */
export const failureReporter = (log: FastifyBaseLogger) => (err: unknown, what: string): void => {
  log.error({ err }, `fastify-users: ${what} failed; the change it followed stands`)
}

/** The user service on the store: passwords, mailed links (with a notifier), events. */
export function setupUserService (app: FastifyInstance, config: UsersConfig, events: UsersEventBus, tokens: TokenService, notify?: AccountNotifier) {
  const { store, passwordPolicy, onAfterRegister, recentSignInMaxAge, passwordHashing, issuer, paths } = config
  const actionTokens = createActionTokens({
    issuer,
    ttl: { verify: config.verifyTokenTtl, reset: config.resetPasswordTokenTtl },
    // Derived from the signing keys: shared by every instance, and rotated with them.
    secrets: () => tokens.deriveSecrets('action-tokens')
  })
  // As every URL we publish: the issuer, then our path under the prefix.
  const link = (path: string) => (token: string) => `${issuer}${path}?${new URLSearchParams({ token }).toString()}`
  return createUserService({
    store,
    passwordPolicy,
    onAfterRegister,
    recentSignInMaxAge,
    hasher: createPasswordHasher(passwordHashing),
    events,
    actionTokens,
    links: { verify: link(paths.verifyPage), reset: link(paths.resetPasswordPage) },
    notify,
    verifyOnRegister: config.verifyOnRegister,
    userFields: config.userFields,
    reportFailure: failureReporter(app.log),
    async signOutEverywhere (userId) {
      const now = new Date()
      await store.revokeGrantFamilies({ userId }, now)
      await store.deleteUserSessions(userId)
    }
  })
}
