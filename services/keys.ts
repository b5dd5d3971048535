import { createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose'
import type { PublicJwk } from '../schemas/oauth.js'
import type { SigningKeyOption } from '../schemas/options.js'
import type { StoredSigningKey } from '../stores/types.js'

export type SigningAlgorithm = StoredSigningKey['alg']

/** A signing key in the forms the signer, the verifier and the JWKS need. */
export interface SigningKey {
  kid: string
  alg: SigningAlgorithm
  privatePem: string
  publicPem: string
  publicJwk: PublicJwk
}

export async function generateSigningKey (alg: SigningAlgorithm): Promise<StoredSigningKey> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, crv: alg === 'EdDSA' ? 'Ed25519' : undefined, modulusLength: alg === 'RS256' ? 2048 : undefined })
  const privateJwk = await exportJWK(privateKey)
  return { kid: await thumbprint(privateJwk), alg, privateJwk: { ...privateJwk }, createdAt: new Date() }
}

function algorithmOf (key: KeyObject): SigningAlgorithm {
  const type = key.asymmetricKeyType
  if (type === 'ed25519') return 'EdDSA'
  if (type === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256'
  if (type === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048) return 'RS256'
  throw new Error(`unsupported signing key type ${type ?? 'unknown'}: use Ed25519, P-256 or RSA (2048 bits or more)`)
}

async function thumbprint (jwk: JWK): Promise<string> {
  // RFC 7638 thumbprints make kids stable and identical on every instance.
  return calculateJwkThumbprint(jwk, 'sha256')
}

/** Turns a key given in the options (PEM or private JWK) into the stored form. */
export async function importSigningKey (option: SigningKeyOption): Promise<StoredSigningKey> {
  const keyObject = typeof option.privateKey === 'string'
    ? createPrivateKey(option.privateKey)
    : createPrivateKey({ key: option.privateKey as JsonWebKey, format: 'jwk' })
  if (keyObject.type !== 'private') throw new Error('signing key: a private key is required')
  const alg = algorithmOf(keyObject)
  if (option.alg && option.alg !== alg) throw new Error(`signing key: alg ${option.alg} does not match a ${keyObject.asymmetricKeyType} key`)
  const privateJwk = keyObject.export({ format: 'jwk' }) as JWK
  return { kid: option.kid ?? await thumbprint(privateJwk), alg, privateJwk: { ...privateJwk }, createdAt: new Date(0) }
}

export function toSigningKey (stored: StoredSigningKey): SigningKey {
  const privateKey = createPrivateKey({ key: stored.privateJwk as JsonWebKey, format: 'jwk' })
  if (algorithmOf(privateKey) !== stored.alg) throw new Error(`signing key ${stored.kid}: stored alg does not match the key`)
  const publicKey = createPublicKey(privateKey)
  const jwk = publicKey.export({ format: 'jwk' })
  // Only public members go out; the schema's additionalProperties:false is a second guard.
  const publicJwk: PublicJwk = { kty: String(jwk.kty), kid: stored.kid, alg: stored.alg, use: 'sig' }
  for (const member of ['crv', 'x', 'y', 'n', 'e'] as const) {
    const value = jwk[member]
    if (typeof value === 'string') publicJwk[member] = value
  }
  return {
    kid: stored.kid,
    alg: stored.alg,
    privatePem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    publicJwk
  }
}
