import fp from 'fastify-plugin'
import type { UserStore } from '../stores/types.js'
import { generateSigningKey, importSigningKey, toSigningKey, type SigningKey } from '../services/keys.js'
import { createTokenService, type TokenService } from '../services/tokens.js'

declare module 'fastify' {
  interface FastifyInstance {
    usersTokens: TokenService
  }
}

async function storedKeys (store: UserStore): Promise<SigningKey[]> {
  return (await store.listSigningKeys()).map(toSigningKey)
}

export default fp(async function usersTokensPlugin (app) {
  const { store, signingKeys, signingAlgorithm, issuer, audience, accessTokenTtl } = app.usersConfig
  let keys: SigningKey[]
  let reloadKeys: (() => Promise<SigningKey[]>) | undefined
  if (signingKeys) {
    // Keys from options are the operator's to rotate: they are never written to the store.
    keys = (await Promise.all(signingKeys.map(importSigningKey))).map(toSigningKey)
  } else {
    keys = await storedKeys(store)
    if (keys.length === 0) {
      await store.addSigningKey(await generateSigningKey(signingAlgorithm))
      // Read back: when instances start together, all of them settle on the newest key.
      keys = await storedKeys(store)
      app.log.info({ kid: keys[0]?.kid }, 'fastify-users: generated a signing key and kept it in the store')
    }
    reloadKeys = () => storedKeys(store)
  }
  app.decorate('usersTokens', createTokenService({ issuer, audience, accessTokenTtl, keys, reloadKeys }))
}, { name: 'fastify-users-tokens', fastify: '5.x', dependencies: ['fastify-users-config', 'fastify-users-store'] })
