import formbody from '@fastify/formbody'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { Ajv } from 'ajv'
import addFormatsModule from 'ajv-formats'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import type { UsersContext } from '../../plugins/context.js'
import {
  RegisterInvalidPasswordError,
  ResetPasswordBadTokenError,
  ResetPasswordInvalidPasswordError,
  UserAlreadyExistsError,
  VerifyUserAlreadyVerifiedError,
  VerifyUserBadTokenError
} from '../../errors.js'
import { EmailSchema } from '../../schemas/user.js'
import { canonicalQuery, parseCarriedQuery, validateAuthorizeRequest, type AuthorizeRequest } from '../../services/authorize.js'
import {
  errorPage, forgotPasswordPage, noticePage, registerPage, resetPasswordPage, verifyEmailPage,
  type PageContext, type PageLink
} from '../../views/pages.js'
import { pageCsrf } from '../csrf.js'
import { sendFailurePage, sendPage } from '../pages.js'
import { resumeAuthorizeUrl, signInBrowser } from '../oauth/session.js'
import { registerPageEnabled } from './links.js'

const FORM = 'application/x-www-form-urlencoded'

const carriedField = Type.String({ maxLength: 8192 })
const csrfField = Type.String({ maxLength: 256 })
const emailField = Type.String({ maxLength: 320 })
// The password policy is the service's to check, so that the page can say what it refused.
const passwordField = Type.String({ maxLength: 1024 })
const tokenField = Type.String({ minLength: 1, maxLength: 1024 })

const RegisterQuerySchema = Type.Object({ authorize_query: Type.String({ minLength: 1, maxLength: 8192 }) }, { additionalProperties: false })
const ForgotQuerySchema = Type.Object({ authorize_query: Type.Optional(Type.String({ maxLength: 8192 })) }, { additionalProperties: false })
// Open: whatever a mail client or a link checker adds to a mailed link is no reason to refuse it.
const LinkQuerySchema = Type.Object({ token: Type.Optional(Type.String({ maxLength: 1024 })) }, { additionalProperties: true })
const RegisterFormSchema = Type.Object({ authorize_query: carriedField, csrf_token: csrfField, email: emailField, password: passwordField }, { additionalProperties: false })
const ForgotFormSchema = Type.Object({ authorize_query: carriedField, csrf_token: csrfField, email: emailField }, { additionalProperties: false })
const ResetFormSchema = Type.Object({ token: tokenField, csrf_token: csrfField, password: passwordField }, { additionalProperties: false })
const VerifyFormSchema = Type.Object({ token: tokenField, csrf_token: csrfField }, { additionalProperties: false })

const INVALID_EMAIL = 'Enter a valid email address.'

// ajv-formats is CommonJS; under NodeNext its default import is the module object.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default
/**
 * The API's check of an address (ajv-formats' email), made here rather than by the body's
 * schema: a wrong address is the form's to show, with what was typed, not a bare 400.
 */
const isEmail = addFormats(new Ajv()).compile(EmailSchema)

/** How long a link lives, in words. */
function lifetime (seconds: number): string {
  const minutes = Math.max(1, Math.round(seconds / 60))
  if (minutes === 1) return 'a minute'
  if (minutes < 120) return `${minutes} minutes`
  return `${Math.round(minutes / 60)} hours`
}

/**
 * The account pages, for people in a browser (a client's sign-in popup, a mailed link): create
 * an account and go on with the pending authorization request, ask for a password reset link,
 * set a new password, verify an email address. The JSON API under /auth does the same for
 * programs; both call the same user service. Pages are no API operations: hidden from the
 * document. Every GET only shows; every form is CSRF-protected (routes/csrf.ts) and acts on POST.
 */
