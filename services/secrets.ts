import { createHmac, hash, randomFillSync, timingSafeEqual } from 'node:crypto'

// Random bytes drawn from the CSPRNG 4 KiB at a time, each byte handed out once (as Node's
// randomUUID does): one call into OpenSSL per 128 tokens rather than per token.
const pool = Buffer.alloc(4096)
let used = pool.length

/** A bearer secret (code, refresh token, session id): 256 random bits, URL-safe. */
export function randomToken (): string {
  if (used + 32 > pool.length) {
    randomFillSync(pool)
    used = 0
  }
  const token = pool.toString('base64url', used, used + 32)
  used += 32
  return token
}

/** What the store keeps instead of a bearer secret: a leaked store leaks no usable token. */
// crypto.hash: the one-shot digest, without a Hash object per call (every token request hashes two or three).
export const hashToken = (token: string): string => hash('sha256', token, 'base64url')

/** Constant-time comparison of two strings of any length. */
export function safeEqual (a: string, b: string): boolean {
  const x = hash('sha256', a, 'buffer')
  const y = hash('sha256', b, 'buffer')
  return timingSafeEqual(x, y) && a.length === b.length
}

/** An HMAC over the parts, each length-prefixed so that ('ab','c') and ('a','bc') differ. */
export function mac (secret: Buffer, ...parts: string[]): string {
  const h = createHmac('sha256', secret)
  for (const part of parts) h.update(`${Buffer.byteLength(part)}:${part}`)
  return h.digest('base64url')
}
