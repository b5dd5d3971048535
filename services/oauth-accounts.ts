import { CompactEncrypt, compactDecrypt } from 'jose'
import type { User } from '../schemas/user.js'
import type { UpstreamProfile, UpstreamToken } from '../schemas/providers.js'
import {
  EmailAlreadyExistsError,
  OAuthAccountExistsError,
  type OAuthAccountChanges,
  type StoredOAuthAccount,
  type StoredUser,
  type UserStore
} from '../stores/types.js'
import { OAuthAccountNotFoundError, UnlinkLastLoginMethodError, UpstreamLoginError } from '../errors.js'
import type { UsersEventBus } from './events.js'
import type { OAuthLoginInfo } from '../schemas/hooks.js'
import { isValidEmail } from './email.js'
import { toPublicUser } from './users.js'

/** What the linking rules need to know of a provider. */
export interface LinkingProvider {
  name: string
  label: string
  associateByEmail: boolean
  isVerifiedByDefault: boolean
}

export interface OAuthAccountServiceOptions {
  store: UserStore
  /** 32 bytes: upstream tokens are stored as JWE (dir, A256GCM) under it. Absent: stored as given. */
  tokenKey?: Uint8Array
  onAfterRegister?: (user: User) => void | Promise<void>
  onOAuthLogin?: (user: User, info: OAuthLoginInfo) => void | Promise<void>
  events: Pick<UsersEventBus, 'emit'>
  /** The app's fields of a user made by a first login (its schema's defaults). */
  newUserFields: () => Record<string, unknown>
  /** Reports what failed after the user was made (an onAfterRegister hook that threw): the login goes on. */
  reportFailure: (err: unknown, what: string) => void
  now?: () => Date
}

/** Upstream tokens refresh through the provider's own routes plugin, which registers here. */
export type UpstreamRefresher = (refreshToken: string) => Promise<UpstreamToken>

/**
 * The linking rules of fastapi-users, safer by default: an account is known by
 * (provider, accountId); a first login joins an existing user with the same email only when
 * the app opted in for that provider AND the provider says the email is verified AND the
 * existing user has verified it too.
 */