const accountRoutes: FastifyPluginAsyncTypebox<{ ctx: UsersContext }> = async (app, { ctx }) => {
  const { config } = ctx
  const { paths, passwordPolicy } = config
  const site = new URL(config.issuer).host
  const csrf = pageCsrf(ctx.cookies)
  if (!app.hasContentTypeParser(FORM)) await app.register(formbody)
  // Forms only: a page's answer is HTML, whatever a program would send.
  app.removeContentTypeParser('application/json')

  // Our forms post to ourselves; a sign-up's redirects lead on to the client's redirect URI.
  const plain: PageContext = { issuer: config.issuer, formActions: [] }
  const withLink: PageContext = { ...plain, secretUrl: true }
  const toClient = (req: AuthorizeRequest): PageContext => ({ ...plain, formActions: req.redirectUri ? [new URL(req.redirectUri).origin] : [] })

  const pageErrors = (context: PageContext) => (error: FastifyError, request: FastifyRequest, reply: FastifyReply) =>
    sendFailurePage(request, reply, error, context, site)

  const expired = (reply: FastifyReply, context: PageContext, back?: PageLink) => sendPage(reply, 403, context, errorPage(site, 'This form has expired',
    'This form has expired or was not sent from this browser. Open the page again and retry.', back))

  /** The pending authorization request a form carries, checked as the login form's is. */
  function pending (carried: string) {
    const query = parseCarriedQuery(carried)
    const req = validateAuthorizeRequest(config.clients, ctx.scopes, query)
    const authorizeQuery = canonicalQuery(query)
    return { req, authorizeQuery, signIn: `${paths.authorize}?${authorizeQuery}` }
  }

  if (registerPageEnabled(config)) {
    const showRegister = (request: FastifyRequest, reply: FastifyReply, p: ReturnType<typeof pending>, status = 200, error?: string, email?: string) =>
      sendPage(reply, status, toClient(p.req), registerPage(site, {
        action: paths.registerPage,
        clientName: p.req.client.name,
        authorizeQuery: p.authorizeQuery,
        csrfToken: csrf.token('register', csrf.browserId(request, reply), p.authorizeQuery),
        passwordMinLength: passwordPolicy.minLength,
        signIn: p.signIn,
        email,
        error
      }))

    app.get('/register', {
      schema: { hide: true, querystring: RegisterQuerySchema },
      errorHandler: pageErrors(plain)
    }, async (request, reply) => showRegister(request, reply, pending(request.query.authorize_query)))

    app.post('/register', {
      schema: { hide: true, body: RegisterFormSchema },
      errorHandler: pageErrors(plain)
    }, async (request, reply) => {
      const { authorize_query: carried, csrf_token: token, email, password } = request.body
      const p = pending(carried)
      if (!csrf.validForBrowser(request, 'register', carried, token)) return expired(reply, plain, { href: p.signIn, label: 'Back to sign in' })
      await ctx.limits.hit('register', request)
      if (!isEmail(email)) return showRegister(request, reply, p, 400, INVALID_EMAIL, email)
      let userId: string
      try {
        userId = (await ctx.manager.register({ email, password })).id
      } catch (err) {
        if (err instanceof UserAlreadyExistsError) {
          return showRegister(request, reply, p, 400, 'An account with this email address exists already: sign in, or reset its password if you forgot it.', email)
        }
        if (err instanceof RegisterInvalidPasswordError) return showRegister(request, reply, p, 400, err.message, email)
        throw err
      }
      // Signed in as the login form signs in, so that the client gets its code without a second form.
      await signInBrowser(ctx, request, reply, userId)
      return reply.redirect(resumeAuthorizeUrl(config, p.authorizeQuery), 303)
    })
  }

  /** The forgot-password form, with the way back to the pending request's login page when there is one. */
  function forgotContext (carried: string | undefined) {
    if (carried === undefined || carried === '') return { authorizeQuery: '', back: undefined }
    const { authorizeQuery, signIn } = pending(carried)
    return { authorizeQuery, back: { href: signIn, label: 'Back to sign in' } }
  }
  function showForgot (request: FastifyRequest, reply: FastifyReply, f: ReturnType<typeof forgotContext>, status = 200, error?: string, email?: string) {
    return sendPage(reply, status, plain, forgotPasswordPage(site, {
      action: paths.forgotPasswordPage,
      authorizeQuery: f.authorizeQuery,
      csrfToken: csrf.token('forgot-password', csrf.browserId(request, reply), f.authorizeQuery),
      signIn: f.back?.href,
      email,
      error
    }))
  }

  app.get('/forgot-password', {
    schema: { hide: true, querystring: ForgotQuerySchema },
    errorHandler: pageErrors(plain)
  }, async (request, reply) => showForgot(request, reply, forgotContext(request.query.authorize_query)))

  app.post('/forgot-password', {
    schema: { hide: true, body: ForgotFormSchema },
    errorHandler: pageErrors(plain)
  }, async (request, reply) => {
    const { authorize_query: carried, csrf_token: token, email } = request.body
    const f = forgotContext(carried)
    if (!csrf.validForBrowser(request, 'forgot-password', carried, token)) return expired(reply, plain, f.back)
    await ctx.limits.hit('accountMail', request)
    if (!isEmail(email)) return showForgot(request, reply, f, 400, INVALID_EMAIL, email)
    if (await ctx.limits.mayMail(request, email)) await ctx.manager.forgotPassword(email)
    // One page whatever the case: it must not tell whether the address has an account.
    return sendPage(reply, 200, plain, noticePage(site, 'Check your email',
      `If an account exists for ${email}, we sent it a link to set a new password. The link works for ${lifetime(config.resetPasswordTokenTtl)}.`, f.back))
  })

  const askAgain = { href: paths.forgotPasswordPage, label: 'Ask for a new link' }
  const badResetLink = (reply: FastifyReply) => sendPage(reply, 400, withLink, errorPage(site, 'This link cannot be used',
    'This password reset link is invalid, used or expired: ask for a new one.', askAgain))
  const badVerifyLink = (reply: FastifyReply) => sendPage(reply, 400, withLink, errorPage(site, 'This link cannot be used',
    'This verification link is invalid or has expired: ask the application for a new one.'))

  function showReset (request: FastifyRequest, reply: FastifyReply, token: string, status = 200, error?: string) {
    return sendPage(reply, status, withLink, resetPasswordPage(site, {
      action: paths.resetPasswordPage,
      token,
      csrfToken: csrf.token('reset-password', csrf.browserId(request, reply), token),
      passwordMinLength: passwordPolicy.minLength,
      error
    }))
  }

  app.get('/reset-password', {
    schema: { hide: true, querystring: LinkQuerySchema },
    errorHandler: pageErrors(withLink)
  }, async (request, reply) => {
    const { token } = request.query
    // Not checked here: the form says what is wrong with the link once it is used.
    return token ? showReset(request, reply, token) : badResetLink(reply)
  })

  app.post('/reset-password', {
    schema: { hide: true, body: ResetFormSchema },
    errorHandler: pageErrors(withLink)
  }, async (request, reply) => {
    const { token, csrf_token: csrfToken, password } = request.body
    if (!csrf.validForBrowser(request, 'reset-password', token, csrfToken)) return expired(reply, withLink)
    try {
      await ctx.manager.resetPassword(token, password)
    } catch (err) {
      if (err instanceof ResetPasswordBadTokenError) return badResetLink(reply)
      if (err instanceof ResetPasswordInvalidPasswordError) return showReset(request, reply, token, 400, err.message)
      throw err
    }
    // Every session of the user ended with the reset, this browser's too: the next client asks again.
    return sendPage(reply, 200, withLink, noticePage(site, 'Password set', 'Your password is set: sign in with it.'))
  })

  app.get('/verify', {
    schema: { hide: true, querystring: LinkQuerySchema },
    errorHandler: pageErrors(withLink)
  }, async (request, reply) => {
    const { token } = request.query
    // A GET never verifies: mail scanners open links, and the address is verified by whoever presses the button.
    if (!token) return badVerifyLink(reply)
    return sendPage(reply, 200, withLink, verifyEmailPage(site, {
      action: paths.verifyPage,
      token,
      csrfToken: csrf.token('verify', csrf.browserId(request, reply), token)
    }))
  })

  app.post('/verify', {
    schema: { hide: true, body: VerifyFormSchema },
    errorHandler: pageErrors(withLink)
  }, async (request, reply) => {
    const { token, csrf_token: csrfToken } = request.body
    if (!csrf.validForBrowser(request, 'verify', token, csrfToken)) return expired(reply, withLink)
    try {
      const user = await ctx.manager.verify(token)
      return sendPage(reply, 200, withLink, noticePage(site, 'Email address verified', `Your email address ${user.email} is verified.`))
    } catch (err) {
      if (err instanceof VerifyUserAlreadyVerifiedError) return sendPage(reply, 200, withLink, noticePage(site, 'Email address verified', 'Your email address is verified already.'))
      if (err instanceof VerifyUserBadTokenError) return badVerifyLink(reply)
      throw err
    }
  })
}

export default accountRoutes
