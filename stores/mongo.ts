import {
  MongoClient, MongoNetworkError, MongoNotConnectedError, MongoServerError, MongoServerSelectionError, MongoTopologyClosedError, ObjectId,
  type Collection, type Db, type Filter
} from 'mongodb'
import {
  EmailAlreadyExistsError,
  InvalidCursorError,
  normalizeEmail,
  OAuthAccountExistsError,
  parseUserListQuery,
  StoreUnavailableError,
  userCursor,
  type FamilySelector,
  type StoredConsent,
  type OAuthAccountChanges,
  type StoredOAuthAccount,
  type StoredUpstreamState,
  type StoredGrant,
  type StoredGrantFamily,
  type StoredSession,
  type StoredSigningKey,
  type StoredUser,
  type UserChanges,
  type UserStore
} from './types.js'

export interface MongoStoreOptions {
  /** Connection string; the database named in it is used unless dbName is given. */
  url?: string
  /** An already created client (connected or not); its lifecycle stays yours. */
  client?: MongoClient
  /** Database name; default: the one in the URL, else 'fastify_users'. */
  dbName?: string
  /** Prepended to every collection name, e.g. 'auth_'. */
  collectionPrefix?: string
}

interface UserDoc extends Omit<StoredUser, 'id' | 'permissions' | 'fields'> {
  _id: ObjectId
  normalizedEmail: string
  // Absent from users stored before they existed.
  permissions?: string[]
  fields?: Record<string, unknown>
}

type KeyDoc = StoredSigningKey

// The driver would store an undefined field as null; the contract says absent stays absent.
function defined<T extends object> (value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T
}

// Documents are read without their _id, which is ours, not the caller's.
const NO_ID = { projection: { _id: 0 } } as const

/**
 * Ids are ObjectIds, MongoDB's native key, shown to the rest of the library as their hex
 * form. A string that is not one cannot name a document: lookups by it find nothing.
 */
function objectId (id: string): ObjectId | null {
  return /^[0-9a-f]{24}$/i.test(id) ? ObjectId.createFromHexString(id) : null
}

const DUPLICATE_KEY = 11000

function isDuplicateKey (err: unknown): boolean {
  return err instanceof MongoServerError && err.code === DUPLICATE_KEY
}

function toUser (doc: UserDoc): StoredUser {
  return {
    id: doc._id.toHexString(),
    email: doc.email,
    hashedPassword: doc.hashedPassword,
    isActive: doc.isActive,
    isVerified: doc.isVerified,
    isSuperuser: doc.isSuperuser,
    permissions: doc.permissions ?? [],
    fields: doc.fields ?? {},
    createdAt: doc.createdAt,
    updatedAt: doc.updatedAt
  }
}

