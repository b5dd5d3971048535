import type { StoredUser, UserStore } from '../stores/types.js'

export interface UserCacheOptions {
  /** Milliseconds a user read from the store may be answered again without reading it. */
  ttl: number
  /** Users kept at most; the oldest goes first. */
  maxEntries: number
  now?: () => number
}

/** The guard's reads of users, and the store every other part uses, whose user writes reach the cache. */
export interface UserCache {
  /** The user, from the cache when read less than ttl ago, else from the store. */
  getUserById (id: string): Promise<StoredUser | null>
  /** The store, with updateUser and deleteUser forgetting the user here once they are done. */
  store: UserStore
  /** Forgets a user changed elsewhere (another reference to the store, the app's own code). */
  forget (id: string): void
  readonly size: number
}

/**
 * The guard reads the user of every request, so that a deactivated, deleted or demoted user is
 * refused at once; on a networked store that is a round trip per request. With a cache, a
 * change made through this instance still applies at once (every user write of ours goes
 * through `store` below), and one made elsewhere (another instance) within `ttl`.
 */
export function createUserCache (store: UserStore, methods: readonly (keyof UserStore)[], options: UserCacheOptions): UserCache {
  const now = options.now ?? Date.now
  const entries = new Map<string, { user: StoredUser, until: number }>()
  // Bumped by every forget: a read that began before a change must not store what it read.
  let epoch = 0

  function forget (id: string) {
    epoch++
    entries.delete(id)
  }

  async function getUserById (id: string): Promise<StoredUser | null> {
    const entry = entries.get(id)
    if (entry !== undefined) {
      if (entry.until > now()) return entry.user
      entries.delete(id)
    }
    const began = epoch
    const user = await store.getUserById(id)
    // An unknown user is not kept: nothing to refuse faster, and nothing to forget later.
    if (user !== null && began === epoch) {
      if (entries.size >= options.maxEntries) entries.delete(entries.keys().next().value as string)
      entries.set(id, { user: deepFreeze(user), until: now() + options.ttl })
    }
    return user
  }

  // Every method on the store itself (a store written as a class keeps its own `this`).
  const wrapped = Object.fromEntries(methods.map((name) => [name, (store[name] as (...args: unknown[]) => unknown).bind(store)])) as unknown as UserStore
  wrapped.updateUser = async (id, ...rest) => {
    try {
      return await store.updateUser(id, ...rest)
    } finally {
      forget(id)
    }
  }
  wrapped.deleteUser = async (id) => {
    try {
      return await store.deleteUser(id)
    } finally {
      forget(id)
    }
  }

  return {
    getUserById,
    store: wrapped,
    forget,
    get size () { return entries.size }
  }
}

/** One record serves many requests: nobody may change it in place (the app's fields included). */
function deepFreeze<T> (value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value) && !(value instanceof Date)) {
    for (const inner of Object.values(value)) deepFreeze(inner)
    Object.freeze(value)
  }
  return value
}
