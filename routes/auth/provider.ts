import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { UsersContext } from '../../plugins/context.js'
import { Type } from '@sinclair/typebox'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { canonicalQuery, parseCarriedQuery, validateAuthorizeRequest } from '../../services/authorize.js'
import { sameSitePath } from '../../services/paths.js'
import type { UpstreamProvider } from '../../services/providers/index.js'
import type { ProviderLogin, UpstreamPurpose } from '../../services/provider-login.js'
import { flowCookies } from './flow-cookies.js'
import { UpstreamLoginError } from '../../errors.js'
import { errorPage, noticePage, type PageLink } from '../../views/pages.js'
import { sendFailurePage, sendPage } from '../pages.js'
import { resumeAuthorizeUrl, signInBrowser } from '../oauth/session.js'

export interface ProviderRoutesOptions {
  provider: UpstreamProvider
  ctx: UsersContext
}

const CallbackQuerySchema = Type.Object({
  code: Type.Optional(Type.String({ maxLength: 4096 })),
  state: Type.Optional(Type.String({ maxLength: 512 })),
  error: Type.Optional(Type.String({ maxLength: 256 })),
  error_description: Type.Optional(Type.String({ maxLength: 2048 })),
  iss: Type.Optional(Type.String({ maxLength: 2048 }))
}, { additionalProperties: true })

// One of the two: the pending authorization request, or (sign-in without a client) where to go back.
const StartQuerySchema = Type.Union([
  Type.Object({ authorize_query: Type.String({ minLength: 1, maxLength: 8192 }) }, { additionalProperties: false }),
  Type.Object({ return_to: Type.String({ minLength: 1, maxLength: 2048 }) }, { additionalProperties: false })
])

/**
 * One upstream provider's routes, registered once per provider under /auth/<name>: login
 * (authorize, callback) and associate (authorize, callback). The flow is a service
 * (services/provider-login.ts); here it meets the browser: the state and the PKCE verifier
 * ride in two cookies of this provider's path, which bind the flow to the browser that began it.
 */
const providerRoutes: FastifyPluginAsyncTypebox<ProviderRoutesOptions> = async (app, { provider, ctx }) => {
  const config = ctx.config
  const site = new URL(config.issuer).host
  // Our pages here post no form anywhere.
  const pageContext = { issuer: config.issuer, formActions: [] }
  const login = ctx.logins.get(provider.name) as ProviderLogin
  const cookies = flowCookies(config, provider.name)

  /**
   * Uses up the state the browser brought back; its cookies go then, and only then, so that a
   * forged answer (a link with another state, opened in this browser) leaves this browser's
   * sign-in alone.
   */
  async function consume (request: FastifyRequest, reply: FastifyReply, purpose: UpstreamPurpose, state: string | undefined) {
    const record = await login.consume(purpose, state, request.cookies[cookies.state])
    const codeVerifier = request.cookies[cookies.verifier]
    cookies.clear(reply)
    return { record, codeVerifier }
  }

  /** Every failure of a browser route ends on a page; one of a login offers the way back. */
  function failurePage (error: FastifyError, request: FastifyRequest, reply: FastifyReply, back?: PageLink) {
    if (error instanceof UpstreamLoginError) {
      request.log.info({ provider: provider.name, status: error.statusCode, reason: error.message }, 'fastify-users: upstream sign-in refused')
      return sendPage(reply, error.statusCode, pageContext, errorPage(site, error.title, error.message, back))
    }
    return sendFailurePage(request, reply, error, pageContext, site, back)
  }
  const pageErrors = (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => failurePage(error, request, reply)

  app.get('/authorize', {
    schema: { hide: true, querystring: StartQuerySchema },
    errorHandler: pageErrors
  }, async (request, reply) => {
    // Each start stores a state for ten minutes: how many one address may leave is bounded.
    await ctx.limits.hit('providerStart', request)
    const query = request.query
    let started
    if ('return_to' in query) {
      const path = sameSitePath(query.return_to, config.issuer)
      if (path === undefined) throw new UpstreamLoginError(400, 'Sign-in failed', 'The page to go back to is not one of this site.')
      started = await login.start('login', { returnTo: path })
    } else {
      const carried = parseCarriedQuery(query.authorize_query)
      // The pending request is checked now, so that a bad one is not carried through the provider.
      validateAuthorizeRequest(config.clients, ctx.scopes, carried)
      started = await login.start('login', { authorizeQuery: canonicalQuery(carried) })
    }
    cookies.set(reply, started)
    return reply.redirect(started.url, 302)
  })

  app.get('/callback', {
    schema: { hide: true, querystring: CallbackQuerySchema },
    errorHandler: pageErrors
  }, async (request, reply) => {
    const { record, codeVerifier } = await consume(request, reply, 'login', request.query.state)
    const pending = record.authorizeQuery ?? ''
    try {
      const { token, profile } = await login.finish(record, request.query, codeVerifier)
      const user = await ctx.oauth.login(provider, profile, token)
      await signInBrowser(ctx, request, reply, user.id)
      // Checked when the flow began; a state is ours alone, and single use.
      if (record.returnTo !== undefined) return reply.redirect(record.returnTo, 302)
      return reply.redirect(resumeAuthorizeUrl(ctx.config, pending), 302)
    } catch (err) {
      return failurePage(err as FastifyError, request, reply, pending ? { href: `${config.paths.authorize}?${pending}`, label: 'Back to sign-in' } : undefined)
    }
  })

  app.get('/associate/callback', {
    schema: { hide: true, querystring: CallbackQuerySchema },
    errorHandler: pageErrors
  }, async (request, reply) => {
    const { record, codeVerifier } = await consume(request, reply, 'associate', request.query.state)
    const { token, profile } = await login.finish(record, request.query, codeVerifier)
    const { user, account } = await ctx.oauth.associate(provider, record.userId as string, profile, token)
    return sendPage(reply, 200, pageContext, noticePage(site, 'Account linked',
      `Your ${provider.label} account${account.accountEmail ? ` (${account.accountEmail})` : ''} is now linked to ${user.email}.`))
  })
}

export default providerRoutes
