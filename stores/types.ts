/**
 * The persistence contract of fastify-users. Every adapter (memoryStore, mongoStore,
 * or one of your own) must pass the shared contract suite in test/store-contract.ts.
 *
 * Rules every adapter keeps:
 * - Emails are unique by their normalized form (see normalizeEmail); a write that
 *   would break that rejects with EmailAlreadyExistsError and changes nothing.
 * - Every method is atomic on its own; none leaves half-written data behind.
 * - Returned objects are copies: mutating them never changes the store.
 */
export interface StoredUser {
  id: string
  email: string
  hashedPassword: string | null
  isActive: boolean
  isVerified: boolean
  isSuperuser: boolean
  createdAt: Date
  updatedAt: Date
}

export interface NewUser {
  email: string
  hashedPassword: string | null
  isActive?: boolean
  isVerified?: boolean
  isSuperuser?: boolean
}

export type UserChanges = Partial<Pick<StoredUser, 'email' | 'hashedPassword' | 'isActive' | 'isVerified' | 'isSuperuser'>>

export interface StoredSigningKey {
  kid: string
  alg: 'EdDSA' | 'ES256' | 'RS256'
  /** Private JWK. Whoever can read the store can sign tokens: protect it like a secret. */
  privateJwk: Record<string, unknown>
  createdAt: Date
}

export interface UserStore {
  /** Creates indexes and connects; called once when the plugin starts. Idempotent. */
  init(): Promise<void>
  /** Releases connections the store opened itself. */
  close(): Promise<void>

  /** @throws EmailAlreadyExistsError when the normalized email is taken */
  createUser(user: NewUser): Promise<StoredUser>
  getUserById(id: string): Promise<StoredUser | null>
  /** Looks up by normalized email. */
  getUserByEmail(email: string): Promise<StoredUser | null>
  /**
   * Applies the changes and bumps updatedAt; null when no such user.
   * @throws EmailAlreadyExistsError when the new email belongs to another user
   */
  updateUser(id: string, changes: UserChanges): Promise<StoredUser | null>
  /** true when a user was deleted */
  deleteUser(id: string): Promise<boolean>

  /** Every signing key kept in the store, newest first. */
  listSigningKeys(): Promise<StoredSigningKey[]>
  /** Adds a key; a second key with the same kid is ignored. */
  addSigningKey(key: StoredSigningKey): Promise<void>
}

export class EmailAlreadyExistsError extends Error {
  constructor () {
    super('A user with this email already exists')
    this.name = 'EmailAlreadyExistsError'
  }
}

/**
 * The form under which emails are compared. Domains are case-insensitive by RFC 5321
 * and mail providers treat local parts the same way in practice, so the whole address
 * is lower-cased, after Unicode NFC normalization so that visually equal addresses match.
 */
export function normalizeEmail (email: string): string {
  return email.trim().normalize('NFC').toLowerCase()
}
