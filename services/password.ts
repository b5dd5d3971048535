import { hash, verify } from '@node-rs/argon2'
import { randomBytes } from 'node:crypto'

// OWASP's argon2id recommendation (m=19 MiB, t=2, p=1). argon2id is the library's
// default algorithm; the contract test checks that hashes start with $argon2id$.
const ARGON2_OPTIONS = { memoryCost: 19456, timeCost: 2, parallelism: 1 }

export function hashPassword (password: string): Promise<string> {
  return hash(password, ARGON2_OPTIONS)
}

export async function verifyPassword (hashed: string, password: string): Promise<boolean> {
  try {
    return await verify(hashed, password)
  } catch {
    // A malformed stored hash must read as "wrong password", not as a server error.
    return false
  }
}

/**
 * Verifies against a hash nobody knows the password of. Used when the email is
 * unknown so that a login for it costs the same time as one for a real user.
 */
export function createDummyVerifier (): () => Promise<void> {
  const dummy = hashPassword(randomBytes(32).toString('base64url'))
  return async () => {
    await verify(await dummy, 'not the password')
  }
}

export interface PasswordPolicy {
  minLength: number
  validate?: (password: string, user: { email: string }) => string | undefined | Promise<string | undefined>
}

/** The reason a password is refused, or undefined when it is accepted. */
export async function checkPasswordPolicy (policy: PasswordPolicy, password: string, user: { email: string }): Promise<string | undefined> {
  // Count code points, not UTF-16 units, so that emoji and CJK passwords are measured fairly.
  if ([...password].length < policy.minLength) return `Password should be at least ${policy.minLength} characters long`
  if (password.trim().toLowerCase() === user.email.trim().toLowerCase()) return 'Password should not be the email address'
  return policy.validate ? await policy.validate(password, user) : undefined
}
