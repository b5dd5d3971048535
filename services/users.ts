import type { User, UserCreate, UserUpdate } from '../schemas/user.js'
import { EmailAlreadyExistsError, normalizeEmail, type StoredUser, type UserChanges, type UserStore } from '../stores/types.js'
import { signedInWithin } from './tokens.js'
import {
  RegisterInvalidPasswordError,
  StepUpRequiredError,
  UpdateEmailAlreadyExistsError,
  UpdateInvalidPasswordError,
  UserNotFoundError,
  UserAlreadyExistsError
} from '../errors.js'
import { checkPasswordPolicy, type PasswordHasher, type PasswordPolicy } from './password.js'
import type { UsersEventBus } from './events.js'

export interface UserServiceOptions {
  store: UserStore
  passwordPolicy: PasswordPolicy
  onAfterRegister?: (user: User) => void | Promise<void>
  /** Seconds a sign-in counts as recent for a change without the current password. */
  recentSignInMaxAge: number
  hasher: PasswordHasher
  events: Pick<UsersEventBus, 'emit'>
}

/** What the caller proved beyond holding a token: when the user signed in (auth_time, seconds). */
export interface UpdateProof {
  authTime?: number
}

export interface UserService {
  register (input: UserCreate, flags?: { isVerified?: boolean, isSuperuser?: boolean }): Promise<User>
  /** The user when the credentials are right and the user is active; null otherwise, in equal time. */
  authenticate (email: string, password: string): Promise<StoredUser | null>
  /**
   * Applies a change the user asked for. Sensitive changes need proof: a new password needs
   * the current one (when there is one) or, for a user without a password, a recent sign-in;
   * a new email needs the current password or a recent sign-in. Else StepUpRequiredError.
   */
  update (userId: string, changes: UserUpdate, proof?: UpdateProof): Promise<User>
}

/** The public view of a user: everything but secrets, dates as ISO strings. */
export function toPublicUser (user: StoredUser): User {
  return {
    id: user.id,
    email: user.email,
    isActive: user.isActive,
    isVerified: user.isVerified,
    isSuperuser: user.isSuperuser,
    createdAt: user.createdAt.toISOString(),
    updatedAt: user.updatedAt.toISOString()
  }
}

export function createUserService ({ store, passwordPolicy, onAfterRegister, recentSignInMaxAge, hasher, events }: UserServiceOptions): UserService {
  return {
    async register ({ email, password }, flags = {}) {
      const refusal = await checkPasswordPolicy(passwordPolicy, password, { email })
      if (refusal) throw new RegisterInvalidPasswordError(refusal)
      // A cheap pre-check spares an argon2 hash for the common duplicate; the unique
      // index still decides races.
      if (await store.getUserByEmail(email)) throw new UserAlreadyExistsError()
      const hashedPassword = await hasher.hash(password)
      let stored: StoredUser
      try {
        stored = await store.createUser({ email, hashedPassword, ...flags })
      } catch (err) {
        if (err instanceof EmailAlreadyExistsError) throw new UserAlreadyExistsError()
        throw err
      }
      const user = toPublicUser(stored)
      events.emit('userCreated', { user, method: 'password' })
      await onAfterRegister?.(user)
      return user
    },

    async authenticate (email, password) {
      const user = await store.getUserByEmail(email)
      if (!user?.hashedPassword) {
        await hasher.verifyDummy()
        return null
      }
      const ok = await hasher.verify(user.hashedPassword, password)
      if (!ok || !user.isActive) return null
      // Every password sign-in passes here: the public user is built only for a listener.
      events.emit('login', () => ({ user: toPublicUser(user), method: 'password' }))
      return user
    },

    async update (userId, { email, password, currentPassword }, proof = {}) {
      // The stored record, not the public one: the proof needs the password hash.
      const user = await store.getUserById(userId)
      if (!user) throw new UserNotFoundError()
      const changes: UserChanges = {}
      const emailChange = email !== undefined && email.trim() !== user.email
      if (password === undefined && !emailChange) return toPublicUser(user)

      // The proof is checked before anything else: a stolen token alone learns nothing more.
      const recent = signedInWithin({ auth_time: proof.authTime }, recentSignInMaxAge)
      if (currentPassword !== undefined) {
        if (!user.hashedPassword) throw new UpdateInvalidPasswordError('This user has no password: leave currentPassword out and sign in again instead')
        if (!await hasher.verify(user.hashedPassword, currentPassword)) throw new UpdateInvalidPasswordError('The current password is wrong')
      } else if (password !== undefined && user.hashedPassword) {
        throw new UpdateInvalidPasswordError('currentPassword is required to change the password')
      } else if (!recent) {
        throw new StepUpRequiredError(recentSignInMaxAge, user.hashedPassword
          ? 'Changing the email address needs the current password (currentPassword) or a recent sign-in'
          : 'This change needs a recent sign-in: sign in again')
      }

      if (password !== undefined) {
        const refusal = await checkPasswordPolicy(passwordPolicy, password, { email: email ?? user.email })
        if (refusal) throw new UpdateInvalidPasswordError(refusal)
        changes.hashedPassword = await hasher.hash(password)
      }
      if (emailChange) {
        changes.email = email
        // A new address has not been proven to belong to the user; a change of case is no new address.
        if (normalizeEmail(email) !== normalizeEmail(user.email)) changes.isVerified = false
      }
      try {
        const updated = await store.updateUser(user.id, changes)
        if (!updated) throw new UserNotFoundError()
        return toPublicUser(updated)
      } catch (err) {
        if (err instanceof EmailAlreadyExistsError) throw new UpdateEmailAlreadyExistsError()
        throw err
      }
    }
  }
}
