import type { FastifyBaseLogger } from 'fastify'
import type { UserStore } from '../stores/types.js'
import type { UsersConfig } from './config.js'
import { generateSigningKey, importSigningKey, toSigningKey, type SigningKey } from '../services/keys.js'
import { createTokenService } from '../services/tokens.js'

/** Rotation of the keys kept in the store (keys given in options rotate with the options). */
export interface UsersKeys {
  /** Generates a key and signs with it from now on; older keys keep verifying. Resolves its kid. */
  rotate (): Promise<string>
  /** Removes a key: tokens it signed stop verifying here at once, elsewhere at their next key reload. */
  retire (kid: string): Promise<boolean>
}

async function storedKeys (store: UserStore): Promise<SigningKey[]> {
  return (await store.listSigningKeys()).map(toSigningKey)
}

/** The key set (from options, or kept in the store) and the token service signing with it. */
export async function setupTokens (config: UsersConfig, log: FastifyBaseLogger) {
  const { store, signingKeys, signingAlgorithm, issuer, audience, accessTokenTtl } = config
  let keySet: SigningKey[]
  let reloadKeys: (() => Promise<SigningKey[]>) | undefined
  if (signingKeys) {
    // Keys from options are the operator's to rotate: they are never written to the store.
    keySet = (await Promise.all(signingKeys.map(importSigningKey))).map(toSigningKey)
  } else {
    keySet = await storedKeys(store)
    if (keySet.length === 0) {
      await store.addSigningKey(await generateSigningKey(signingAlgorithm))
      // Read back: when instances start together, all of them settle on the newest key.
      keySet = await storedKeys(store)
      log.info({ kid: keySet[0]?.kid }, 'fastify-users: generated a signing key and kept it in the store')
    }
    reloadKeys = () => storedKeys(store)
  }
  const tokens = createTokenService({ issuer, audience, accessTokenTtl, keys: keySet, reloadKeys })

  const fromOptions = () => new Error('fastify-users: signing keys come from options; rotate them there')
  const keys: UsersKeys = {
    async rotate () {
      if (signingKeys) throw fromOptions()
      const key = await generateSigningKey(signingAlgorithm)
      await store.addSigningKey(key)
      tokens.setKeys(await storedKeys(store))
      return tokens.activeKid()
    },
    async retire (kid) {
      if (signingKeys) throw fromOptions()
      if (kid === tokens.activeKid()) throw new Error('fastify-users: rotate before retiring the key that signs')
      const removed = await store.removeSigningKey(kid)
      tokens.setKeys(await storedKeys(store))
      return removed
    }
  }
  return { tokens, keys }
}
