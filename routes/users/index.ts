import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { ProblemSchema } from '../../schemas/problem.js'
import { UserSchema, UserUpdateSchema, type User } from '../../schemas/user.js'
import { UserNotFoundError } from '../../services/errors.js'

const usersRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/me', {
    config: { auth: true },
    schema: {
      tags: ['users'],
      summary: 'The current user',
      response: { 200: Type.Ref(UserSchema) }
    }
  }, async (request) => request.user as User)

  app.patch('/me', {
    config: { auth: true },
    schema: {
      tags: ['users'],
      summary: 'Update the current user',
      description: 'A new email must be verified again; a new password needs currentPassword.',
      body: Type.Ref(UserUpdateSchema),
      response: {
        200: Type.Ref(UserSchema),
        400: Type.Ref(ProblemSchema)
      }
    }
  }, async (request) => {
    // The guard hands out the public user; the update needs the stored one (password hash).
    const stored = await app.usersStore.getUserById((request.user as User).id)
    if (!stored) throw new UserNotFoundError()
    return app.usersService.update(stored, request.body)
  })
}

export default usersRoutes
