import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { ProblemSchema } from '../../schemas/problem.js'
import { UserCreateSchema, UserSchema } from '../../schemas/user.js'

const authRoutes: FastifyPluginAsyncTypebox = async (app) => {
  if (app.usersConfig.registration) {
    app.post('/register', {
      schema: {
        tags: ['auth'],
        summary: 'Register a local user',
        body: Type.Ref(UserCreateSchema),
        response: {
          201: Type.Ref(UserSchema),
          400: Type.Ref(ProblemSchema)
        }
      }
    }, async (request, reply) => {
      const user = await app.usersService.register(request.body)
      return reply.code(201).send(user)
    })
  }
}

export default authRoutes
