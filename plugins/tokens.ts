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
    // A key for access tokens, and an RSA key for id_tokens: RS256 is the one algorithm every
    // OpenID Connect relying party knows (OIDC Core §15.1), whatever signs our access tokens.
    for (const alg of new Set([signingAlgorithm, 'RS256' as const])) {
      if (keySet.some((k) => k.alg === alg)) continue
      await store.addSigningKey(await generateSigningKey(alg))
      // Read back: when instances start together, all of them settle on the newest key.
      keySet = await storedKeys(store)
      log.info({ kid: keySet.find((k) => k.alg === alg)?.kid, alg }, 'fastify-users: generated a signing key and kept it in the store')
    }
    reloadKeys = () => storedKeys(store)
  }
  const tokens = createTokenService({ issuer, audience, accessTokenTtl, keys: keySet, reloadKeys, ...(!signingKeys && { accessTokenAlgorithm: signingAlgorithm }) })
  const idAlgorithms = tokens.idTokenAlgorithms()
  for (const client of config.clients.values()) {
    if (client.idTokenAlg !== undefined && !idAlgorithms.includes(client.idTokenAlg)) {
      throw new Error(`fastify-users: client ${client.clientId} asks for ${client.idTokenAlg} id_tokens, but no signing key has that algorithm`)
    }
  }
  if (!idAlgorithms.includes('RS256')) {
    log.warn('fastify-users: no RSA signing key among signingKeys: id_tokens are signed with the signing key\'s algorithm, which some OpenID Connect clients do not know (add an RSA key for RS256)')
  }

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
