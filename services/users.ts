import type { TObject } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import type { User, UserAdminUpdate, UserCreate, UserUpdate } from '../schemas/user.js'
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
import type { UsersEventBus, UsersEvents } from './events.js'
import type { ActionTokens } from './action-tokens.js'
import {
  ResetPasswordBadTokenError,
  ResetPasswordInvalidPasswordError,
  VerifyUserAlreadyVerifiedError,
  VerifyUserBadTokenError,
  DeleteRefusedError,
  LastSuperuserError,
  SelfAdministrationError
} from '../errors.js'

/**
 * What a user is told by mail. Each call only starts the sending: an answer that must not
 * say whether an address exists must not wait for it either.
 */
export interface AccountNotifier {
  verify (user: StoredUser, link: string): void
  reset (user: StoredUser, link: string): void
  /** To the old address: the account's address is now `user.email`. */
  emailChanged (oldEmail: string, user: StoredUser): void
  passwordChanged (user: StoredUser): void
}

/** Where mailed links lead: our pages, with the token in the query. */
export interface ActionLinks {
  verify (token: string): string
  reset (token: string): string
}

export interface UserServiceOptions {
  store: UserStore
  passwordPolicy: PasswordPolicy
  onAfterRegister?: (user: User) => void | Promise<void>
  /** Seconds a sign-in counts as recent for a change without the current password. */
  recentSignInMaxAge: number
  hasher: PasswordHasher
  events: Pick<UsersEventBus, 'emit' | 'emitAndWait'>
  actionTokens: ActionTokens
  links: ActionLinks
  /** Absent without a mailer: the events carry the links, for the app to send. */
  notify?: AccountNotifier
  /** Mail a verification link at registration (with a notifier). */
  verifyOnRegister: boolean
  /** Ends every session and refresh token of a user (after a password reset). */
  signOutEverywhere (userId: string): Promise<void>
  /** The app's own user fields (TypeBox): defaults and checks for what the app's code passes in. */
  userFields: TObject
  /** Reports what failed after the change was made (an onAfterRegister hook that threw): the change stands. */
  reportFailure (err: unknown, what: string): void
}

/** What the caller proved beyond holding a token: when the user signed in (auth_time, seconds). */
export interface UpdateProof {
  authTime?: number
}

export interface UserService {
  register (input: UserCreate, flags?: { isVerified?: boolean, isSuperuser?: boolean, permissions?: string[] }): Promise<User>
  /** The user when the credentials are right and the user is active; null otherwise, in equal time. */
  authenticate (email: string, password: string): Promise<StoredUser | null>
  /**
   * Applies a change the user asked for. Sensitive changes need proof: a new password needs
   * the current one (when there is one) or, for a user without a password, a recent sign-in;
   * a new email needs the current password or a recent sign-in. Else StepUpRequiredError.
   */
  update (userId: string, changes: UserUpdate, proof?: UpdateProof): Promise<User>
  /**
   * Mails a verification link when the address belongs to an active, unverified user; does
   * nothing otherwise, and takes the same time either way (the mail is sent in the background).
   */
  requestVerify (email: string): Promise<void>
  /** Verifies the address the token was sent to. */
  verify (token: string): Promise<User>
  /** Mails a password reset link when the address belongs to an active user; else nothing, in the same time. */
  forgotPassword (email: string): Promise<void>
  /**
   * Sets a new password from a reset link, and ends every session and refresh token of the
   * user: whoever knew the old password is out. Every reset link sent before dies with it.
   */
  resetPassword (token: string, password: string): Promise<User>

  /** A page of users, by creation; `email` an address or its beginning. */
  list (query: { limit: number, cursor?: string, email?: string }): Promise<{ users: User[], next: string | null }>
  get (userId: string): Promise<User>
  /**
   * An administrator's change. A deactivated user, or one given a new password, is signed out
   * everywhere at once. Nobody takes their own superuser flag or deactivates themselves, and
   * the last superuser keeps the flag.
   */
  administer (actorId: string, userId: string, changes: UserAdminUpdate): Promise<User>
  /**
   * Deletes the user with everything of theirs (provider accounts, authorizations, sessions).
   * `beforeUserDelete` listeners run first and may refuse by throwing; nothing is deleted then.
   */
  remove (actorId: string, userId: string): Promise<void>
}

/**
 * The app's fields of a user made without a body (a first login through a provider or an
 * external issuer): the schema's defaults. A required field without a default stays absent.
 */
export function defaultFields (userFields: TObject): Record<string, unknown> {
  return structuredClone(Value.Default(userFields, {})) as Record<string, unknown>
}

/** The public view of a user: everything but secrets, dates as ISO strings. */
export function toPublicUser (user: StoredUser): User {
  return {
    // The app's own fields first, so that ours win whatever a store holds (stores return copies: no clone).
    ...user.fields,
    id: user.id,
    email: user.email,
    isActive: user.isActive,
    isVerified: user.isVerified,
    isSuperuser: user.isSuperuser,
    permissions: [...user.permissions],
    createdAt: user.createdAt.toISOString(),
    updatedAt: user.updatedAt.toISOString()
  } as User
}

