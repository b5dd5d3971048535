import formbody from '@fastify/formbody'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import type { UsersContext } from '../../plugins/context.js'
import { COOKIES } from '../../plugins/cookies.js'
import { sameSitePath } from '../../services/paths.js'
import { errorPage, loginPage, type PageContext } from '../../views/pages.js'
import { pageCsrf } from '../csrf.js'
import { sendFailurePage, sendPage } from '../pages.js'
import { signInBrowser } from '../oauth/session.js'

const FORM = 'application/x-www-form-urlencoded'

const LoginQuerySchema = Type.Object({ return_to: Type.Optional(Type.String({ maxLength: 2048 })) }, { additionalProperties: false })
const LoginFormSchema = Type.Object({
  return_to: Type.String({ maxLength: 2048 }),
  csrf_token: Type.String({ maxLength: 256 }),
  email: Type.String({ maxLength: 320 }),
  password: Type.String({ maxLength: 1024 })
}, { additionalProperties: false })

/**
 * Sign-in for the app's own pages, without any OAuth client: GET /login?return_to=/path shows
 * our login page (password, and a button per provider); signed in, the browser goes back to
 * that same-site path with our session cookie, which routes with config.auth.session accept.
 */
const sessionRoutes: FastifyPluginAsyncTypebox<{ ctx: UsersContext }> = async (app, { ctx }) => {
  const { config } = ctx
  const site = new URL(config.issuer).host
  const csrf = pageCsrf(ctx.cookies)
  const page: PageContext = { issuer: config.issuer, formActions: [] }
  if (!app.hasContentTypeParser(FORM)) await app.register(formbody)
  app.removeContentTypeParser('application/json')

  /** Where to go back: a path of this site, else its root. */
  const returnTo = (value: string | undefined) => (value === undefined ? undefined : sameSitePath(value, config.issuer)) ?? '/'

  const pageErrors = (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => sendFailurePage(request, reply, error, page, site)

  function showLogin (request: FastifyRequest, reply: FastifyReply, path: string, status = 200, error?: string, email?: string) {
    return sendPage(reply, status, page, loginPage(site, {
      action: config.paths.sessionLogin,
      clientName: site,
      authorizeQuery: path,
      carriedAs: 'return_to',
      csrfToken: csrf.token('session-login', csrf.browserId(request, reply), path),
      ...(email !== undefined && { email }),
      ...(error !== undefined && { error }),
      providers: ctx.loginProviders(path, 'return_to'),
      links: { forgotPassword: config.paths.forgotPasswordPage }
    }))
  }

  app.get('/login', {
    schema: { hide: true, querystring: LoginQuerySchema },
    errorHandler: pageErrors
  }, async (request, reply) => {
    const path = returnTo(request.query.return_to)
    // Signed in already: straight back.
    if (await ctx.authorization.signedIn(ctx.cookies.read(request, COOKIES.session))) return reply.redirect(path, 303)
    return showLogin(request, reply, path)
  })

  app.post('/login', {
    schema: { hide: true, body: LoginFormSchema },
    errorHandler: pageErrors
  }, async (request, reply) => {
    const { return_to: carried, csrf_token: token, email, password } = request.body
    const path = returnTo(carried)
    if (!csrf.validForBrowser(request, 'session-login', carried, token)) {
      return sendPage(reply, 403, page, errorPage(site, 'Sign-in form expired', 'This sign-in form has expired or was not sent from this browser. Open the page again.'))
    }
    const user = await ctx.limits.signIn(request, email, () => ctx.manager.authenticate(email, password))
    if (!user) return showLogin(request, reply, path, 401, 'Wrong email or password.', email)
    await signInBrowser(ctx, request, reply, user.id)
    return reply.redirect(path, 303)
  })
}

export default sessionRoutes
