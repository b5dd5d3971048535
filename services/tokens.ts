import { createHash, hkdfSync, randomUUID } from 'node:crypto'
import { createSigner, createVerifier, TokenError } from 'fast-jwt'
import type { PublicJwk } from '../schemas/oauth.js'
import type { SigningAlgorithm, SigningKey } from './keys.js'
import { InvalidTokenError } from '../errors.js'

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
  /** The grant family the token came from (absent for password-grant and client tokens). */
  fam?: string
  /**
   * When the user last signed in for this authorization (RFC 9068 §2.2.1, seconds): what
   * sensitive account changes check for a recent sign-in. Absent on client tokens.
   */
  auth_time?: number
  /** The app's own claims (accessTokenClaims option). */
  [claim: string]: unknown
}

/** What an id_token says of the user (OIDC Core §2, §5.1). */
export interface IdTokenInput {
  sub: string
  clientId: string
  nonce?: string
  authTime?: Date
  /** The access token issued with it, for at_hash. */
  accessToken: string
  claims: Record<string, unknown>
  /** The client's id_token algorithm (default RS256, OpenID Connect's mandatory one). */
  alg?: SigningAlgorithm
}

export interface TokenServiceOptions {
  issuer: string
  audience: string
  /** seconds */
  accessTokenTtl: number
  /** The first key (of accessTokenAlgorithm, when given) signs access tokens; every key verifies. */
  keys: SigningKey[]
  /** Which key signs access tokens: the first of this algorithm; default the first key. */
  accessTokenAlgorithm?: SigningAlgorithm
  /** Reads the current key set again (e.g. from the store) when a token names an unknown kid. */
  reloadKeys?: () => Promise<SigningKey[]>
}

export interface VerifiedAccessToken {
  readonly claims: Readonly<AccessTokenClaims>
  readonly scopes: ReadonlySet<string>
}

export interface TokenService {
  signAccessToken (claims: { sub: string, clientId: string, scope: string, familyId?: string, authTime?: Date, extra?: Record<string, unknown> }): { token: string, expiresIn: number }
  signIdToken (input: IdTokenInput): string
  /** Resolves a valid access token's claims and scopes; rejects with InvalidTokenError otherwise. */
  verifyAccessToken (token: string): Promise<VerifiedAccessToken>
  /**
   * A token verified before and not expired since, with its scopes as a set; undefined
   * otherwise (then verifyAccessToken decides). Synchronous, for the guard's hot path.
   */
  knownAccessToken (token: string): VerifiedAccessToken | undefined
  jwks (): { keys: PublicJwk[] }
  /**
   * The public key (PEM) that verifies a token with this header: its kid must be one of ours
   * (the store is read again, at most every 30 s, for a kid not seen yet) and its alg that
   * key's. Else InvalidTokenError.
   */
  publicKeyFor (header: JwtHeader): Promise<string>
  /** Replaces the key set: the first key signs from now on, every key verifies. */
  setKeys (keys: SigningKey[]): void
  /** The kid that signs access tokens now. */
  activeKid (): string
  /** The algorithms id_tokens can be signed with: those of the keys. */
  idTokenAlgorithms (): SigningAlgorithm[]
  /**
   * Secrets for another purpose (cookie signing), derived from the signing keys with HKDF,
   * the active key's first: instances that share keys share them, and nothing else to configure.
   */
  deriveSecrets (purpose: string): Buffer[]
}

/** Whether the token's sign-in (auth_time, seconds) is at most maxAge seconds old. */
export function signedInWithin (claims: Pick<AccessTokenClaims, 'auth_time'>, maxAge: number, now = Date.now()): boolean {
  return claims.auth_time !== undefined && Math.floor(now / 1000) - claims.auth_time <= maxAge
}

/**
 * What makes a token one of our access tokens, beyond its signature: the same rules for our
 * guard and for @fastify/jwt's verifier (plugins/jwt.ts). Only asymmetric algorithms, each
 * bound to its key by kid: "none" and HMAC (the public key used as a secret) never pass.
 */
