import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { ProblemSchema } from '../../schemas/problem.js'
import { UserCreateSchema, UserSchema } from '../../schemas/user.js'
import { COOKIES } from '../../plugins/cookies.js'
import { CrossOriginRequestError } from '../../services/errors.js'

const authRoutes: FastifyPluginAsyncTypebox = async (app) => {
  if (app.usersConfig.registration) {
    app.post('/register', {
      schema: {
        tags: ['auth'],
        summary: 'Register a local user',
        body: Type.Ref(UserCreateSchema),
        response: {
          201: Type.Ref(UserSchema),
          400: Type.Ref(ProblemSchema),
          429: Type.Ref(ProblemSchema)
        }
      },
      preHandler: async (request) => app.usersLimits.hit('register', request)
    }, async (request, reply) => {
      const user = await app.usersService.register(request.body)
      return reply.code(201).send(user)
    })
  }

  app.post('/logout', {
    schema: {
      tags: ['auth'],
      summary: 'End the browser login session',
      description: 'Ends the session of the session cookie and revokes the refresh tokens of every authorization made from it. Idempotent. ' +
        'Refused (403) when a browser says the request comes from another origin.',
      response: { 204: Type.Null(), 403: Type.Ref(ProblemSchema) }
    }
  }, async (request, reply) => {
    // The session cookie is SameSite=Lax: a page elsewhere on the same site could log us out.
    if (!app.usersCookies.fromOwnOrigin(request)) throw new CrossOriginRequestError()
    const id = app.usersCookies.read(request, COOKIES.session)
    if (id !== undefined) await app.usersSessions.end(id)
    app.usersCookies.clear(reply, COOKIES.session)
    return reply.code(204).header('cache-control', 'no-store').send(null)
  })
}

export default authRoutes
