import fp from 'fastify-plugin'
import type { UserStore } from '../stores/types.js'
import { createUserService, type UserService } from '../services/users.js'
import { createPasswordHasher } from '../services/password.js'

declare module 'fastify' {
  interface FastifyInstance {
    usersStore: UserStore
    usersService: UserService
  }
}

export default fp(async function usersStorePlugin (app) {
  const { store, passwordPolicy, onAfterRegister, recentSignInMaxAge, passwordHashing } = app.usersConfig
  await store.init()
  app.decorate('usersStore', store)
  app.decorate('usersService', createUserService({ store, passwordPolicy, onAfterRegister, recentSignInMaxAge, hasher: createPasswordHasher(passwordHashing) }))
  app.addHook('onClose', async () => { await store.close() })
}, { name: 'fastify-users-store', fastify: '5.x', dependencies: ['fastify-users-config'] })
