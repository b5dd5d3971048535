import type { FastifyReply, FastifyRequest } from 'fastify'
import { COOKIES, type UsersCookies } from '../plugins/cookies.js'
import { mac, randomToken, safeEqual } from '../services/secrets.js'

const BROWSER_COOKIE_TTL = 86400

/** What a form is for: a token made for one is worth nothing on another. */
export type CsrfPurpose = 'login' | 'session-login' | 'consent' | 'register' | 'forgot-password' | 'reset-password' | 'verify'

export interface PageCsrf {
  /** The browser cookie's id, set now when the browser has none: what login and account forms are bound to. */
  browserId (request: FastifyRequest, reply: FastifyReply): string
  /**
   * The token a form carries: a MAC, under our cookie secret, of its purpose, of who may send
   * it (`binding`: the browser id, or the login session for consent) and of what it acts on
   * (`subject`: the pending authorization request, or a mailed link's token). Nothing is stored.
   */
  token (purpose: CsrfPurpose, binding: string, subject: string): string
  /**
   * Whether a posted form may act: its token was made for this purpose, binding and subject
   * (under any of our secrets, so that tokens survive a rotation), and the browser says it was
   * sent from our origin. A page elsewhere on the same site gets our SameSite=Lax cookies
   * along; only the origin tells it apart.
   */
  valid (request: FastifyRequest, purpose: CsrfPurpose, binding: string | undefined, subject: string, token: string): boolean
  /** valid() for a form bound to the browser cookie. */
  validForBrowser (request: FastifyRequest, purpose: CsrfPurpose, subject: string, token: string): boolean
}

/** The CSRF defence of every form on our pages (login, consent, account pages). */
export function pageCsrf (cookies: UsersCookies): PageCsrf {
  function valid (request: FastifyRequest, purpose: CsrfPurpose, binding: string | undefined, subject: string, token: string) {
    if (binding === undefined || !cookies.fromOwnOrigin(request)) return false
    return cookies.secrets.some((secret) => safeEqual(mac(secret, purpose, binding, subject), token))
  }
  return {
    browserId (request, reply) {
      const existing = cookies.read(request, COOKIES.browser)
      if (existing !== undefined) return existing
      const id = randomToken()
      cookies.write(reply, COOKIES.browser, id, BROWSER_COOKIE_TTL)
      return id
    },
    token: (purpose, binding, subject) => mac(cookies.secrets[0] as Buffer, purpose, binding, subject),
    valid,
    validForBrowser: (request, purpose, subject, token) => valid(request, purpose, cookies.read(request, COOKIES.browser), subject, token)
  }
}
