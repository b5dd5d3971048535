import fp from 'fastify-plugin'
import { StoreUnavailableError, type UserStore } from '../stores/types.js'
import { createUserService, type UserService } from '../services/users.js'
import { createPasswordHasher } from '../services/password.js'

// A well-formed id (an ObjectId's hex form) that no user has.
const NO_SUCH_USER = '000000000000000000000000'

declare module 'fastify' {
  interface FastifyInstance {
    usersStore: UserStore
    usersService: UserService
    /**
     * Whether the store answers, for the app's readiness route: 'down' while it is out of
     * reach (StoreUnavailableError), 'up' otherwise. One indexed lookup of a user that does not exist.
     */
    usersReadiness: () => Promise<{ store: 'up' | 'down' }>
  }
}

export default fp(async function usersStorePlugin (app) {
  const { store, passwordPolicy, onAfterRegister, recentSignInMaxAge, passwordHashing } = app.usersConfig
  await store.init()
  app.decorate('usersStore', store)
  app.decorate('usersService', createUserService({ store, passwordPolicy, onAfterRegister, recentSignInMaxAge, hasher: createPasswordHasher(passwordHashing) }))
  app.decorate('usersReadiness', async () => {
    try {
      await store.getUserById(NO_SUCH_USER)
      return { store: 'up' as const }
    } catch (err) {
      if (err instanceof StoreUnavailableError) return { store: 'down' as const }
      throw err
    }
  })
  app.addHook('onClose', async () => { await store.close() })
}, { name: 'fastify-users-store', fastify: '5.x', dependencies: ['fastify-users-config'] })
