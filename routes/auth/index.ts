import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { UsersContext } from '../../plugins/context.js'
import { Type } from '@sinclair/typebox'
import { ProblemSchema } from '../../schemas/problem.js'
import { UserCreateSchema, UserSchema } from '../../schemas/user.js'
import { COOKIES } from '../../plugins/cookies.js'
import { CrossOriginRequestError } from '../../errors.js'

const authRoutes: FastifyPluginAsyncTypebox<{ ctx: UsersContext }> = async (app, { ctx }) => {
  if (ctx.config.registration) {
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
      preHandler: async (request) => ctx.limits.hit('register', request)
    }, async (request, reply) => {
      const user = await ctx.manager.register(request.body)
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
    if (!ctx.cookies.fromOwnOrigin(request)) throw new CrossOriginRequestError()
    const id = ctx.cookies.read(request, COOKIES.session)
    if (id !== undefined) await ctx.sessions.end(id)
    ctx.cookies.clear(reply, COOKIES.session)
    return reply.code(204).header('cache-control', 'no-store').send(null)
  })
}

export default authRoutes
