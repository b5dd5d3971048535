import { randomUUID } from 'node:crypto'
import { createSigner, createVerifier, TokenError } from 'fast-jwt'
import type { PublicJwk } from '../schemas/oauth.js'
import type { SigningKey } from './keys.js'

/** The claims of our access tokens (RFC 9068). */
export interface AccessTokenClaims {
  iss: string
  sub: string
  aud: string
  exp: number
  iat: number
  jti: string
  client_id: string
  scope: string
}

export interface TokenServiceOptions {
  issuer: string
  audience: string
  /** seconds */
  accessTokenTtl: number
  /** The first key signs; every key verifies. */
  keys: SigningKey[]
  /** Reads the current key set again (e.g. from the store) when a token names an unknown kid. */
  reloadKeys?: () => Promise<SigningKey[]>
}

export interface TokenService {
  signAccessToken (claims: { sub: string, clientId: string, scope: string }): { token: string, expiresIn: number }
  /** Resolves the claims of a valid access token; rejects with InvalidTokenError otherwise. */
  verifyAccessToken (token: string): Promise<AccessTokenClaims>
  jwks (): { keys: PublicJwk[] }
}

export class InvalidTokenError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'InvalidTokenError'
  }
}

// A token naming an unknown kid makes us look at the store again, but at most this often,
// so that a flood of forged kids cannot turn into a flood of store reads.
const RELOAD_INTERVAL_MS = 30_000

export function createTokenService (options: TokenServiceOptions): TokenService {
  if (options.keys.length === 0) throw new Error('at least one signing key is required')
  let keys = new Map(options.keys.map((k) => [k.kid, k]))
  let lastReload = 0
  const active = options.keys[0] as SigningKey
  const ttlMs = options.accessTokenTtl * 1000

  const signer = createSigner({
    key: active.privatePem,
    algorithm: active.alg,
    kid: active.kid,
    iss: options.issuer,
    aud: options.audience,
    expiresIn: ttlMs,
    header: { alg: active.alg, typ: 'at+jwt' }
  })

  async function keyFor (kid: unknown): Promise<SigningKey | undefined> {
    if (typeof kid !== 'string') return undefined
    const known = keys.get(kid)
    if (known || !options.reloadKeys || Date.now() - lastReload < RELOAD_INTERVAL_MS) return known
    lastReload = Date.now()
    keys = new Map((await options.reloadKeys()).map((k) => [k.kid, k]))
    return keys.get(kid)
  }

  const verifier = createVerifier({
    // Only the algorithms of our own keys: "none" and HMAC (the public key used as a
    // secret) can never pass, whatever the token's header says.
    algorithms: [...new Set(options.keys.map((k) => k.alg))],
    key: async (decoded: { header: { kid?: unknown, alg?: unknown } }) => {
      const key = await keyFor(decoded.header.kid)
      if (!key) throw new Error('unknown key id')
      if (key.alg !== decoded.header.alg) throw new Error('algorithm does not match the key')
      return key.publicPem
    },
    allowedIss: options.issuer,
    allowedAud: options.audience,
    checkTyp: 'at+jwt',
    requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id', 'scope'],
    // Verified tokens are cached (up to their expiry) so the hot path skips the signature
    // check: this is what keeps a guarded route close to a bare one (bench/RESULTS.md).
    cache: 10_000
  })

  return {
    signAccessToken ({ sub, clientId, scope }) {
      const token = signer({ sub, client_id: clientId, scope, jti: randomUUID() })
      return { token, expiresIn: options.accessTokenTtl }
    },

    async verifyAccessToken (token) {
      try {
        const claims: unknown = await verifier(token)
        if (!isClaims(claims)) throw new InvalidTokenError('The access token has malformed claims')
        return claims
      } catch (err) {
        if (err instanceof InvalidTokenError) throw err
        if (err instanceof TokenError && err.code === TokenError.codes.expired) throw new InvalidTokenError('The access token expired')
        throw new InvalidTokenError('The access token is invalid')
      }
    },

    jwks () {
      return { keys: [...keys.values()].map((k) => k.publicJwk) }
    }
  }
}

function isClaims (value: unknown): value is AccessTokenClaims {
  if (typeof value !== 'object' || value === null) return false
  const c = value as Record<string, unknown>
  return typeof c.sub === 'string' && typeof c.scope === 'string' && typeof c.client_id === 'string' &&
    typeof c.exp === 'number' && typeof c.iss === 'string'
}
