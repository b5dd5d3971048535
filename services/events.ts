import type { User } from '../schemas/user.js'
import type { GrantType } from '../schemas/hooks.js'

/** What happened, after it happened: each event is emitted once the change is stored. */
export interface UsersEvents {
  /** A user was created: with a password (registration, or the app's own code), or at a first provider sign-in. */
  userCreated: { user: User, method: 'password' | 'provider', provider?: string }
  /** A person signed in: the password grant, the login form, or a provider's callback. */
  login: { user: User, method: 'password' | 'provider', provider?: string, clientId?: string }
  /** A browser session ended (POST /auth/logout); what was authorized from it is revoked. */
  logout: { userId: string }
  /** Tokens went out from the token endpoint. `userId` is null for a client acting for itself. */
  tokenIssued: { userId: string | null, clientId: string, scopes: string[], grantType: GrantType }
  /** A used code or refresh token came back: its whole family is revoked (it may be stolen). */
  refreshReuse: { familyId: string, userId: string, clientId: string, grantType: 'authorization_code' | 'refresh_token' }
  /** A provider account was linked to a user (first sign-in, linking by email, or associate). */
  accountLinked: { user: User, provider: string, accountId: string }
  /** A provider account was unlinked from a user. */
  accountUnlinked: { user: User, provider: string }
  /**
   * The user was changed: by themselves (PATCH /users/me, the manager's update), or by an
   * administrator (PATCH /users/{id}; `by` is the administrator's id).
   */
  userUpdated: { user: User, changed: ('email' | 'password' | 'isActive' | 'isVerified' | 'isSuperuser' | 'permissions' | 'fields')[], by?: string }
  /**
   * A verification link was made for the user's address (registration, a new email, or
   * POST /auth/request-verify-token). Without a mailer, this is where the app sends it.
   */
  verifyRequested: { user: User, token: string, link: string }
  /** The user's address was verified. */
  userVerified: { user: User }
  /** A password reset link was made (POST /auth/forgot-password). Without a mailer, the app sends it. */
  forgotPassword: { user: User, token: string, link: string }
  /** The password was reset from a link; the user's sessions and refresh tokens are ended. */
  passwordReset: { user: User }
  /**
   * A user is about to be deleted (`by`: the administrator's id, absent for the app's own
   * code). Listeners are awaited, in order: one that throws stops the deletion, and what it
   * threw is the answer.
   */
  beforeUserDelete: { user: User, by?: string }
  /** A user was deleted, with everything of theirs. */
  userDeleted: { user: User, by?: string }
}

export type UsersEventName = keyof UsersEvents
export type UsersEventListener<E extends UsersEventName> = (payload: UsersEvents[E]) => void | Promise<void>

export interface UsersEventBus {
  /** Listens to an event. Listeners run after the fact and are not awaited; what they throw is logged. */
  on<E extends UsersEventName> (event: E, listener: UsersEventListener<E>): void
  off<E extends UsersEventName> (event: E, listener: UsersEventListener<E>): void
  /** `payload` may be a function, called only when someone listens (for payloads that cost to build). */
  emit<E extends UsersEventName> (event: E, payload: UsersEvents[E] | (() => UsersEvents[E])): void
  /** Runs the listeners one after the other and waits for each; the first that throws stops it, and its error is thrown. */
  emitAndWait<E extends UsersEventName> (event: E, payload: UsersEvents[E]): Promise<void>
}

/**
 * Listeners never hold up or fail the request that caused the event: a slow audit log or a
 * failing webhook is the app's to retry, not a reason to refuse a sign-in that happened.
 */
export function createEventBus (onListenerError: (err: unknown, event: UsersEventName) => void): UsersEventBus {
  const listeners = new Map<UsersEventName, Set<(payload: never) => void | Promise<void>>>()
  return {
    on (event, listener) {
      let set = listeners.get(event)
      if (!set) listeners.set(event, set = new Set())
      set.add(listener)
    },
    off (event, listener) {
      listeners.get(event)?.delete(listener)
    },
    emit (event, payload) {
      const set = listeners.get(event)
      if (!set || set.size === 0) return
      const value = typeof payload === 'function' ? payload() : payload
      for (const listener of set) {
        try {
          const result = (listener as (payload: UsersEvents[typeof event]) => void | Promise<void>)(value)
          if (result instanceof Promise) result.catch((err: unknown) => onListenerError(err, event))
        } catch (err) {
          onListenerError(err, event)
        }
      }
    },
    async emitAndWait (event, payload) {
      for (const listener of [...listeners.get(event) ?? []]) {
        try {
          await (listener as (payload: UsersEvents[typeof event]) => void | Promise<void>)(payload)
        } catch (err) {
          onListenerError(err, event)
          throw err
        }
      }
    }
  }
}
