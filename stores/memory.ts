import { randomUUID } from 'node:crypto'
import {
  EmailAlreadyExistsError,
  normalizeEmail,
  OAuthAccountExistsError,
  parseUserListQuery,
  userCursor,
  type OAuthAccountChanges,
  type StoredOAuthAccount,
  type StoredUpstreamState,
  type FamilySelector,
  type StoredConsent,
  type NewUser,
  type StoredGrant,
  type StoredGrantFamily,
  type StoredSession,
  type StoredSigningKey,
  type StoredUser,
  type UserChanges,
  type UserListPosition,
  type UserStore
} from './types.js'

/**
 * Callers never share our objects. Records are plain data (dates, arrays, plain objects),
 * copied by hand: structuredClone cost every token exchange and guarded request more than
 * the rest of the store's work. Anything else (a Buffer in a key) goes to structuredClone.
 */
function copy<T> (value: T): T {
  if (typeof value !== 'object' || value === null) return value
  if (value instanceof Date) return new Date(value.getTime()) as T
  if (Array.isArray(value)) return value.map(copy) as T
  const proto: unknown = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return structuredClone(value)
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(value)) out[key] = copy((value as Record<string, unknown>)[key])
  return out as T
}

/**
 * Records under a unique key that expire: a collection with a unique index and a TTL
 * index. Expired records are invisible at once and dropped now and then.
 */
class ExpiringTable<T extends { expiresAt: Date }> {
  readonly rows = new Map<string, T>()
  private nextSweep = 0
  constructor (private readonly what: string) {}

  create (key: string, value: T) {
    if (this.rows.has(key)) throw new Error(`memoryStore: duplicate ${this.what}`)
    // At most once a minute: a sweep walks every row, and refresh tokens pile up by the
    // hundred thousand under load (every exchange and refresh writes one that lives for days).
    const now = Date.now()
    if (now >= this.nextSweep) {
      this.nextSweep = now + 60_000
      for (const [k, v] of this.rows) if (v.expiresAt.getTime() <= now) this.rows.delete(k)
    }
    this.rows.set(key, copy(value))
  }

  get (key: string, now: Date): T | null {
    const value = this.rows.get(key)
    return value !== undefined && value.expiresAt > now ? copy(value) : null
  }

  /** Deletes the records that pass the test, expired or not; returns how many. */
  deleteWhere (test: (value: T) => boolean): number {
    let count = 0
    for (const [key, value] of this.rows) {
      if (test(value)) {
        this.rows.delete(key)
        count++
      }
    }
    return count
  }
}

/** The listing order: createdAt, then id as strings compare. */
function compareUsers (a: UserListPosition, b: UserListPosition): number {
  return a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
}

/**
 * An in-process store: the demo's default and a convenient store for your own tests.
 * Same semantics as mongoStore, uniqueness included; everything is lost on exit.
 */
