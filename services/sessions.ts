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
      const idHash = hashToken(id)
      const session = await store.getSession(idHash, now())
      await store.revokeGrantFamilies({ sessionId: idHash }, now())
      await store.deleteSession(idHash)
      if (session) events.emit('logout', { userId: session.userId })
    }
  }
}

export type SessionService = ReturnType<typeof createSessionService>
