import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { UsersContext } from '../../plugins/context.js'
import { Type } from '@sinclair/typebox'
import { jsonBodyProblems, problemResponse, REQUEST_400, unavailable, unexpected } from '../../schemas/problem.js'
import { UserCreateSchema, UserSchema } from '../../schemas/user.js'
import { COOKIES } from '../../plugins/cookies.js'
import { CrossOriginRequestError } from '../../errors.js'
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
      validatorCompiler: validateWith(UserCreateSchema),
      preHandler: async (request) => ctx.limits.hit('register', request)
    }, async (request, reply) => {
      const user = await ctx.manager.register(request.body)
      return reply.code(201).send(user)
    })
  }

  app.post('/logout', {
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
