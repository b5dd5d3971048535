import type { StoredSession, UserStore } from '../stores/types.js'
import { hashToken, randomToken } from './secrets.js'
import type { UsersEventBus } from './events.js'

export interface SessionServiceOptions {
  store: UserStore
  /** seconds */
  ttl: number
  events: Pick<UsersEventBus, 'emit'>
  now?: () => Date
}

/**
 * Browser login sessions. The browser holds a random id; the store holds its hash, so a
 * copy of the store opens no session. Every login makes a new id (no fixation).
 */
export function createSessionService ({ store, ttl, events, now = () => new Date() }: SessionServiceOptions) {
  return {
    async start (userId: string): Promise<{ id: string, session: StoredSession }> {
      const id = randomToken()
      const createdAt = now()
      const session: StoredSession = { idHash: hashToken(id), userId, createdAt, expiresAt: new Date(createdAt.getTime() + ttl * 1000) }
      await store.createSession(session)
      return { id, session }
    },

    async find (id: string): Promise<StoredSession | null> {
      return store.getSession(hashToken(id), now())
    },

    /** Forgets the session, leaving what was authorized from it alone (a new login replaces it). */
    async discard (id: string): Promise<void> {
      await store.deleteSession(hashToken(id))
    },

    /** Ends the session and revokes the grant families authorized from it. */
    async end (id: string): Promise<void> {
      await this.endByHash(hashToken(id))
    },

    /** end(), for a session known by its stored hash (the id a person sees in their list of sessions). */
    async endByHash (idHash: string): Promise<void> {
      const session = await store.getSession(idHash, now())
      await store.revokeGrantFamilies({ sessionId: idHash }, now())
      await store.deleteSession(idHash)
      if (session) events.emit('logout', { userId: session.userId })
    },

    /** The user's live sessions, oldest first. */
    async list (userId: string): Promise<StoredSession[]> {
      return store.listUserSessions(userId, now())
    },

    /** The stored hash of a browser's session id, as list() names sessions. */
    hashOf: (id: string) => hashToken(id)
  }
}

export type SessionService = ReturnType<typeof createSessionService>
