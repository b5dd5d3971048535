import type { FastifyInstance } from 'fastify'
import { StoreUnavailableError } from '../stores/types.js'
import { createUserService } from '../services/users.js'
import { createPasswordHasher } from '../services/password.js'
import type { UsersConfig } from './config.js'
import type { UsersReadiness } from './context.js'
import type { UsersEventBus } from '../services/events.js'

// A well-formed id (an ObjectId's hex form) that no user has.
const NO_SUCH_USER = '000000000000000000000000'

/** Opens the store (closed with the app) and builds the user service on it. */
export async function setupStore (app: FastifyInstance, config: UsersConfig, events: UsersEventBus) {
  const { store, passwordPolicy, onAfterRegister, recentSignInMaxAge, passwordHashing } = config
  await store.init()
  app.addHook('onClose', async () => { await store.close() })
  const manager = createUserService({ store, passwordPolicy, onAfterRegister, recentSignInMaxAge, hasher: createPasswordHasher(passwordHashing), events })
  async function ready (): Promise<UsersReadiness> {
    try {
      await store.getUserById(NO_SUCH_USER)
      return { store: 'up' }
    } catch (err) {
      if (err instanceof StoreUnavailableError) return { store: 'down' }
      throw err
    }
  }
  return { store, manager, ready }
}