export function accessTokenRules (issuer: string, audience: string) {
  return {
    algorithms: ['EdDSA', 'ES256', 'RS256'] as ('EdDSA' | 'ES256' | 'RS256')[],
    allowedIss: issuer,
    allowedAud: audience,
    checkTyp: 'at+jwt',
    requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id', 'scope']
  }
}

export interface JwtHeader { kid?: unknown, alg?: unknown, typ?: unknown }

// A token naming an unknown kid makes us look at the store again, but at most this often,
// so that a flood of forged kids cannot turn into a flood of store reads.
const RELOAD_INTERVAL_MS = 30_000
const VERIFIED_CACHE_SIZE = 10_000

export function createTokenService (options: TokenServiceOptions): TokenService {
  if (options.keys.length === 0) throw new Error('at least one signing key is required')
  let keys = new Map<string, SigningKey>()
  let lastReload = 0
  let active: SigningKey
  let signAccess: (payload: Record<string, unknown>) => string
  // One signer per algorithm, with the newest key of it: id_tokens are signed as each client asks.
  let signId: Map<SigningAlgorithm, { key: SigningKey, sign: (payload: Record<string, unknown>) => string }>
  let verifier: (token: string) => Promise<unknown>
  // Verified tokens, keyed by the token itself, until they expire: the hot path then skips
  // the signature check. fast-jwt's own cache hashes every token with SHA-512 to make its
  // key, which cost a guarded route a third of its throughput (bench/RESULTS.md); the
  // token itself is exact and cheap. Keyed by its signature, the last 86 characters of an
  // EdDSA token: a Map hashes its key on every lookup, and hashing the whole token (some 600
  // characters) was the guard's largest cost; the whole token is then compared. Cleared when
  // the keys change.
  const verified = new Map<string, { token: string, entry: VerifiedAccessToken }>()
  const signatureOf = (token: string) => token.slice(token.lastIndexOf('.') + 1)

  function known (token: string): VerifiedAccessToken | undefined {
    const hit = verified.get(signatureOf(token))
    return hit !== undefined && hit.token === token && hit.entry.claims.exp * 1000 > Date.now() ? hit.entry : undefined
  }
  const ttlMs = options.accessTokenTtl * 1000

  async function keyFor (kid: unknown): Promise<SigningKey | undefined> {
    if (typeof kid !== 'string') return undefined
    const known = keys.get(kid)
    if (known || !options.reloadKeys || Date.now() - lastReload < RELOAD_INTERVAL_MS) return known
    lastReload = Date.now()
    const reloaded = await options.reloadKeys()
    if (reloaded.length > 0) setKeys(reloaded)
    return keys.get(kid)
  }

  async function publicKeyFor (header: JwtHeader): Promise<string> {
    const key = await keyFor(header.kid)
    if (!key) throw new InvalidTokenError('The access token is signed with a key we do not know')
    if (key.alg !== header.alg) throw new InvalidTokenError('The access token\'s algorithm does not match its key')
    return key.publicPem
  }

  function setKeys (next: SigningKey[]) {
    if (next.length === 0) throw new Error('at least one signing key is required')
    keys = new Map(next.map((k) => [k.kid, k]))
    active = next.find((k) => k.alg === options.accessTokenAlgorithm) ?? next[0] as SigningKey
    const common = { key: active.privatePem, algorithm: active.alg, kid: active.kid, iss: options.issuer }
    signAccess = createSigner({ ...common, aud: options.audience, expiresIn: ttlMs, header: { alg: active.alg, typ: 'at+jwt' } })
    signId = new Map()
    for (const key of next) {
      if (signId.has(key.alg)) continue
      signId.set(key.alg, { key, sign: createSigner({ key: key.privatePem, algorithm: key.alg, kid: key.kid, iss: options.issuer, expiresIn: ttlMs }) })
    }
    // A new verifier, so that its cache forgets tokens of a key that was just retired.
    verifier = createVerifier({
      ...accessTokenRules(options.issuer, options.audience),
      key: async (decoded: { header: JwtHeader }) => publicKeyFor(decoded.header)
    })
    verified.clear()
  }
  setKeys(options.keys)

  return {
    signAccessToken ({ sub, clientId, scope, familyId, authTime, extra }) {
      const payload: Record<string, unknown> = { ...extra, sub, client_id: clientId, scope, jti: randomUUID() }
      if (familyId !== undefined) payload.fam = familyId
      if (authTime !== undefined) payload.auth_time = Math.floor(authTime.getTime() / 1000)
      return { token: signAccess(payload), expiresIn: options.accessTokenTtl }
    },

    signIdToken ({ sub, clientId, nonce, authTime, accessToken, claims, alg = 'RS256' }) {
      // The configuration makes sure of a key for every client's algorithm (plugins/tokens.ts);
      // keys from options may lack RS256, and the signing key's algorithm serves then.
      const signer = signId.get(alg) ?? signId.get(active.alg) as { key: SigningKey, sign: (payload: Record<string, unknown>) => string }
      const payload: Record<string, unknown> = { ...claims, sub, aud: clientId, at_hash: atHash(accessToken, signer.key.alg) }
      if (nonce !== undefined) payload.nonce = nonce
      if (authTime !== undefined) payload.auth_time = Math.floor(authTime.getTime() / 1000)
      return signer.sign(payload)
    },

    idTokenAlgorithms () {
      return [...signId.keys()]
    },

    async verifyAccessToken (token) {
      try {
        const cached = known(token)
        if (cached !== undefined) return cached
        const claims: unknown = await verifier(token)
        if (!isClaims(claims)) throw new InvalidTokenError('The access token has malformed claims')
        // Oldest first out: a Map iterates in insertion order.
        if (verified.size >= VERIFIED_CACHE_SIZE) verified.delete(verified.keys().next().value as string)
        // Frozen: one entry serves every request that carries this token.
        const entry = Object.freeze({ claims: Object.freeze(claims), scopes: new Set(claims.scope.split(' ')) })
        verified.set(signatureOf(token), { token, entry })
        return entry
      } catch (err) {
        if (err instanceof InvalidTokenError) throw err
        if (err instanceof TokenError && err.code === TokenError.codes.expired) throw new InvalidTokenError('The access token expired')
        throw new InvalidTokenError('The access token is invalid')
      }
    },

    knownAccessToken: known,
    publicKeyFor,

    jwks () {
      // The key that signs access tokens first: verifiers that take the first key get the right one.
      return { keys: [active, ...[...keys.values()].filter((k) => k !== active)].map((k) => k.publicJwk) }
    },

    setKeys,

    activeKid () {
      return active.kid
    },

    deriveSecrets (purpose) {
      const ordered = [active, ...[...keys.values()].filter((k) => k !== active)]
      return ordered.map((k) => Buffer.from(hkdfSync('sha256', k.privatePem, 'fastify-users', purpose, 32)))
    }
  }
}

/**
 * OIDC Core §3.1.3.6: the left half of the hash of the access token, with the hash of the
 * signing algorithm; for EdDSA over Ed25519 that is SHA-512, as OpenID Connect libraries agree.
 */
function atHash (accessToken: string, alg: SigningKey['alg']): string {
  const digest = createHash(alg === 'EdDSA' ? 'sha512' : 'sha256').update(accessToken).digest()
  return digest.subarray(0, digest.length / 2).toString('base64url')
}

function isClaims (value: unknown): value is AccessTokenClaims {
  if (typeof value !== 'object' || value === null) return false
  const c = value as Record<string, unknown>
  return typeof c.sub === 'string' && typeof c.scope === 'string' && typeof c.client_id === 'string' &&
    typeof c.exp === 'number' && typeof c.iss === 'string' && (c.fam === undefined || typeof c.fam === 'string') &&
    (c.auth_time === undefined || typeof c.auth_time === 'number')
}