export function createOAuthAccountService (options: OAuthAccountServiceOptions) {
  const { store } = options
  const now = options.now ?? (() => new Date())
  const refreshers = new Map<string, UpstreamRefresher>()
  const refreshing = new Map<string, Promise<string | null>>()

  async function seal (value: string | undefined | null): Promise<string | null> {
    if (value === undefined || value === null) return null
    if (!options.tokenKey) return value
    return new CompactEncrypt(new TextEncoder().encode(value)).setProtectedHeader({ alg: 'dir', enc: 'A256GCM' }).encrypt(options.tokenKey)
  }

  async function open (value: string | null): Promise<string | null> {
    if (value === null || !options.tokenKey) return value
    const { plaintext } = await compactDecrypt(value, options.tokenKey)
    return new TextDecoder().decode(plaintext)
  }

  /** The account fields a token response sets; without a new refresh token, the old one stays. */
  async function tokenFields (token: UpstreamToken): Promise<OAuthAccountChanges> {
    const expiresIn = Number(token.expires_in)
    const fields: OAuthAccountChanges = {
      accessToken: await seal(token.access_token),
      expiresAt: Number.isFinite(expiresIn) && expiresIn > 0 ? new Date(now().getTime() + expiresIn * 1000) : null
    }
    if (token.refresh_token !== undefined) fields.refreshToken = await seal(token.refresh_token)
    return fields
  }

  /**
   * The provider's email as we take it: in NFC (emails are compared in that form) and only
   * when registration would accept it. Whatever a provider lets its users type (an invisible
   * character, a trailing dot, markup) would otherwise make a second "verified" user that
   * looks like an existing one, or break the published format of /users/me.
   */
  function acceptedEmail (profile: UpstreamProfile): string | null {
    const email = profile.email?.normalize('NFC') ?? null
    return email !== null && isValidEmail(email) ? email : null
  }

  async function newAccount (provider: LinkingProvider, userId: string, profile: UpstreamProfile, token: UpstreamToken): Promise<StoredOAuthAccount> {
    const at = now()
    const fields = await tokenFields(token)
    return {
      provider: provider.name,
      accountId: profile.accountId,
      userId,
      accountEmail: acceptedEmail(profile),
      accessToken: fields.accessToken ?? null,
      refreshToken: fields.refreshToken ?? null,
      expiresAt: fields.expiresAt ?? null,
      createdAt: at,
      updatedAt: at
    }
  }

  async function refreshTokens (account: StoredOAuthAccount, profile: UpstreamProfile, token: UpstreamToken) {
    return await store.updateOAuthAccount(account.provider, account.accountId, { ...await tokenFields(token), accountEmail: acceptedEmail(profile) }) ?? account
  }

  // One user, one account per provider.
  const hasAccountAt = async (userId: string, provider: LinkingProvider) =>
    (await store.listOAuthAccounts(userId)).some((a) => a.provider === provider.name)

  const taken = (provider: LinkingProvider) => new UpstreamLoginError(409, 'This email address is taken',
    `A user with the email address of your ${provider.label} account exists already. Sign in with your password, then link ${provider.label} from your account.`)
  const deactivated = () => new UpstreamLoginError(403, 'Sign-in refused', 'This user is deactivated.')
  const otherAccountLinked = (provider: LinkingProvider) => new UpstreamLoginError(409, 'Another account is linked',
    `Your user is linked to another ${provider.label} account already; unlink it first.`)
  const linkedElsewhere = (provider: LinkingProvider) => new UpstreamLoginError(409, 'Account linked elsewhere',
    `This ${provider.label} account is linked to another user.`)

  async function login (provider: LinkingProvider, profile: UpstreamProfile, token: UpstreamToken, attempt = 0): Promise<StoredUser> {
    const account = await store.getOAuthAccount(provider.name, profile.accountId)
    if (account) {
      const user = await store.getUserById(account.userId)
      if (user) {
        if (!user.isActive) throw deactivated()
        await refreshTokens(account, profile, token)
        const publicUser = toPublicUser(user)
        options.events.emit('login', { user: publicUser, method: 'provider', provider: provider.name })
        await options.onOAuthLogin?.(publicUser, { provider: provider.name, accountId: profile.accountId, created: false, linked: false })
        return user
      }
      // Left behind by a user deleted half-way: the account is free again.
      await store.deleteOAuthAccount(account.userId, provider.name)
    }

    if (profile.email === null) {
      throw new UpstreamLoginError(400, 'No email address', `${provider.label} did not share an email address with us; one is needed to make your user.`)
    }
    const email = acceptedEmail(profile)
    if (email === null) {
      throw new UpstreamLoginError(400, 'Email address not accepted',
        `The email address of your ${provider.label} account is not one we can accept. Change it at ${provider.label}, or register with your email address and a password.`)
    }
    const existing = await store.getUserByEmail(email)
    if (existing && await halfMade(existing)) return finishHalfMade(provider, existing, profile, token)
    if (existing) {
      // Both sides must have proven the address: a user made with someone else's unverified
      // address (and a password of theirs) must not receive the owner's provider account.
      if (!provider.associateByEmail || !profile.emailVerified || !existing.isVerified) throw taken(provider)
      if (!existing.isActive) throw deactivated()
      if (await hasAccountAt(existing.id, provider)) throw otherAccountLinked(provider)
      try {
        await store.createOAuthAccount(await newAccount(provider, existing.id, profile, token))
      } catch (err) {
        // Linked by a concurrent login of the same account: take the path of a known account.
        if (err instanceof OAuthAccountExistsError && attempt === 0) return login(provider, profile, token, 1)
        throw err
      }
      const publicUser = toPublicUser(existing)
      options.events.emit('accountLinked', { user: publicUser, provider: provider.name, accountId: profile.accountId })
      options.events.emit('login', { user: publicUser, method: 'provider', provider: provider.name })
      await options.onOAuthLogin?.(publicUser, { provider: provider.name, accountId: profile.accountId, created: false, linked: true })
      return existing
    }

    let user: StoredUser
    try {
      user = await store.createUser({ email, hashedPassword: null, isVerified: verifiedBy(provider, profile), fields: options.newUserFields() })
    } catch (err) {
      if (err instanceof EmailAlreadyExistsError && attempt === 0) return login(provider, profile, token, 1)
      if (err instanceof EmailAlreadyExistsError) throw taken(provider)
      throw err
    }
    try {
      await store.createOAuthAccount(await newAccount(provider, user.id, profile, token))
    } catch (err) {
      // The user first, then the account: should the second write fail, undo the first (and
      // should the store be gone for that too, the next login finishes the user: halfMade).
      await store.deleteUser(user.id)
      if (err instanceof OAuthAccountExistsError && attempt === 0) return login(provider, profile, token, 1)
      throw err
    }
    return created(provider, user, profile)
  }

  const verifiedBy = (provider: LinkingProvider, profile: UpstreamProfile) => provider.isVerifiedByDefault && profile.emailVerified

  /** A user just made for an account elsewhere (a provider's, an external issuer's subject), and linked to it. */
  function announceCreated (user: StoredUser, provider: string, accountId: string): User {
    const publicUser = toPublicUser(user)
    options.events.emit('userCreated', { user: publicUser, method: 'provider', provider })
    options.events.emit('accountLinked', { user: publicUser, provider, accountId })
    return publicUser
  }

  /** The app's onAfterRegister for such a user. */
  async function afterRegister (user: User): Promise<void> {
    try {
      await options.onAfterRegister?.(user)
    } catch (err) {
      // The user is made and linked: failing the login would not undo that, as for a registration.
      options.reportFailure(err, 'onAfterRegister')
    }
  }

  async function created (provider: LinkingProvider, user: StoredUser, profile: UpstreamProfile): Promise<StoredUser> {
    const publicUser = announceCreated(user, provider.name, profile.accountId)
    options.events.emit('login', { user: publicUser, method: 'provider', provider: provider.name })
    await afterRegister(publicUser)
    await options.onOAuthLogin?.(publicUser, { provider: provider.name, accountId: profile.accountId, created: true, linked: false })
    return user
  }

  /**
   * A user left behind by a provider login whose account write failed and could not be undone
   * (the store went away between the two writes): no password, no linked account, never
   * changed. Nobody can sign in to it, and it would hold its email forever. Users made any
   * other way have a password, or a provider account, or have changed since.
   */
  async function halfMade (user: StoredUser): Promise<boolean> {
    return user.hashedPassword === null && user.updatedAt.getTime() === user.createdAt.getTime() &&
      (await store.listOAuthAccounts(user.id)).length === 0
  }

  /** The login that would have made this user makes it now, as that login would have. */
  async function finishHalfMade (provider: LinkingProvider, user: StoredUser, profile: UpstreamProfile, token: UpstreamToken): Promise<StoredUser> {
    try {
      await store.createOAuthAccount(await newAccount(provider, user.id, profile, token))
    } catch (err) {
      if (err instanceof OAuthAccountExistsError) throw linkedElsewhere(provider)
      throw err
    }
    // Linked first: a change to the user before that would make it look no longer half-made.
    const isVerified = verifiedBy(provider, profile)
    const current = user.isVerified === isVerified ? user : await store.updateUser(user.id, { isVerified }) ?? user
    return created(provider, current, profile)
  }

  return {
    login,
    announceCreated,
    afterRegister,

    /** Links the provider account to a signed-in user (the associate flow). */
    async associate (provider: LinkingProvider, userId: string, profile: UpstreamProfile, token: UpstreamToken): Promise<{ user: StoredUser, account: StoredOAuthAccount }> {
      const user = await store.getUserById(userId)
      if (!user?.isActive) throw new UpstreamLoginError(403, 'Linking refused', 'The user this link was started for is gone or deactivated.')
      const account = await store.getOAuthAccount(provider.name, profile.accountId)
      if (account && account.userId !== userId) throw linkedElsewhere(provider)
      if (account) return { user, account: await refreshTokens(account, profile, token) }
      if (await hasAccountAt(userId, provider)) throw otherAccountLinked(provider)
      const created = await newAccount(provider, userId, profile, token)
      try {
        await store.createOAuthAccount(created)
      } catch (err) {
        throw err instanceof OAuthAccountExistsError ? linkedElsewhere(provider) : err
      }
      options.events.emit('accountLinked', { user: toPublicUser(user), provider: provider.name, accountId: profile.accountId })
      return { user, account: created }
    },

    list (userId: string): Promise<StoredOAuthAccount[]> {
      return store.listOAuthAccounts(userId)
    },

    /** Refused when it would leave the user no way to sign in. */
    async unlink (user: StoredUser, providerName: string): Promise<void> {
      const accounts = await store.listOAuthAccounts(user.id)
      if (!accounts.some((a) => a.provider === providerName)) throw new OAuthAccountNotFoundError(providerName)
      if (user.hashedPassword === null && accounts.length === 1) throw new UnlinkLastLoginMethodError()
      if (!await store.deleteOAuthAccount(user.id, providerName)) throw new OAuthAccountNotFoundError(providerName)
      options.events.emit('accountUnlinked', { user: toPublicUser(user), provider: providerName })
    },

    registerRefresher (providerName: string, refresher: UpstreamRefresher) {
      refreshers.set(providerName, refresher)
    },

    /**
     * The user's upstream access token for this provider, refreshed first when it expired
     * (or expires within a minute) and a refresh token is at hand; null when there is none.
     */
    async upstreamAccessToken (userId: string, providerName: string): Promise<string | null> {
      const account = (await store.listOAuthAccounts(userId)).find((a) => a.provider === providerName)
      if (!account) return null
      const fresh = account.expiresAt === null || account.expiresAt.getTime() - 60_000 > now().getTime()
      if (fresh) return open(account.accessToken)
      // One refresh at a time per account in this process: providers that rotate refresh
      // tokens would refuse the second of two concurrent ones.
      const key = JSON.stringify([account.provider, account.accountId])
      let pending = refreshing.get(key)
      if (!pending) {
        pending = (async () => {
          const refreshToken = await open(account.refreshToken)
          const refresher = refreshers.get(providerName)
          if (refreshToken === null || !refresher) return null
          const token = await refresher(refreshToken)
          await store.updateOAuthAccount(account.provider, account.accountId, await tokenFields(token))
          return token.access_token
        })().finally(() => refreshing.delete(key))
        refreshing.set(key, pending)
      }
      return pending
    }
  }
}

export type OAuthAccountService = ReturnType<typeof createOAuthAccountService>