export function memoryStore (): UserStore {
  const users = new Map<string, StoredUser>()
  const idByEmail = new Map<string, string>()
  const keys = new Map<string, StoredSigningKey>()
  const grants = new ExpiringTable<StoredGrant>('grant')
  const families = new ExpiringTable<StoredGrantFamily>('grant family')
  const sessions = new ExpiringTable<StoredSession>('session')
  const upstreamStates = new ExpiringTable<StoredUpstreamState>('upstream state')
  // Keyed by provider and account id, as the unique index of the MongoDB collection.
  const oauthAccounts = new Map<string, StoredOAuthAccount>()
  const accountKey = (provider: string, accountId: string) => JSON.stringify([provider, accountId])
  const matches = (family: StoredGrantFamily, selector: FamilySelector) =>
    'familyId' in selector
      ? family.familyId === selector.familyId
      : 'sessionId' in selector
        ? family.sessionId === selector.sessionId
        : family.userId === selector.userId && (!('clientId' in selector) || family.clientId === selector.clientId)
  // Keyed by user and client, as the unique index of the MongoDB collection.
  const consents = new Map<string, StoredConsent>()
  const consentKey = (userId: string, clientId: string) => JSON.stringify([userId, clientId])

  // Users are read on every guarded request: the known shape is copied directly, the
  // app's fields (which may nest) by copy().
  const copyUser = (u: StoredUser): StoredUser => ({
    ...u,
    permissions: [...u.permissions],
    fields: copy(u.fields),
    createdAt: new Date(u.createdAt),
    updatedAt: new Date(u.updatedAt)
  })

  return {
    async init () {},
    async close () {},

    async createUser (input: NewUser) {
      const normalized = normalizeEmail(input.email)
      if (idByEmail.has(normalized)) throw new EmailAlreadyExistsError()
      const now = new Date()
      const user: StoredUser = {
        id: randomUUID(),
        email: input.email.trim(),
        hashedPassword: input.hashedPassword,
        isActive: input.isActive ?? true,
        isVerified: input.isVerified ?? false,
        isSuperuser: input.isSuperuser ?? false,
        permissions: [...(input.permissions ?? [])],
        fields: copy(input.fields ?? {}),
        createdAt: now,
        updatedAt: now
      }
      users.set(user.id, user)
      idByEmail.set(normalized, user.id)
      return copyUser(user)
    },

    async getUserById (id) {
      const user = users.get(id)
      return user ? copyUser(user) : null
    },

    async getUserByEmail (email) {
      const id = idByEmail.get(normalizeEmail(email))
      const user = id === undefined ? undefined : users.get(id)
      return user ? copyUser(user) : null
    },

    async updateUser (id, changes: UserChanges, expected) {
      const user = users.get(id)
      if (!user) return null
      if (expected && user.hashedPassword !== expected.hashedPassword) return null
      const next: StoredUser = { ...user, ...copy(definedOnly(changes)), updatedAt: new Date() }
      if (changes.email !== undefined) {
        next.email = changes.email.trim()
        const oldKey = normalizeEmail(user.email)
        const newKey = normalizeEmail(changes.email)
        if (newKey !== oldKey) {
          if (idByEmail.has(newKey)) throw new EmailAlreadyExistsError()
          idByEmail.delete(oldKey)
          idByEmail.set(newKey, id)
        }
      }
      users.set(id, next)
      return copyUser(next)
    },

    async deleteUser (id) {
      const user = users.get(id)
      if (!user) return false
      users.delete(id)
      idByEmail.delete(normalizeEmail(user.email))
      for (const [key, account] of oauthAccounts) if (account.userId === id) oauthAccounts.delete(key)
      families.deleteWhere((family) => family.userId === id)
      grants.deleteWhere((grant) => grant.userId === id)
      sessions.deleteWhere((session) => session.userId === id)
      upstreamStates.deleteWhere((state) => state.purpose === 'associate' && state.userId === id)
      for (const [key, consent] of consents) if (consent.userId === id) consents.delete(key)
      return true
    },

    async listUsers (query) {
      const { limit, after, email, emailPrefix } = parseUserListQuery(query)
      // The email index holds the normalized addresses the filters compare with.
      const matching: StoredUser[] = []
      for (const [key, id] of idByEmail) {
        if (email !== undefined && key !== email) continue
        if (emailPrefix !== undefined && !key.startsWith(emailPrefix)) continue
        const user = users.get(id) as StoredUser
        if (after === null || compareUsers(user, after) > 0) matching.push(user)
      }
      matching.sort(compareUsers)
      const page = matching.slice(0, limit).map(copyUser)
      const last = page[page.length - 1]
      return { users: page, next: matching.length > limit && last !== undefined ? userCursor(last) : null }
    },

    async countSuperusers () {
      let count = 0
      for (const user of users.values()) if (user.isSuperuser) count++
      return count
    },

    async listSigningKeys () {
      return [...keys.values()]
        .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())
        .map(copy)
    },

    async addSigningKey (key) {
      if (!keys.has(key.kid)) keys.set(key.kid, copy(key))
    },

    async removeSigningKey (kid) {
      return keys.delete(kid)
    },

    async createGrant (grant) {
      grants.create(grant.tokenHash, grant)
    },

    async getGrant (tokenHash, now) {
      return grants.get(tokenHash, now)
    },

    async consumeGrant (tokenHash, kind, now) {
      // No await between the check and the write: this is the atomic step.
      const grant = grants.rows.get(tokenHash)
      if (!grant || grant.kind !== kind || grant.consumedAt !== null || grant.expiresAt <= now) return null
      const before = copy(grant)
      grant.consumedAt = new Date(now)
      return before
    },

    async createGrantFamily (family) {
      families.create(family.familyId, family)
    },

    async getGrantFamily (familyId, now) {
      return families.get(familyId, now)
    },

    async extendGrantFamily (familyId, expiresAt, now) {
      const family = families.rows.get(familyId)
      if (family === undefined || family.expiresAt <= now) return null
      family.expiresAt = new Date(expiresAt)
      return copy(family)
    },

    async revokeGrantFamilies (selector, now) {
      let count = 0
      for (const family of families.rows.values()) {
        if (family.revokedAt === null && matches(family, selector)) {
          family.revokedAt = new Date(now)
          count++
        }
      }
      return count
    },

    async getConsent (userId, clientId) {
      const consent = consents.get(consentKey(userId, clientId))
      return consent ? copy(consent) : null
    },

    async grantConsent (userId, clientId, scopes, now) {
      const key = consentKey(userId, clientId)
      const current = consents.get(key)
      const next: StoredConsent = current
        ? { ...current, scopes: [...new Set([...current.scopes, ...scopes])], updatedAt: new Date(now) }
        : { userId, clientId, scopes: [...new Set(scopes)], createdAt: new Date(now), updatedAt: new Date(now) }
      consents.set(key, next)
      return copy(next)
    },

    async listConsents (userId) {
      return [...consents.values()].filter((c) => c.userId === userId).sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime()).map(copy)
    },

    async deleteConsent (userId, clientId) {
      return consents.delete(consentKey(userId, clientId))
    },

    async createSession (session) {
      sessions.create(session.idHash, session)
    },

    async getSession (idHash, now) {
      return sessions.get(idHash, now)
    },

    async deleteSession (idHash) {
      return sessions.rows.delete(idHash)
    },

    async deleteUserSessions (userId) {
      return sessions.deleteWhere((session) => session.userId === userId)
    },

    async listUserSessions (userId, now) {
      return [...sessions.rows.values()]
        .filter((session) => session.userId === userId && session.expiresAt > now)
        .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime())
        .map((session) => copy(session))
    },

    async createOAuthAccount (account) {
      const key = accountKey(account.provider, account.accountId)
      if (oauthAccounts.has(key)) throw new OAuthAccountExistsError()
      oauthAccounts.set(key, copy(account))
    },

    async getOAuthAccount (provider, accountId) {
      const account = oauthAccounts.get(accountKey(provider, accountId))
      return account ? copy(account) : null
    },

    async listOAuthAccounts (userId) {
      return [...oauthAccounts.values()]
        .filter((a) => a.userId === userId)
        .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime())
        .map(copy)
    },

    async updateOAuthAccount (provider, accountId, changes: OAuthAccountChanges) {
      const account = oauthAccounts.get(accountKey(provider, accountId))
      if (!account) return null
      Object.assign(account, copy(definedOnly(changes)), { updatedAt: new Date() })
      return copy(account)
    },

    async deleteOAuthAccount (userId, provider) {
      for (const [key, account] of oauthAccounts) {
        if (account.userId === userId && account.provider === provider) return oauthAccounts.delete(key)
      }
      return false
    },

    async createUpstreamState (state) {
      upstreamStates.create(state.stateHash, state)
    },

    async consumeUpstreamState (stateHash, now) {
      const state = upstreamStates.get(stateHash, now)
      upstreamStates.rows.delete(stateHash)
      return state
    }
  }
}

function definedOnly<T extends object> (changes: T): Partial<T> {
  return Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined)) as Partial<T>
}
