import { hash, timingSafeEqual } from 'node:crypto'

// RFC 7636 §4.1: 43 to 128 unreserved characters.
const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/
// An S256 challenge is the base64url of a SHA-256 digest: exactly 43 characters.
const S256_CHALLENGE = /^[A-Za-z0-9\-_]{43}$/

export const isS256Challenge = (challenge: string): boolean => S256_CHALLENGE.test(challenge)

/** RFC 7636 §4.2: the S256 challenge of a verifier. */
export const s256Challenge = (verifier: string): string => hash('sha256', verifier, 'base64url')

/** RFC 7636 §4.6 with the S256 method, the only one we accept. */
export function verifyS256 (verifier: string, challenge: string): boolean {
  if (!VERIFIER.test(verifier) || !isS256Challenge(challenge)) return false
  // Both are 43 characters here: compared as they are, in constant time, without hashing them again.
  return timingSafeEqual(Buffer.from(s256Challenge(verifier)), Buffer.from(challenge))
}
