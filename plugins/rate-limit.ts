import { setTimeout as sleep } from 'node:timers/promises'
import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { LimitSetting, RateLimitOptions } from '../schemas/options.js'
import { ServiceBusyError, TooManyRequestsError } from '../errors.js'
import { normalizeEmail } from '../stores/types.js'

/** The limits of requests that cost (argon2) or write, each counted per client address. */
export type AddressLimit = 'register' | 'providerStart' | 'authorize' | 'refresh' | 'accountMail'

export interface UsersLimits {
  /** Counts the request against the named per-address limit; throws TooManyRequestsError past it. */
  hit (name: AddressLimit, request: FastifyRequest): Promise<void>
  /**
   * A password sign-in for `account` (the email typed): checks the limits first, then runs
   * `attempt`; a failed attempt (null) counts against the account's budgets.
   */
  signIn<T> (request: FastifyRequest, account: string, attempt: () => Promise<T | null>): Promise<T | null>
  /**
   * Whether a mail may go to `recipient` now. Counted whether or not the address has an
   * account, and never refused out loud: the answer must not tell, and a flood of requests
   * from many addresses must not fill one person's inbox.
   */
  mayMail (request: FastifyRequest, recipient: string): Promise<boolean>
}

const MINUTE = 60
const DEFAULT_REFUSAL_DELAY_MS = 1000
/** What an operator gets without configuring anything. */
export const DEFAULT_LIMITS = {
  // Password attempts from one address, whatever the account: room for an office behind one NAT.
  loginAddress: { max: 100, timeWindow: 5 * MINUTE },
  // Attempts at one account from one address: guessing from one place stops here.
  loginAccountAddress: { max: 10, timeWindow: 5 * MINUTE },
  // Failed attempts at one account from everywhere: past it, only addresses that have not
  // failed at this account may try, so that its owner still gets in while a botnet does not.
  loginAccount: { max: 100, timeWindow: 15 * MINUTE },
  register: { max: 10, timeWindow: 60 * MINUTE },
  providerStart: { max: 30, timeWindow: 10 * MINUTE },
  authorize: { max: 300, timeWindow: 5 * MINUTE },
  refresh: { max: 300, timeWindow: 5 * MINUTE },
  accountMail: { max: 20, timeWindow: 60 * MINUTE },
  mailRecipient: { max: 5, timeWindow: 60 * MINUTE }
} as const satisfies Record<string, LimitSetting>

type LimitName = keyof typeof DEFAULT_LIMITS

const ACCOUNT = Symbol('fastify-users rate-limit account')
interface WithAccount { [ACCOUNT]?: string | null }

interface Counted { count: number, retryAfter: number }

/**
 * Our limits, on @fastify/rate-limit's stores: in memory, or Redis (an ioredis client) so
 * that several instances share them. Registered inside our routes' scope, so that the app's
 * own @fastify/rate-limit (if any) is not disturbed.
 */
