import cookie, { fastifyCookie, signerFactory } from '@fastify/cookie'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { TokenService } from '../services/tokens.js'
import type { UsersConfig } from './config.js'

export interface UsersCookies {
  /** The value of one of our signed cookies, or undefined when absent or forged. */
  read (request: FastifyRequest, name: string): string | undefined
  /** Sets one of our cookies: signed, HttpOnly, SameSite=Lax, Secure on https issuers. */
  write (reply: FastifyReply, name: string, value: string, maxAgeSeconds: number): void
  clear (reply: FastifyReply, name: string): void
  /** Secrets of our own (CSRF tokens), first one current. */
  secrets: Buffer[]
  /** @fastify/cookie for our routes, unless the app has it: the app's other routes pay nothing for it. */
  registerIn (scope: FastifyInstance): Promise<void>
  /**
   * Whether an unsafe request, which our cookies would authenticate, may come from where it
   * says it comes from: our own origin. Browsers say so with Sec-Fetch-Site, or else Origin;
   * a request with neither is no browser's, and cookies alone never make it dangerous.
   */
  fromOwnOrigin (request: FastifyRequest): boolean
}

/** Cookie names of ours; one place, so the app can see what we set. */
export const COOKIES = {
  session: 'fastify_users_session',
  browser: 'fastify_users_browser'
} as const

/**
 * Our cookies are signed with our own secrets, whatever @fastify/cookie's secret is:
 * the app may have registered it already, with its own or none.
 */
export function setupCookies (config: UsersConfig, tokens: TokenService): UsersCookies {
  const issuerOrigin = new URL(config.issuer).origin
  const secrets = config.cookieSecret?.map((s) => Buffer.from(s)) ?? tokens.deriveSecrets('cookies')
  const signer = signerFactory(secrets)
  const path = config.prefix || '/'

  return {
    read (request, name) {
      // The app's routes (a guard taking the session) may have no @fastify/cookie, or one
      // registered with hook: false: the header is read here then.
      const jar = (request.cookies as FastifyRequest['cookies'] | null | undefined) ?? (request.headers.cookie === undefined ? {} : fastifyCookie.parse(request.headers.cookie))
      const raw = jar[name]
      if (raw === undefined) return undefined
      const result = signer.unsign(raw)
      return result.valid && result.value !== null ? result.value : undefined
    },
    write (reply, name, value, maxAgeSeconds) {
      reply.setCookie(name, signer.sign(value), { path, httpOnly: true, sameSite: 'lax', secure: config.secureCookies, maxAge: maxAgeSeconds })
    },
    clear (reply, name) {
      reply.clearCookie(name, { path, httpOnly: true, sameSite: 'lax', secure: config.secureCookies })
    },
    secrets,
    async registerIn (scope) {
      if (!scope.hasRequestDecorator('cookies')) await scope.register(cookie)
    },
    fromOwnOrigin (request) {
      // SameSite=Lax lets a page on another port of the same host (same site) send our
      // cookies with a POST; only the origin tells it apart.
      const site = request.headers['sec-fetch-site']
      if (site !== undefined) return site === 'same-origin' || site === 'none'
      const origin = request.headers.origin
      // "null" (sandboxed frames, some redirects) is never ours.
      if (origin === undefined) return true
      return origin === issuerOrigin || origin === `${request.protocol}://${request.host}`
    }
  }
}