export function createUserService (options: UserServiceOptions): UserService {
  const { store, passwordPolicy, onAfterRegister, recentSignInMaxAge, hasher, events, actionTokens, links, notify } = options
  const load = (id: string) => store.getUserById(id)
  const ours = new Set(['email', 'password', 'currentPassword', 'isActive', 'isVerified', 'isSuperuser', 'permissions'])
  /** The app's fields among a body's properties. */
  const fieldsOf = (input: object): Record<string, unknown> =>
    Object.fromEntries(Object.entries(input).filter(([name, value]) => !ours.has(name) && value !== undefined))
  /**
   * The user's fields after a change, with the schema's defaults, checked: our routes have
   * validated them already, the app's own code (app.users.manager) has not.
   */
  function withFields (current: Record<string, unknown>, changes: Record<string, unknown>): Record<string, unknown> {
    const fields = Value.Default(options.userFields, { ...structuredClone(current), ...structuredClone(changes) }) as Record<string, unknown>
    const error = Value.Errors(options.userFields, fields).First()
    if (error) throw new TypeError(`fastify-users: user field ${error.path || '/'}: ${error.message}`)
    return fields
  }

  /** Stores a change of the user; the store's refusal of a taken address is the change's error. */
  async function applyChanges (userId: string, changes: UserChanges): Promise<StoredUser> {
    let updated: StoredUser | null
    try {
      updated = await store.updateUser(userId, changes)
    } catch (err) {
      if (err instanceof EmailAlreadyExistsError) throw new UpdateEmailAlreadyExistsError()
      throw err
    }
    if (!updated) throw new UserNotFoundError()
    return updated
  }

  async function changeFields (user: StoredUser, changes: UserChanges): Promise<User> {
    const updated = await applyChanges(user.id, changes)
    const result = toPublicUser(updated)
    events.emit('userUpdated', { user: result, changed: ['fields'] })
    return result
  }

  async function sendVerification (user: StoredUser) {
    const token = await actionTokens.issue('verify', user)
    const link = links.verify(token)
    notify?.verify(user, link)
    events.emit('verifyRequested', () => ({ user: toPublicUser(user), token, link }))
  }

  return {
    async register (input, flags = {}) {
      const { email, password } = input
      const fields = withFields({}, fieldsOf(input))
      const refusal = await checkPasswordPolicy(passwordPolicy, password, { email })
      if (refusal) throw new RegisterInvalidPasswordError(refusal)
      // A cheap pre-check spares an argon2 hash for the common duplicate; the unique
      // index still decides races.
      if (await store.getUserByEmail(email)) throw new UserAlreadyExistsError()
      const hashedPassword = await hasher.hash(password)
      let stored: StoredUser
      try {
        stored = await store.createUser({ email, hashedPassword, ...flags, fields })
      } catch (err) {
        if (err instanceof EmailAlreadyExistsError) throw new UserAlreadyExistsError()
        throw err
      }
      const user = toPublicUser(stored)
      events.emit('userCreated', { user, method: 'password' })
      if (options.verifyOnRegister && notify && !stored.isVerified) await sendVerification(stored)
      // The user exists now: a failing hook is reported, and the registration stands whole.
      try {
        await onAfterRegister?.(user)
      } catch (err) {
        options.reportFailure(err, 'onAfterRegister')
      }
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

    async update (userId, input, proof = {}) {
      const { email, password, currentPassword } = input
      // The stored record, not the public one: the proof needs the password hash.
      const user = await store.getUserById(userId)
      if (!user) throw new UserNotFoundError()
      const changes: UserChanges = {}
      const fieldChanges = fieldsOf(input)
      // The app's fields need no proof: readOnly ones are refused before (the body's schema has none of them).
      if (Object.keys(fieldChanges).length > 0) changes.fields = withFields(user.fields, fieldChanges)
      const emailChange = email !== undefined && email.trim() !== user.email
      if (password === undefined && !emailChange) {
        if (changes.fields === undefined) return toPublicUser(user)
        return changeFields(user, changes)
      }

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
      const updated = await applyChanges(user.id, changes)
      // The old address hears of the change (it may not be its owner's doing); the new one is to be proven.
      if (emailChange) notify?.emailChanged(user.email, updated)
      if (changes.isVerified === false) await sendVerification(updated)
      if (changes.hashedPassword !== undefined) notify?.passwordChanged(updated)
      const result = toPublicUser(updated)
      events.emit('userUpdated', { user: result, changed: [...(emailChange ? ['email' as const] : []), ...(password !== undefined ? ['password' as const] : []), ...(changes.fields ? ['fields' as const] : [])] })
      return result
    },

    async requestVerify (email) {
      const user = await store.getUserByEmail(email)
      if (!user || !user.isActive || user.isVerified) return
      await sendVerification(user)
    },

    async verify (token) {
      const user = await actionTokens.check('verify', token, load)
      if (!user || !user.isActive) throw new VerifyUserBadTokenError()
      if (user.isVerified) throw new VerifyUserAlreadyVerifiedError()
      const updated = await store.updateUser(user.id, { isVerified: true })
      if (!updated) throw new VerifyUserBadTokenError()
      const result = toPublicUser(updated)
      events.emit('userVerified', { user: result })
      return result
    },

    async forgotPassword (email) {
      const user = await store.getUserByEmail(email)
      if (!user || !user.isActive) return
      const token = await actionTokens.issue('reset', user)
      const link = links.reset(token)
      notify?.reset(user, link)
      events.emit('forgotPassword', () => ({ user: toPublicUser(user), token, link }))
    },

    async resetPassword (token, password) {
      const user = await actionTokens.check('reset', token, load)
      if (!user || !user.isActive) throw new ResetPasswordBadTokenError()
      const refusal = await checkPasswordPolicy(passwordPolicy, password, { email: user.email })
      if (refusal) throw new ResetPasswordInvalidPasswordError(refusal)
      const hashedPassword = await hasher.hash(password)
      // Only from the hash the link was made for: of two uses of one link at once, one wins.
      const updated = await store.updateUser(user.id, { hashedPassword }, { hashedPassword: user.hashedPassword })
      if (!updated) throw new ResetPasswordBadTokenError()
      await options.signOutEverywhere(user.id)
      notify?.passwordChanged(updated)
      const result = toPublicUser(updated)
      events.emit('passwordReset', { user: result })
      return result
    },

    async list ({ limit, cursor, email }) {
      // An address is looked up as such; anything else is the beginning of one.
      const exact = email !== undefined && /^[^@\s]+@[^@\s]+$/.test(email)
      const page = await store.listUsers({
        limit,
        ...(cursor !== undefined && { cursor }),
        ...(email !== undefined && (exact ? { email } : { emailPrefix: email }))
      })
      return { users: page.users.map(toPublicUser), next: page.next }
    },

    async get (userId) {
      const user = await store.getUserById(userId)
      if (!user) throw new UserNotFoundError()
      return toPublicUser(user)
    },

    async administer (actorId, userId, input) {
      const { email, password, isActive, isVerified, isSuperuser, permissions } = input
      const user = await store.getUserById(userId)
      if (!user) throw new UserNotFoundError()
      if (actorId === userId && isSuperuser === false && user.isSuperuser) throw new SelfAdministrationError('You cannot remove your own superuser flag')
      if (actorId === userId && isActive === false) throw new SelfAdministrationError('You cannot deactivate yourself')
      if (isSuperuser === false && user.isSuperuser && await store.countSuperusers() <= 1) throw new LastSuperuserError()

      const changes: UserChanges = {}
      if (isActive !== undefined) changes.isActive = isActive
      if (isSuperuser !== undefined) changes.isSuperuser = isSuperuser
      if (permissions !== undefined) changes.permissions = [...permissions]
      const fieldChanges = fieldsOf(input)
      if (Object.keys(fieldChanges).length > 0) changes.fields = withFields(user.fields, fieldChanges)
      const emailChange = email !== undefined && email.trim() !== user.email
      if (emailChange) {
        changes.email = email
        if (normalizeEmail(email) !== normalizeEmail(user.email)) changes.isVerified = false
      }
      if (isVerified !== undefined) changes.isVerified = isVerified
      if (password !== undefined) {
        const refusal = await checkPasswordPolicy(passwordPolicy, password, { email: email ?? user.email })
        if (refusal) throw new UpdateInvalidPasswordError(refusal)
        changes.hashedPassword = await hasher.hash(password)
      }
      const updated = await applyChanges(user.id, changes)
      // Whoever holds this user's sessions or refresh tokens is out; access tokens fail at the guard's next look.
      if (isActive === false || password !== undefined) await options.signOutEverywhere(user.id)
      if (emailChange) notify?.emailChanged(user.email, updated)
      if (password !== undefined) notify?.passwordChanged(updated)
      const result = toPublicUser(updated)
      events.emit('userUpdated', { user: result, changed: Object.keys(changes).filter((k) => k !== 'hashedPassword').concat(password !== undefined ? ['password'] : []) as UsersEvents['userUpdated']['changed'], by: actorId })
      return result
    },

    async remove (actorId, userId) {
      const user = await store.getUserById(userId)
      if (!user) throw new UserNotFoundError()
      if (user.isSuperuser && await store.countSuperusers() <= 1) throw new LastSuperuserError()
      const publicUser = toPublicUser(user)
      try {
        await events.emitAndWait('beforeUserDelete', { user: publicUser, by: actorId })
      } catch (err) {
        // A refusal the app meant (a 4xx) is told; anything else is a failure of its code, logged by the bus.
        const status = (err as { statusCode?: unknown }).statusCode
        const meant = typeof status === 'number' && status >= 400 && status < 500 && err instanceof Error
        throw new DeleteRefusedError(meant ? err.message : 'The app refused to delete this user', { cause: err })
      }
      if (!await store.deleteUser(user.id)) throw new UserNotFoundError()
      events.emit('userDeleted', { user: publicUser, by: actorId })
    }
  }
}
