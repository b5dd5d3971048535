import formbody from '@fastify/formbody'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { UsersContext } from '../../plugins/context.js'
import { Type } from '@sinclair/typebox'
import { deletionResponses, jsonBodyProblems, problemResponse, REQUEST_400, unavailable, unexpected } from '../../schemas/problem.js'
import { EmailSchema, UserCreateSchema, UserSchema, type User } from '../../schemas/user.js'
import { COOKIES } from '../../plugins/cookies.js'
import { CrossOriginRequestError, SessionNotFoundError } from '../../errors.js'
import { flowCookies } from './flow-cookies.js'
import { validateWith } from '../../plugins/validation.js'

const authRoutes: FastifyPluginAsyncTypebox<{ ctx: UsersContext }> = async (app, { ctx }) => {
  if (ctx.config.registration) {
    app.post('/register', {
      schema: {
        tags: ['auth'],
        operationId: 'registerUser',
        security: [],
        summary: 'Register a local user',
        body: Type.Ref(UserCreateSchema),
        response: {
          201: Type.Ref(UserSchema, { description: 'The new user, not verified yet' }),
          400: problemResponse('The email is taken, the password is refused, or the body is invalid', ['REGISTER_USER_ALREADY_EXISTS', 'REGISTER_INVALID_PASSWORD', ...REQUEST_400]),
          ...jsonBodyProblems(),
          429: problemResponse('Too many registrations from this address', ['RATE_LIMITED']),
          ...unavailable(['STORE_UNAVAILABLE', 'SERVICE_BUSY']),
          ...unexpected()
        }
      },
      // The password policy's minimum is the service's to check, with its own error code.
      validatorCompiler: validateWith(ctx.config.userModels.validated.UserCreate),
      preHandler: async (request) => ctx.limits.hit('register', request)
    }, async (request, reply) => {
      const user = await ctx.manager.register(request.body)
      return reply.code(201).send(user)
    })
  }

  const { passwordPolicy } = ctx.config
  const emailBody = Type.Object({ email: EmailSchema }, { additionalProperties: false })
  const tokenField = Type.String({ minLength: 1, maxLength: 1024, description: 'The token of the mailed link (its token query parameter)' })
  const mailResponses = {
    202: { type: 'null', description: 'Accepted, whether or not the address has an account (the answer never tells); no body' },
    400: problemResponse('The body is invalid', REQUEST_400),
    ...jsonBodyProblems(),
    429: problemResponse('Too many requests for mail from this address', ['RATE_LIMITED']),
    ...unavailable(),
    ...unexpected()
  }

  // Two routes of one shape: each mails a link when the address qualifies, and answers alike whatever it is.
  for (const [url, operationId, summary, description, send] of [
    ['/request-verify-token', 'requestVerifyToken', 'Mail a link that verifies the address',
      'Sent when the address belongs to an active user whose address is not verified yet; the link leads to a page that verifies it (or POST /auth/verify with its token).',
      ctx.manager.requestVerify],
    ['/forgot-password', 'forgotPassword', 'Mail a link to set a new password',
      'Sent when the address belongs to an active user; the link leads to a page where a new password is set (or POST /auth/reset-password with its token).',
      ctx.manager.forgotPassword]
  ] as const) {
    app.post(url, {
      schema: { tags: ['auth'], operationId, security: [], summary, description: `${description} Always 202, in the same time, whatever the case.`, body: emailBody, response: mailResponses },
      preHandler: async (request) => ctx.limits.hit('accountMail', request)
    }, async (request, reply) => {
      const { email } = request.body
      if (await ctx.limits.mayMail(request, email)) await send(email)
      return reply.code(202).send()
    })
  }

  app.post('/verify', {
    schema: {
      tags: ['auth'],
      operationId: 'verifyEmail',
      security: [],
      summary: 'Verify the address with the token of a mailed link',
      body: Type.Object({ token: tokenField }, { additionalProperties: false }),
      response: {
        200: Type.Ref(UserSchema, { description: 'The user, verified' }),
        400: problemResponse('The token is invalid, expired or for another address, or the address is verified already', ['VERIFY_USER_BAD_TOKEN', 'VERIFY_USER_ALREADY_VERIFIED', ...REQUEST_400]),
        ...jsonBodyProblems(),
        ...unavailable(),
        ...unexpected()
      }
    }
  }, async (request) => ctx.manager.verify(request.body.token))

  const resetBody = (passwordMinLength: number) => Type.Object({
    token: tokenField,
    password: Type.String({ minLength: passwordMinLength, maxLength: 256, description: `The new password: at least ${passwordMinLength} characters, and whatever else the app's policy asks (else RESET_PASSWORD_INVALID_PASSWORD)` })
  }, { additionalProperties: false })
  app.post('/reset-password', {
    schema: {
      tags: ['auth'],
      operationId: 'resetPassword',
      security: [],
      summary: 'Set a new password with the token of a mailed link',
      description: 'Every session and refresh token of the user ends, and every reset link sent before stops working.',
      body: resetBody(passwordPolicy.minLength),
      response: {
        204: { type: 'null', description: 'The password is set; sign in with it' },
        400: problemResponse('The token is invalid, used or expired, or the password is refused', ['RESET_PASSWORD_BAD_TOKEN', 'RESET_PASSWORD_INVALID_PASSWORD', ...REQUEST_400]),
        ...jsonBodyProblems(),
        ...unavailable(['STORE_UNAVAILABLE', 'SERVICE_BUSY']),
        ...unexpected()
      }
    },
    // The password policy's minimum is the service's to check, with its own error code.
    validatorCompiler: validateWith(resetBody(1))
  }, async (request, reply) => {
    await ctx.manager.resetPassword(request.body.token, request.body.password)
    return reply.code(204).send()
  })

  // A page's sign-out button is a form: its (empty) body is parsed here, as JSON elsewhere.
  await app.register(async function logoutRoute (scope) {
    if (!scope.hasContentTypeParser('application/x-www-form-urlencoded')) await scope.register(formbody)
    scope.post('/logout', {
      schema: {
        tags: ['auth'],
        operationId: 'logout',
        security: [],
        summary: 'End the browser login session',
        description: 'Ends the session of the session cookie and revokes the refresh tokens of every authorization made from it. Idempotent. ' +
          'Refused (403) when a browser says the request comes from another origin.',
        response: {
          204: Type.Null({ description: 'Signed out, or there was no session' }),
          400: problemResponse('A body was sent that cannot be parsed (none is needed)', ['BAD_REQUEST']),
          403: problemResponse('The request came from another origin', ['CROSS_ORIGIN_REQUEST']),
          ...jsonBodyProblems(),
          ...unavailable(),
          ...unexpected()
        }
      }
    }, async (request, reply) => {
      // The session cookie is SameSite=Lax: a page elsewhere on the same site could log us out.
      if (!ctx.cookies.fromOwnOrigin(request)) throw new CrossOriginRequestError()
      const id = ctx.cookies.read(request, COOKIES.session)
      if (id !== undefined) await ctx.sessions.end(id)
      ctx.cookies.clear(reply, COOKIES.session)
      return reply.code(204).header('cache-control', 'no-store').send(null)
    })
  })

  // A person's browser sessions: which are live, and ending one or all (each revokes what was authorized from it).
  const SessionSchema = Type.Object({
    id: Type.String({ description: 'The session\'s identifier (a hash of its cookie, never the cookie)' }),
    createdAt: Type.String({ format: 'date-time', description: 'When the browser signed in' }),
    expiresAt: Type.String({ format: 'date-time' }),
    current: Type.Boolean({ description: 'The session of the browser that asks' })
  }, { additionalProperties: false })
  const mine = { session: true, account: true }
  app.get('/sessions', {
    config: { auth: mine },
    schema: {
      tags: ['auth'],
      operationId: 'listSessions',
      summary: 'The signed-in user\'s browser sessions',
      response: { 200: Type.Array(SessionSchema, { description: 'Oldest first' }), ...unexpected() }
    }
  }, async (request) => {
    const cookie = ctx.cookies.read(request, COOKIES.session)
    const current = cookie === undefined ? undefined : ctx.sessions.hashOf(cookie)
    const sessions = await ctx.sessions.list((request.auth?.user as User).id)
    return sessions.map((s) => ({ id: s.idHash, createdAt: s.createdAt.toISOString(), expiresAt: s.expiresAt.toISOString(), current: s.idHash === current }))
  })

  app.delete('/sessions/:id', {
    config: { auth: mine },
    schema: {
      tags: ['auth'],
      operationId: 'endSession',
      summary: 'End one of the user\'s browser sessions',
      params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) }),
      response: deletionResponses('Ended, with what was authorized from it', problemResponse('No live session of this user has this id', ['SESSION_NOT_FOUND']))
    }
  }, async (request, reply) => {
    const sessions = await ctx.sessions.list((request.auth?.user as User).id)
    // Only one of the user's own: an id of someone else's session is as unknown as a wrong one.
    if (!sessions.some((s) => s.idHash === request.params.id)) throw new SessionNotFoundError()
    await ctx.sessions.endByHash(request.params.id)
    return reply.code(204).send(null)
  })

  app.delete('/sessions', {
    config: { auth: mine },
    schema: {
      tags: ['auth'],
      operationId: 'endAllSessions',
      summary: 'End every browser session of the user, this one included',
      response: { 204: Type.Null({ description: 'Ended, with what was authorized from them' }), 400: problemResponse('An invalid request', REQUEST_400), ...jsonBodyProblems(), ...unexpected() }
    }
  }, async (request, reply) => {
    for (const session of await ctx.sessions.list((request.auth?.user as User).id)) await ctx.sessions.endByHash(session.idHash)
    ctx.cookies.clear(reply, COOKIES.session)
    return reply.code(204).send(null)
  })

  // One route for every provider, so that its operation and its name in the OpenAPI document do
  // not depend on which providers are configured.
  const names = [...ctx.logins.keys()]
  if (names.length > 0) {
    app.get('/:provider/associate/authorize', {
      config: { auth: { account: true, recentSignIn: true } },
      schema: {
        tags: ['auth'],
        operationId: 'linkProviderAccount',
        summary: 'Link a provider account to the signed-in user',
        description: 'Needs a token of a first-party client or the account:manage scope, and a recent sign-in (else 401 insufficient_user_authentication with max_age). ' +
          'Answers with the URL to send the browser to. Call it from the browser that will follow the URL (it sets the cookies that bind the flow to that browser); ' +
          'the provider sends the browser back to /auth/{provider}/associate/callback.',
        params: Type.Object({ provider: Type.Union(names.map((name) => Type.Literal(name)), { description: 'A configured provider' }) }),
        response: {
          200: Type.Object({ authorization_url: Type.String({ format: 'uri' }) }, { description: 'Where to send the browser' }),
          400: problemResponse('Not a configured provider', ['VALIDATION_ERROR']),
          ...unexpected()
        }
      }
    }, async (request, reply) => {
      const { provider } = request.params
      const started = await (ctx.logins.get(provider) as NonNullable<ReturnType<typeof ctx.logins.get>>).start('associate', { userId: request.auth?.claims.sub as string })
      flowCookies(ctx.config, provider).set(reply, started)
      return { authorization_url: started.url }
    })
  }
}

export default authRoutes