export async function setupRateLimit (app: FastifyInstance, options: RateLimitOptions | false): Promise<UsersLimits> {
  if (!app.hasDecorator('createRateLimit')) {
    await app.register(rateLimit, {
      global: false,
      // Counters of an attack should not be evicted by the attack's own churn of keys.
      cache: 50_000,
      nameSpace: 'fastify-users:',
      ...(options !== false && options.redis !== undefined ? { redis: options.redis } : {})
    })
  }

  const setting = (name: LimitName): LimitSetting | false => {
    if (options === false) return false
    const configured = options[name]
    return configured === undefined ? DEFAULT_LIMITS[name] : configured
  }

  /** One counter per limit; `key` says what it counts by. */
  function counter (name: LimitName, key: (request: FastifyRequest) => string) {
    const limit = setting(name)
    if (limit === false) return undefined
    const check = app.createRateLimit({
      max: limit.max,
      timeWindow: limit.timeWindow * 1000,
      keyGenerator: (request) => `${name}:${key(request)}`
    })
    return {
      max: limit.max,
      async count (request: FastifyRequest, increment: boolean): Promise<Counted> {
        let result: Awaited<ReturnType<typeof check>>
        try {
          result = await check(request, { increment })
        } catch (err) {
          // The counters' store (Redis) is out of reach: the limits cannot be kept, so what
          // they guard waits rather than going unguarded.
          request.log.error({ err }, 'fastify-users: rate-limit store unavailable')
          throw new ServiceBusyError(5, 'This service is unavailable for a moment; try again shortly')
        }
        if (result.isAllowed) return { count: 0, retryAfter: 0 }
        return { count: result.max - result.remaining + (result.isExceeded ? 1 : 0), retryAfter: Math.max(1, result.ttlInSeconds) }
      }
    }
  }

  // Declared, so that every request has the slot from the start (one shape for V8).
  app.decorateRequest(ACCOUNT, null)
  const byAddress = (request: FastifyRequest) => request.ip
  const byAccount = (request: FastifyRequest) => (request as WithAccount)[ACCOUNT] ?? ''
  const byAccountAddress = (request: FastifyRequest) => `${byAccount(request)}|${request.ip}`

  const addressLimits = {
    register: counter('register', byAddress),
    providerStart: counter('providerStart', byAddress),
    authorize: counter('authorize', byAddress),
    refresh: counter('refresh', byAddress),
    accountMail: counter('accountMail', byAddress)
  }
  const mailRecipient = counter('mailRecipient', byAccount)
  const loginAddress = counter('loginAddress', byAddress)
  const loginAccountAddress = counter('loginAccountAddress', byAccountAddress)
  // Failures only, read before and counted after: at the account, and at the account from here.
  const accountFailures = counter('loginAccount', byAccount)
  const accountAddressFailures = counter('loginAccount', (r) => `failed:${byAccountAddress(r)}`)
  const accountBudget = accountFailures && accountAddressFailures && { all: accountFailures, here: accountAddressFailures }

  // A refused client is answered late: one that hammers us then waits on each connection
  // instead of looping, and the event loop stays free for everyone else (bench/RESULTS.md).
  const refusalDelay = options === false ? 0 : options.refusalDelay ?? DEFAULT_REFUSAL_DELAY_MS
  async function refuse (retryAfter: number, what: string): Promise<never> {
    if (refusalDelay > 0) await sleep(refusalDelay)
    throw new TooManyRequestsError(retryAfter, `Too many ${what}; try again in ${retryAfter} seconds`)
  }

  return {
    async hit (name, request) {
      const limit = addressLimits[name]
      if (limit === undefined) return
      const { count, retryAfter } = await limit.count(request, true)
      if (count > limit.max) await refuse(retryAfter, 'requests')
    },

    async signIn (request, account, attempt) {
      (request as WithAccount)[ACCOUNT] = normalizeEmail(account)
      for (const limit of [loginAddress, loginAccountAddress]) {
        if (limit === undefined) continue
        const { count, retryAfter } = await limit.count(request, true)
        if (count > limit.max) await refuse(retryAfter, 'sign-in attempts')
      }
      if (accountBudget) {
        const failures = await accountBudget.all.count(request, false)
        if (failures.count >= accountBudget.all.max && (await accountBudget.here.count(request, false)).count > 0) {
          await refuse(failures.retryAfter, 'failed sign-ins for this account')
        }
      }
      const result = await attempt()
      if (result === null && accountBudget) {
        await accountBudget.all.count(request, true)
        await accountBudget.here.count(request, true)
      }
      return result
    },

    async mayMail (request, recipient) {
      if (mailRecipient === undefined) return true
      const keyed = request as WithAccount
      keyed[ACCOUNT] = normalizeEmail(recipient)
      const { count } = await mailRecipient.count(request, true)
      return count <= mailRecipient.max
    }
  }
}
