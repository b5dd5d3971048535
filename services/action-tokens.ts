import { SignJWT, jwtVerify } from 'jose'
import { normalizeEmail, type StoredUser } from '../stores/types.js'
import { mac } from './secrets.js'

/** What a mailed link lets its holder do once: verify the address, or set a new password. */
export type ActionPurpose = 'verify' | 'reset'

export interface ActionTokens {
  /** A token for this user as they are now; it lives `ttl[purpose]` seconds. */
  issue (purpose: ActionPurpose, user: StoredUser): Promise<string>
  /**
   * The user the token was issued to, when it is valid and still fits them: the same address
   * (both purposes) and, for a reset, the same password hash, so that using a reset link, or
   * any other change of password, kills every reset link sent before. null otherwise.
   */
  check (purpose: ActionPurpose, token: string, load: (userId: string) => Promise<StoredUser | null>): Promise<StoredUser | null>
}

export interface ActionTokenOptions {
  issuer: string
  ttl: Record<ActionPurpose, number>
  /** HMAC secrets, the first signs, all verify (derived from the signing keys: they rotate with them). */
  secrets: () => Buffer[]
}

// Not an access token of ours: no verifier of those accepts HS256 or this typ.
const TYP = 'fastify-users-action+jwt'
// Bounds what an attacker can make us parse and HMAC: a real token is about 300 characters.
const MAX_TOKEN_LENGTH = 1024

/**
 * Stateless single-use tokens for mailed links (JWTs, HS256, keyed per purpose). Nothing is
 * stored: what makes a token single use is that using it changes what it is bound to (the
 * password hash, or the verified flag), and the binding is a keyed fingerprint, so that the
 * token shows neither the address nor anything of the hash.
 */
export function createActionTokens ({ issuer, ttl, secrets }: ActionTokenOptions): ActionTokens {
  const audience = (purpose: ActionPurpose) => `${issuer}#${purpose}`
  const fingerprint = (secret: Buffer, purpose: ActionPurpose, user: StoredUser) =>
    mac(secret, purpose, user.id, normalizeEmail(user.email), purpose === 'reset' ? user.hashedPassword ?? '' : '').slice(0, 22)

  return {
    async issue (purpose, user) {
      const [secret] = secrets()
      if (!secret) throw new Error('fastify-users: no secret to sign action tokens with')
      return new SignJWT({ fp: fingerprint(secret, purpose, user) })
        .setProtectedHeader({ alg: 'HS256', typ: TYP })
        .setIssuer(issuer)
        .setAudience(audience(purpose))
        .setSubject(user.id)
        .setIssuedAt()
        .setExpirationTime(`${ttl[purpose]}s`)
        .sign(secret)
    },

    async check (purpose, token, load) {
      if (token.length > MAX_TOKEN_LENGTH) return null
      for (const secret of secrets()) {
        let payload: { sub?: string, fp?: unknown }
        try {
          ({ payload } = await jwtVerify<{ fp?: unknown }>(token, secret, { issuer, audience: audience(purpose), algorithms: ['HS256'], typ: TYP, requiredClaims: ['sub', 'exp'] }))
        } catch {
          continue
        }
        const user = payload.sub === undefined ? null : await load(payload.sub)
        if (!user || typeof payload.fp !== 'string') return null
        return payload.fp === fingerprint(secret, purpose, user) ? user : null
      }
      return null
    }
  }
}
