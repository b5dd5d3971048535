import { hash, verify } from '@node-rs/argon2'
import { randomBytes } from 'node:crypto'
import type { PasswordHashingOptions } from '../schemas/options.js'
import { ServiceBusyError } from '../errors.js'

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

export interface PasswordHasher {
  hash (password: string): Promise<string>
  /** false for a wrong password or a malformed stored hash. */
  verify (hashed: string, password: string): Promise<boolean>
  /**
   * Verifies against a hash nobody knows the password of. Used when the email is unknown
   * so that a login for it costs the same time as one for a real user.
   */
  verifyDummy (): Promise<void>
}

/**
 * argon2 runs on libuv's thread pool, which file, DNS and crypto work share: a flood of
 * sign-ins must not take every thread, nor queue without end. Work beyond `concurrency`
 * waits in a bounded queue; past it the caller is told to come back (ServiceBusyError).
 */
export function createPasswordHasher (options: PasswordHashingOptions = {}): PasswordHasher {
  const pool = Number(process.env.UV_THREADPOOL_SIZE) || 4
  const concurrency = options.concurrency ?? Math.max(1, pool - 1)
  const queueLimit = options.queue ?? 50
  let active = 0
  const waiting: (() => void)[] = []

  async function turn<T> (work: () => Promise<T>): Promise<T> {
    if (active < concurrency) {
      active++
    } else {
      if (waiting.length >= queueLimit) throw new ServiceBusyError(1, 'Too many sign-ins at once; try again in a moment')
      // The slot is handed over by the one that finishes, so active stays as it is.
      await new Promise<void>((resolve) => waiting.push(resolve))
    }
    try {
      return await work()
    } finally {
      const next = waiting.shift()
      if (next) next()
      else active--
    }
  }

  const dummy = hashPassword(randomBytes(32).toString('base64url'))
  return {
    hash: (password) => turn(() => hashPassword(password)),
    verify: (hashed, password) => turn(() => verifyPassword(hashed, password)),
    verifyDummy: async () => { await turn(async () => verify(await dummy, 'not the password')) }
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
