import { randomUUID } from 'node:crypto'
import {
  EmailAlreadyExistsError,
  normalizeEmail,
  type FamilySelector,
  type NewUser,
  type StoredGrant,
  type StoredGrantFamily,
  type StoredSession,
  type StoredSigningKey,
  type StoredUser,
  type UserChanges,
  type UserStore
} from './types.js'

/**
 * An in-process store: the demo's default and a convenient store for your own tests.
 * Same semantics as mongoStore, uniqueness included; everything is lost on exit.
 */
export function memoryStore (): UserStore {
  const users = new Map<string, StoredUser>()
  const idByEmail = new Map<string, string>()
  const keys = new Map<string, StoredSigningKey>()
  const grants = new Map<string, StoredGrant>()
  const families = new Map<string, StoredGrantFamily>()
  const sessions = new Map<string, StoredSession>()

  // Expired entries are dropped now and then, as a TTL index would in MongoDB.
  let writes = 0
  function sweep () {
    if (++writes % 1000 !== 0) return
    const now = Date.now()
    for (const map of [grants, families, sessions] as Map<string, { expiresAt: Date }>[]) {
      for (const [k, v] of map) if (v.expiresAt.getTime() <= now) map.delete(k)
    }
  }
  const live = <T extends { expiresAt: Date }>(value: T | undefined, now: Date): T | null =>
    value !== undefined && value.expiresAt > now ? copy(value) : null
  const matches = (family: StoredGrantFamily, selector: FamilySelector) =>
    'familyId' in selector
      ? family.familyId === selector.familyId
      : 'sessionId' in selector ? family.sessionId === selector.sessionId : family.userId === selector.userId

  // Callers never share our objects. Users are read on every guarded request, so they
  // get a hand-made copy (all fields are primitives but two Dates), far cheaper than
  // structuredClone; keys are rare and nested, and get structuredClone.
  const copyUser = (u: StoredUser): StoredUser => ({ ...u, createdAt: new Date(u.createdAt), updatedAt: new Date(u.updatedAt) })
  const copy = <T>(value: T): T => structuredClone(value)

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

    async updateUser (id, changes: UserChanges) {
      const user = users.get(id)
      if (!user) return null
      const next: StoredUser = { ...user, ...definedOnly(changes), updatedAt: new Date() }
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
      return true
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
      if (grants.has(grant.tokenHash)) throw new Error('memoryStore: duplicate grant')
      sweep()
      grants.set(grant.tokenHash, copy(grant))
    },

    async getGrant (tokenHash, now) {
      return live(grants.get(tokenHash), now)
    },

    async consumeGrant (tokenHash, kind, now) {
      // No await between the check and the write: this is the atomic step.
      const grant = grants.get(tokenHash)
      if (!grant || grant.kind !== kind || grant.consumedAt !== null || grant.expiresAt <= now) return null
      const before = copy(grant)
      grant.consumedAt = new Date(now)
      return before
    },

    async createGrantFamily (family) {
      if (families.has(family.familyId)) throw new Error('memoryStore: duplicate grant family')
      sweep()
      families.set(family.familyId, copy(family))
    },

    async getGrantFamily (familyId, now) {
      return live(families.get(familyId), now)
    },

    async revokeGrantFamilies (selector, now) {
      let count = 0
      for (const family of families.values()) {
        if (family.revokedAt === null && matches(family, selector)) {
          family.revokedAt = new Date(now)
          count++
        }
      }
      return count
    },

    async createSession (session) {
      if (sessions.has(session.idHash)) throw new Error('memoryStore: duplicate session')
      sweep()
      sessions.set(session.idHash, copy(session))
    },

    async getSession (idHash, now) {
      return live(sessions.get(idHash), now)
    },

    async deleteSession (idHash) {
      return sessions.delete(idHash)
    }
  }
}

function definedOnly<T extends object> (changes: T): Partial<T> {
  return Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined)) as Partial<T>
}
