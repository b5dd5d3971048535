import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { UsersContext } from '../../plugins/context.js'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { COOKIES } from '../../plugins/cookies.js'
import { AuthorizeQuerySchema, AuthorizeRequestSchema, ConsentFormSchema, LoginFormSchema, type AuthorizeQuery } from '../../schemas/authorize.js'
import { validateWith } from '../../plugins/validation.js'
import { RETRY_AFTER } from '../../schemas/problem.js'
import { canonicalQuery, parseCarriedQuery, validateAuthorizeRequest, type AuthorizeRequest } from '../../services/authorize.js'
import { OAuthError } from '../../errors.js'
import { consentPage, errorPage, loginPage } from '../../views/pages.js'
import { sendFailurePage, sendPage } from '../pages.js'
import { pageCsrf } from '../csrf.js'
import { accountLinks } from '../account/links.js'
import { resumeAuthorizeUrl, signInBrowser } from './session.js'

/** An HTML answer, for the OpenAPI document (pages are strings, sent as they are). */
const htmlPage = (description: string, headers?: object) => ({ description, ...(headers && { headers }), content: { 'text/html': { schema: { type: 'string' } } } })

/**
 * GET /oauth/authorize (RFC 6749 §4.1.1) and the two forms of its pages: login and consent.
 * What a request gets is the authorization service's to decide (services/authorization.ts);
 * here are the browser's side of it: the session cookie, the pages, and their forms, which
 * carry the authorization request and a CSRF token bound to it and to this browser (login)
 * or to the login session (consent).
 */
const authorizeRoutes: FastifyPluginAsyncTypebox<{ ctx: UsersContext }> = async (app, { ctx }) => {
  const { config, cookies, authorization } = ctx
  const site = new URL(config.issuer).host
  const { authorize: authorizePath, login: loginAction, consent: consentAction } = config.paths

  const pageContext = (redirectUri?: string) => ({ issuer: config.issuer, formActions: redirectUri ? [new URL(redirectUri).origin] : [] })

  const csrf = pageCsrf(cookies)
  const links = accountLinks(config)

  const signedIn = (request: FastifyRequest) => authorization.signedIn(cookies.read(request, COOKIES.session))

  /** To the client's redirect URI when the error may go there (RFC 6749 §4.1.2.1); else on a page. */
  function answerError (request: FastifyRequest, reply: FastifyReply, err: OAuthError, status: 302 | 303) {
    const location = authorization.errorRedirect(err)
    if (location !== undefined) return reply.redirect(location, status)
    return sendFailurePage(request, reply, err, pageContext(), site)
  }

  function showLogin (request: FastifyRequest, reply: FastifyReply, req: AuthorizeRequest, authorizeQuery: string, status = 200, error?: string, email?: string) {
    return sendPage(reply, status, pageContext(req.redirectUri), loginPage(site, {
      action: loginAction,
      clientName: req.client.name,
      authorizeQuery,
      csrfToken: csrf.token('login', csrf.browserId(request, reply), authorizeQuery),
      email: email ?? req.loginHint,
      error,
      providers: ctx.loginProviders(authorizeQuery),
      links: links(authorizeQuery)
    }))
  }

  /**
   * Errors of a trusted request go back to its redirect URI; all others (bad form bodies
   * included) end on a page, never on a JSON error or a redirect.
   */
  function pageErrors (error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
    if (error instanceof OAuthError) return answerError(request, reply, error, request.method === 'GET' ? 302 : 303)
    return sendFailurePage(request, reply, error, pageContext(), site)
  }

  app.get('/authorize', {
    schema: {
      tags: ['oauth'],
      operationId: 'authorize',
      security: [],
      summary: 'Authorization endpoint (RFC 6749 §4.1.1, PKCE S256)',
      description: 'Browsers only: answers with the login or consent page, or redirects to the client with a code. ' +
        'A wrong request is answered at the redirect URI (error, error_description) once the client and redirect URI are known to be right, else on a page.',
      querystring: AuthorizeRequestSchema,
      response: {
        200: htmlPage('The login page, or the consent page of a signed-in user'),
        302: {
          type: 'null',
          description: 'To the client\'s redirect URI with code, state and iss, or with error, error_description, state and iss (RFC 6749 §4.1.2, RFC 9207)',
          headers: { Location: { type: 'string', format: 'uri', description: 'The client\'s redirect URI with the answer in its query' } }
        },
        400: htmlPage('A request whose client or redirect URI cannot be trusted: shown, never redirected'),
        429: htmlPage('Too many requests from this address', RETRY_AFTER),
        503: htmlPage('The user store is out of reach for a moment', RETRY_AFTER),
        default: htmlPage('Unexpected failure (500)')
      }
    },
    // Validated leniently: which parameter is wrong is the authorization request's to say (see the schema).
    validatorCompiler: validateWith(AuthorizeQuerySchema, 'querystring'),
    errorHandler: pageErrors
  }, async (request, reply) => {
    const query = request.query as AuthorizeQuery
    const authorizeQuery = canonicalQuery(query)
    const req = validateAuthorizeRequest(config.clients, ctx.scopes, query)
    const session = await signedIn(request)
    // Asked by anyone: each answer without a usable session signs a CSRF token and may set a cookie.
    const decision = await authorization.decide(req, session).catch(async (err: unknown) => {
      if (err instanceof OAuthError && err.error === 'login_required') await ctx.limits.hit('authorize', request)
      throw err
    })
    switch (decision.next) {
      case 'login':
        await ctx.limits.hit('authorize', request)
        return showLogin(request, reply, req, authorizeQuery)
      case 'consent':
        return sendPage(reply, 200, pageContext(req.redirectUri), consentPage(site, {
          action: consentAction,
          clientName: req.client.name,
          userEmail: decision.signedIn.user.email,
          scopes: decision.scopes.map((name) => ({ name, description: config.scopes[name] ?? '' })),
          authorizeQuery,
          csrfToken: csrf.token('consent', decision.signedIn.session.idHash, authorizeQuery)
        }))
      case 'code':
        return reply.redirect(await authorization.codeRedirect(req, decision.signedIn, decision.scopes), 302)
    }
  })

  app.post('/login', {
    schema: { hide: true, body: LoginFormSchema },
    errorHandler: pageErrors
  }, async (request, reply) => {
    const { authorize_query: authorizeQuery, csrf_token: csrfField, email, password } = request.body
    const req = validateAuthorizeRequest(config.clients, ctx.scopes, parseCarriedQuery(authorizeQuery))
    if (!csrf.validForBrowser(request, 'login', authorizeQuery, csrfField)) {
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
    const { authorize_query: authorizeQuery, csrf_token: csrfField, decision } = request.body
    const carried = parseCarriedQuery(authorizeQuery)
    const req = validateAuthorizeRequest(config.clients, ctx.scopes, carried)
    const current = await signedIn(request)
    // Re-encoded from the parsed form: the raw field must never reach a Location header.
    if (!current) return reply.redirect(`${authorizePath}?${canonicalQuery(carried)}`, 303)
    if (!csrf.valid(request, 'consent', current.session.idHash, authorizeQuery, csrfField)) {
      return sendPage(reply, 403, pageContext(), errorPage(site, 'Consent form expired',
        'This form has expired or was not sent from this browser. Go back to the application and start again.'))
    }
    if (decision === 'deny') return answerError(request, reply, authorization.toClient(req, 'access_denied', 'The user denied the request'), 303)
    return reply.redirect(await authorization.approved(req, current), 303)
  })
}

export default authorizeRoutes
