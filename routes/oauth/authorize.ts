import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { UsersContext } from '../../plugins/context.js'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { COOKIES } from '../../plugins/cookies.js'
import { AuthorizeQuerySchema, ConsentFormSchema, LoginFormSchema, type AuthorizeQuery } from '../../schemas/authorize.js'
import {
  authorizationResponseUrl,
  canonicalQuery,
  parseCarriedQuery,
  validateAuthorizeRequest,
  type AuthorizeRequest
} from '../../services/authorize.js'
import { OAuthError, type OAuthErrorCode } from '../../errors.js'
import { mac, randomToken, safeEqual } from '../../services/secrets.js'
import type { StoredSession, StoredUser } from '../../stores/types.js'
import { toPublicUser } from '../../services/users.js'
import { consentPage, errorPage, loginPage } from '../../views/pages.js'
import { sendFailurePage, sendPage } from '../pages.js'
import { resumeAuthorizeUrl, signInBrowser } from './session.js'

const BROWSER_COOKIE_TTL = 86400

/**
 * GET /oauth/authorize (RFC 6749 §4.1.1) and the two forms of its pages: login and consent.
 * The forms carry the authorization request and a CSRF token bound to it and to this
 * browser (login) or to the login session (consent).
 */
const authorizeRoutes: FastifyPluginAsyncTypebox<{ ctx: UsersContext }> = async (app, { ctx }) => {
  const config = ctx.config
  const cookies = ctx.cookies
  const site = new URL(config.issuer).host
  const { authorize: authorizePath, login: loginAction, consent: consentAction } = config.paths

  const pageContext = (redirectUri?: string) => ({ issuer: config.issuer, formActions: redirectUri ? [new URL(redirectUri).origin] : [] })

  function csrfToken (purpose: string, binding: string, authorizeQuery: string) {
    return mac(cookies.secrets[0] as Buffer, purpose, binding, authorizeQuery)
  }
  function csrfValid (request: FastifyRequest, purpose: string, binding: string | undefined, authorizeQuery: string, token: string) {
    if (binding === undefined || !cookies.fromOwnOrigin(request)) return false
    return cookies.secrets.some((secret) => safeEqual(mac(secret, purpose, binding, authorizeQuery), token))
  }

  async function currentSession (request: FastifyRequest): Promise<{ sessionId: string, session: StoredSession, user: StoredUser } | null> {
    const sessionId = cookies.read(request, COOKIES.session)
    if (sessionId === undefined) return null
    const session = await ctx.sessions.find(sessionId)
    if (!session) return null
    const user = await ctx.store.getUserById(session.userId)
    return user?.isActive ? { sessionId, session, user } : null
  }

  function browserId (request: FastifyRequest, reply: FastifyReply): string {
    const existing = cookies.read(request, COOKIES.browser)
    if (existing !== undefined) return existing
    const id = randomToken()
    cookies.write(reply, COOKIES.browser, id, BROWSER_COOKIE_TTL)
    return id
  }

  /** To the client's redirect URI when the error may go there (RFC 6749 §4.1.2.1); else on a page. */
  function answerError (reply: FastifyReply, err: OAuthError, status: 302 | 303) {
    if (!err.redirect) return showUntrusted(reply, err)
    const { uri, state } = err.redirect
    return reply.redirect(authorizationResponseUrl(uri, config.issuer, { error: err.error, error_description: err.message, state }), status)
  }

  /** A trusted request's error, for its redirect URI. */
  const toClient = (req: AuthorizeRequest, error: OAuthErrorCode, description: string) =>
    new OAuthError(error, description, { uri: req.redirectUri, state: req.state })

  function showUntrusted (reply: FastifyReply, err: OAuthError) {
    return sendPage(reply, 400, pageContext(), errorPage(site, 'This sign-in request cannot be completed', err.message))
  }

  function showLogin (request: FastifyRequest, reply: FastifyReply, req: AuthorizeRequest, authorizeQuery: string, status = 200, error?: string, email?: string) {
    const csrf = csrfToken('login', browserId(request, reply), authorizeQuery)
    return sendPage(reply, status, pageContext(req.redirectUri), loginPage(site, {
      action: loginAction,
      clientName: req.client.name,
      authorizeQuery,
      csrfToken: csrf,
      email: email ?? (typeof (request.query as AuthorizeQuery | undefined)?.login_hint === 'string' ? (request.query as AuthorizeQuery).login_hint : undefined),
      error,
      providers: ctx.loginProviders(authorizeQuery)
    }))
  }

  async function sendCode (reply: FastifyReply, req: AuthorizeRequest, current: { session: StoredSession, user: StoredUser }, scopes: string[], status: 302 | 303) {
    const code = await ctx.grants.issueCode({
      client: req.client,
      user: current.user,
      scopes,
      redirectUri: req.redirectUriParam,
      codeChallenge: req.codeChallenge,
      nonce: req.nonce,
      authTime: current.session.createdAt,
      sessionId: current.session.idHash
    })
    return reply.redirect(authorizationResponseUrl(req.redirectUri, config.issuer, { code, state: req.state }), status)
  }

  /**
   * Errors of a trusted request go back to its redirect URI; all others (bad form bodies
   * included) end on a page, never on a JSON error or a redirect.
   */
  function pageErrors (error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
    if (error instanceof OAuthError) {
      return answerError(reply, error, request.method === 'GET' ? 302 : 303)
    }
    return sendFailurePage(request, reply, error, pageContext(), site)
  }

  app.get('/authorize', {
    schema: {
      tags: ['oauth'],
      summary: 'Authorization endpoint (RFC 6749 §4.1.1, PKCE S256)',
      description: 'Browsers only: answers with the login or consent page, or redirects to the client with a code.',
      querystring: AuthorizeQuerySchema,
      produces: ['text/html']
    },
    errorHandler: pageErrors
  }, async (request, reply) => {
    const authorizeQuery = canonicalQuery(request.query)
    const req = validateAuthorizeRequest(config.clients, ctx.scopes, request.query)
    const session = req.prompt.has('login') ? null : await currentSession(request)
    // OIDC Core §3.1.2.1 max_age: an older sign-in does not count; the login page asks again.
    const current = session && req.maxAge !== undefined && Date.now() - session.session.createdAt.getTime() > req.maxAge * 1000 ? null : session
    if (!current) {
      // Asked by anyone: each answer signs a CSRF token and may set a cookie.
      await ctx.limits.hit('authorize', request)
      if (req.prompt.has('none')) return answerError(reply, toClient(req, 'login_required', 'The user is not signed in'), 302)
      return showLogin(request, reply, req, authorizeQuery)
    }
    const scopes = await ctx.scopes.forAuthorization(req.client, toPublicUser(current.user), req.scopes)
    if (!req.client.firstParty || req.prompt.has('consent')) {
      if (req.prompt.has('none')) return answerError(reply, toClient(req, 'consent_required', 'The user has not approved this client'), 302)
      return sendPage(reply, 200, pageContext(req.redirectUri), consentPage(site, {
        action: consentAction,
        clientName: req.client.name,
        userEmail: current.user.email,
        scopes: scopes.map((name) => ({ name, description: config.scopes[name] ?? '' })),
        authorizeQuery,
        csrfToken: csrfToken('consent', current.session.idHash, authorizeQuery)
      }))
    }
    return sendCode(reply, req, current, scopes, 302)
  })

  app.post('/login', {
    schema: { hide: true, body: LoginFormSchema },
    errorHandler: pageErrors
  }, async (request, reply) => {
    const { authorize_query: authorizeQuery, csrf_token: csrf, email, password } = request.body
    const req = validateAuthorizeRequest(config.clients, ctx.scopes, parseCarriedQuery(authorizeQuery))
    if (!csrfValid(request, 'login', cookies.read(request, COOKIES.browser), authorizeQuery, csrf)) {
      return sendPage(reply, 403, pageContext(), errorPage(site, 'Sign-in form expired',
        'This sign-in form has expired or was not sent from this browser. Go back to the application and start again.'))
    }
    const user = await ctx.limits.signIn(request, email, () => ctx.manager.authenticate(email, password))
    if (!user) return showLogin(request, reply, req, authorizeQuery, 401, 'Wrong email or password.', email)

    await signInBrowser(ctx, request, reply, user.id)
    return reply.redirect(resumeAuthorizeUrl(ctx.config, authorizeQuery), 303)
  })

  app.post('/consent', {
    schema: { hide: true, body: ConsentFormSchema },
    errorHandler: pageErrors
  }, async (request, reply) => {
    const { authorize_query: authorizeQuery, csrf_token: csrf, decision } = request.body
    const carried = parseCarriedQuery(authorizeQuery)
    const req = validateAuthorizeRequest(config.clients, ctx.scopes, carried)
    const current = await currentSession(request)
    // Re-encoded from the parsed form: the raw field must never reach a Location header.
    if (!current) return reply.redirect(`${authorizePath}?${canonicalQuery(carried)}`, 303)
    if (!csrfValid(request, 'consent', current.session.idHash, authorizeQuery, csrf)) {
      return sendPage(reply, 403, pageContext(), errorPage(site, 'Consent form expired',
        'This form has expired or was not sent from this browser. Go back to the application and start again.'))
    }
    if (decision === 'deny') return answerError(reply, toClient(req, 'access_denied', 'The user denied the request'), 303)
    return sendCode(reply, req, current, await ctx.scopes.forAuthorization(req.client, toPublicUser(current.user), req.scopes), 303)
  })
}

export default authorizeRoutes