/** An anchored pattern matching the text literally: no character of it is a metacharacter. */
function startingWith (text: string): RegExp {
  return new RegExp('^' + text.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&'))
}

/**
 * A store on the official MongoDB driver. Collections: users (unique index on the
 * normalized email) and keys. Only single-document atomic operations are used, so it
 * behaves the same on a standalone server, a replica set or a sharded cluster.
 */
export function mongoStore (options: MongoStoreOptions): UserStore {
  if (!options.url && !options.client) throw new Error('mongoStore: give either url or client')
  const ownsClient = !options.client
  const client = options.client ?? new MongoClient(options.url as string)
  const prefix = options.collectionPrefix ?? ''
  let db: Db | undefined

  const collection = <T extends object>(name: string): Collection<T> => {
    if (!db) throw new Error('mongoStore: used before init()')
    return db.collection<T>(prefix + name)
  }
  const users = () => collection<UserDoc>('users')
  const keys = () => collection<KeyDoc>('keys')
  const grants = () => collection<StoredGrant>('grants')
  const families = () => collection<StoredGrantFamily>('grant_families')
  const sessions = () => collection<StoredSession>('sessions')
  const oauthAccounts = () => collection<StoredOAuthAccount>('oauth_accounts')
  const upstreamStates = () => collection<StoredUpstreamState>('upstream_states')
  const consents = () => collection<StoredConsent>('consents')

  const store: UserStore = {
    async init () {
      if (db) return
      await client.connect()
      db = client.db(options.dbName ?? (client.options.dbName || 'fastify_users'))
      await users().createIndex({ normalizedEmail: 1 }, { unique: true, name: 'normalizedEmail_unique' })
      // The listing order, read from the index rather than sorted.
      await users().createIndex({ createdAt: 1, _id: 1 }, { name: 'createdAt_id' })
      // Holds the superusers only: counting them reads a few index keys.
      await users().createIndex({ isSuperuser: 1 }, { name: 'isSuperuser_true', partialFilterExpression: { isSuperuser: true } })
      await keys().createIndex({ kid: 1 }, { unique: true, name: 'kid_unique' })
      await keys().createIndex({ createdAt: -1 }, { name: 'createdAt' })
      // TTL indexes clean up; reads filter on expiresAt too, since TTL deletion lags.
      await grants().createIndex({ tokenHash: 1 }, { unique: true, name: 'tokenHash_unique' })
      await grants().createIndex({ expiresAt: 1 }, { expireAfterSeconds: 0, name: 'expiresAt_ttl' })
      await grants().createIndex({ userId: 1 }, { name: 'userId' })
      await families().createIndex({ familyId: 1 }, { unique: true, name: 'familyId_unique' })
      await families().createIndex({ sessionId: 1 }, { name: 'sessionId' })
      await families().createIndex({ userId: 1 }, { name: 'userId' })
      await families().createIndex({ expiresAt: 1 }, { expireAfterSeconds: 0, name: 'expiresAt_ttl' })
      await sessions().createIndex({ idHash: 1 }, { unique: true, name: 'idHash_unique' })
      await sessions().createIndex({ expiresAt: 1 }, { expireAfterSeconds: 0, name: 'expiresAt_ttl' })
      await sessions().createIndex({ userId: 1 }, { name: 'userId' })
      await oauthAccounts().createIndex({ provider: 1, accountId: 1 }, { unique: true, name: 'provider_accountId_unique' })
      await oauthAccounts().createIndex({ userId: 1 }, { name: 'userId' })
      await upstreamStates().createIndex({ stateHash: 1 }, { unique: true, name: 'stateHash_unique' })
      await upstreamStates().createIndex({ expiresAt: 1 }, { expireAfterSeconds: 0, name: 'expiresAt_ttl' })
      // Only associate states name a user.
      await upstreamStates().createIndex({ userId: 1 }, { name: 'userId', sparse: true })
      await consents().createIndex({ userId: 1, clientId: 1 }, { unique: true, name: 'userId_clientId_unique' })
    },

    async close () {
      if (ownsClient) await client.close()
      db = undefined
    },

    async createUser (input) {
      const now = new Date()
      const doc: UserDoc = {
        _id: new ObjectId(),
        email: input.email.trim(),
        normalizedEmail: normalizeEmail(input.email),
        hashedPassword: input.hashedPassword,
        isActive: input.isActive ?? true,
        isVerified: input.isVerified ?? false,
        isSuperuser: input.isSuperuser ?? false,
        // Copies: the user returned below must not share them with the caller's input.
        permissions: [...(input.permissions ?? [])],
        fields: structuredClone(input.fields ?? {}),
        createdAt: now,
        updatedAt: now
      }
      try {
        await users().insertOne(doc)
      } catch (err) {
        if (isDuplicateKey(err)) throw new EmailAlreadyExistsError()
        throw err
      }
      return toUser(doc)
    },

    async getUserById (id) {
      const _id = objectId(id)
      if (!_id) return null
      const doc = await users().findOne({ _id })
      return doc ? toUser(doc) : null
    },

    async getUserByEmail (email) {
      const doc = await users().findOne({ normalizedEmail: normalizeEmail(email) })
      return doc ? toUser(doc) : null
    },

    async updateUser (id, changes: UserChanges, expected) {
      const _id = objectId(id)
      if (!_id) return null
      const set: Partial<UserDoc> = { updatedAt: new Date() }
      for (const [key, value] of Object.entries(changes) as [keyof UserChanges, unknown][]) {
        if (value !== undefined) Object.assign(set, { [key]: value })
      }
      if (changes.email !== undefined) {
        set.email = changes.email.trim()
        set.normalizedEmail = normalizeEmail(changes.email)
      }
      try {
        // The precondition is part of the filter: one document write, atomic on the server.
        const filter = expected ? { _id, hashedPassword: expected.hashedPassword } : { _id }
        const doc = await users().findOneAndUpdate(filter, { $set: set }, { returnDocument: 'after' })
        return doc ? toUser(doc) : null
      } catch (err) {
        if (isDuplicateKey(err)) throw new EmailAlreadyExistsError()
        throw err
      }
    },

    async deleteUser (id) {
      const _id = objectId(id)
      if (!_id) return false
      // No transaction: the user's records first, the user last. Should a write fail, the
      // user is still there, with fewer sessions or grants, and deleting again finishes the
      // job; the other way round, grants of a deleted user could be left behind.
      await Promise.all([
        oauthAccounts().deleteMany({ userId: id }),
        families().deleteMany({ userId: id }),
        grants().deleteMany({ userId: id }),
        sessions().deleteMany({ userId: id }),
        consents().deleteMany({ userId: id }),
        upstreamStates().deleteMany({ userId: id, purpose: 'associate' })
      ])
      return (await users().deleteOne({ _id })).deletedCount === 1
    },

    async listUsers (query) {
      const { limit, after, email, emailPrefix } = parseUserListQuery(query)
      const filter: Filter<UserDoc> = {}
      if (after !== null) {
        const afterId = objectId(after.id)
        if (!afterId) throw new InvalidCursorError()
        // The $gte bounds the scan of the createdAt_id index; the $or settles equal times.
        filter.createdAt = { $gte: after.createdAt }
        filter.$or = [{ createdAt: { $gt: after.createdAt } }, { _id: { $gt: afterId } }]
      }
      // Either filter is served by the normalizedEmail_unique index: an anchored regex
      // without options scans just the keys of the prefix.
      if (email !== undefined) {
        if (emailPrefix !== undefined && !email.startsWith(emailPrefix)) return { users: [], next: null }
        filter.normalizedEmail = email
      } else if (emailPrefix !== undefined) {
        filter.normalizedEmail = startingWith(emailPrefix)
      }
      // One more than asked tells whether there is a next page.
      const docs = await users().find(filter).sort({ createdAt: 1, _id: 1 }).limit(limit + 1).toArray()
      const page = docs.slice(0, limit).map(toUser)
      const last = page[page.length - 1]
      return { users: page, next: docs.length > limit && last !== undefined ? userCursor(last) : null }
    },

    async countSuperusers () {
      return await users().countDocuments({ isSuperuser: true })
    },

    async listSigningKeys () {
      const docs = await keys().find({}, { projection: { _id: 0 } }).sort({ createdAt: -1 }).toArray()
      return docs.map(({ kid, alg, privateJwk, createdAt }) => ({ kid, alg, privateJwk, createdAt }))
    },

    async addSigningKey (key) {
      const { kid, alg, privateJwk, createdAt } = key
      try {
        // A copy: insertOne would add an _id to the object it is given.
        await keys().insertOne({ kid, alg, privateJwk, createdAt })
      } catch (err) {
        // Two instances starting together may both generate a key; the first one wins.
        if (!isDuplicateKey(err)) throw err
      }
    },

    async removeSigningKey (kid) {
      return (await keys().deleteOne({ kid })).deletedCount === 1
    },

    async createGrant (grant) {
      await grants().insertOne(defined({ ...grant }))
    },

    async getGrant (tokenHash, now) {
      return await grants().findOne({ tokenHash, expiresAt: { $gt: now } }, NO_ID)
    },

    async consumeGrant (tokenHash, kind, now) {
      // One conditional single-document update: MongoDB lets exactly one caller match.
      return await grants().findOneAndUpdate(
        { tokenHash, kind, consumedAt: null, expiresAt: { $gt: now } },
        { $set: { consumedAt: now } },
        { ...NO_ID, returnDocument: 'before' }
      )
    },

    async createGrantFamily (family) {
      await families().insertOne(defined({ ...family }))
    },

    async getGrantFamily (familyId, now) {
      return await families().findOne({ familyId, expiresAt: { $gt: now } }, NO_ID)
    },

    async extendGrantFamily (familyId, expiresAt, now) {
      return await families().findOneAndUpdate(
        { familyId, expiresAt: { $gt: now } },
        { $set: { expiresAt } },
        { ...NO_ID, returnDocument: 'after' }
      )
    },

    async revokeGrantFamilies (selector: FamilySelector, now) {
      const result = await families().updateMany({ ...selector, revokedAt: null }, { $set: { revokedAt: now } })
      return result.modifiedCount
    },

    async getConsent (userId, clientId) {
      return await consents().findOne({ userId, clientId }, NO_ID)
    },

    async grantConsent (userId, clientId, scopes, now) {
      // One atomic upsert: concurrent grants add to one document, each scope once.
      const consent = await consents().findOneAndUpdate(
        { userId, clientId },
        { $addToSet: { scopes: { $each: scopes } }, $set: { updatedAt: now }, $setOnInsert: { createdAt: now } },
        { ...NO_ID, upsert: true, returnDocument: 'after' }
      )
      if (!consent) throw new Error('mongoStore: the consent upsert returned nothing')
      return consent
    },

    async listConsents (userId) {
      return await consents().find({ userId }, NO_ID).sort({ createdAt: 1 }).toArray()
    },

    async deleteConsent (userId, clientId) {
      return (await consents().deleteOne({ userId, clientId })).deletedCount === 1
    },

    async createSession (session) {
      await sessions().insertOne(defined({ ...session }))
    },

    async getSession (idHash, now) {
      return await sessions().findOne({ idHash, expiresAt: { $gt: now } }, NO_ID)
    },

    async deleteSession (idHash) {
      return (await sessions().deleteOne({ idHash })).deletedCount === 1
    },

    async deleteUserSessions (userId) {
      return (await sessions().deleteMany({ userId })).deletedCount
    },

    async listUserSessions (userId, now) {
      return await sessions().find({ userId, expiresAt: { $gt: now } }, NO_ID).sort({ createdAt: 1 }).toArray()
    },

    async createOAuthAccount (account) {
      try {
        await oauthAccounts().insertOne({ ...account })
      } catch (err) {
        if (isDuplicateKey(err)) throw new OAuthAccountExistsError()
        throw err
      }
    },

    async getOAuthAccount (provider, accountId) {
      return await oauthAccounts().findOne({ provider, accountId }, NO_ID)
    },

    async listOAuthAccounts (userId) {
      return await oauthAccounts().find({ userId }, NO_ID).sort({ createdAt: 1 }).toArray()
    },

    async updateOAuthAccount (provider, accountId, changes: OAuthAccountChanges) {
      return await oauthAccounts().findOneAndUpdate(
        { provider, accountId },
        { $set: { ...defined({ ...changes }), updatedAt: new Date() } },
        { ...NO_ID, returnDocument: 'after' }
      )
    },

    async deleteOAuthAccount (userId, provider) {
      return (await oauthAccounts().deleteOne({ userId, provider })).deletedCount === 1
    },

    async createUpstreamState (state) {
      await upstreamStates().insertOne(defined({ ...state }))
    },

    async consumeUpstreamState (stateHash, now) {
      // Deleted whether expired or not; only a live one is returned.
      const state = await upstreamStates().findOneAndDelete({ stateHash }, NO_ID)
      return state !== null && state.expiresAt > now ? state : null
    }
  }
  return reportingUnavailable(store)
}

/** Failures that mean "MongoDB is out of reach", as opposed to a refused or malformed operation. */
function isUnreachable (err: unknown): boolean {
  return err instanceof MongoNetworkError || err instanceof MongoServerSelectionError ||
    err instanceof MongoNotConnectedError || err instanceof MongoTopologyClosedError
}

/** Every operation of the store, with "out of reach" failures turned into StoreUnavailableError. */
function reportingUnavailable (store: UserStore): UserStore {
  const wrapped: Record<string, unknown> = {}
  for (const [name, method] of Object.entries(store) as [string, (...args: unknown[]) => Promise<unknown>][]) {
    wrapped[name] = async (...args: unknown[]) => {
      try {
        return await method.apply(store, args)
      } catch (err) {
        throw isUnreachable(err) ? new StoreUnavailableError({ cause: err }) : err
      }
    }
  }
  return wrapped as unknown as UserStore
}
