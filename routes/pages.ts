import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { retryLater } from '../plugins/errors.js'
import { OAuthError, StoreUnavailableError, TooManyRequestsError } from '../errors.js'
import { errorPage, pageHeaders, type PageContext, type PageLink } from '../views/pages.js'
import { RedirectUriMismatchError } from '../services/authorize.js'
import { isLoopbackHostname } from '../plugins/config.js'

/** Sends one of our HTML pages (views/pages.ts) with its headers. */
export function sendPage (reply: FastifyReply, status: number, context: PageContext, html: string) {
  return reply.code(status).headers(pageHeaders(context)).send(html)
}

/**
 * Any other error of a page route: an OAuth request that cannot be trusted (shown, never
 * redirected), a 4xx (a malformed form or query) as such, anything else as our fault, logged
 * and never shown.
 */
export function sendFailurePage (request: FastifyRequest, reply: FastifyReply, error: FastifyError | OAuthError, context: PageContext, site: string, back?: PageLink) {
  if (error instanceof OAuthError) {
    // A client's registered redirect URIs are shown to a developer on a local server, where
    // a mismatch (127.0.0.1 for localhost, say) is a typo to fix; never to the public.
    const mismatch = error instanceof RedirectUriMismatchError && isLoopbackHostname(new URL(context.issuer).hostname) ? error.mismatch : undefined
    return sendPage(reply, 400, context, errorPage(site, 'This sign-in request cannot be completed', error.message, undefined, mismatch))
  }
  const later = retryLater(error)
  if (later) {
    reply.header('retry-after', String(later.retryAfter))
    if (later instanceof TooManyRequestsError) {
      const minutes = Math.ceil(later.retryAfter / 60)
      return sendPage(reply, 429, context, errorPage(site, 'Too many attempts',
        `Too many attempts from here. Wait ${minutes === 1 ? 'a minute' : `${minutes} minutes`} and try again.`, back))
    }
    // An outage of the store is worth a line in the log; being busy is not.
    if (later instanceof StoreUnavailableError) request.log.error({ err: later }, 'fastify-users: sign-in page failed')
    return sendPage(reply, 503, context, errorPage(site, 'Unavailable for a moment', 'We cannot sign you in right now. Try again in a moment.', back))
  }
  const status = typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500
  if (status >= 500) request.log.error({ err: error }, 'fastify-users: sign-in page failed')
  const message = status >= 500 ? 'Something went wrong on our side. Please try again.' : 'The request was malformed.'
  return sendPage(reply, status, context, errorPage(site, 'Sign-in failed', message, back))
}
