import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { ProblemSchema } from '../../schemas/problem.js'
import { OAuthAccountSchema, UserSchema, UserUpdateSchema, type User } from '../../schemas/user.js'
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

  app.get('/me/oauth-accounts', {
    config: { auth: true },
    schema: {
      tags: ['users'],
      summary: 'Provider accounts linked to the current user',
      response: { 200: Type.Array(Type.Ref(OAuthAccountSchema)) }
    }
  }, async (request) => {
    const accounts = await app.usersOAuth.list((request.user as User).id)
    return accounts.map((a) => ({ provider: a.provider, accountId: a.accountId, accountEmail: a.accountEmail, createdAt: a.createdAt.toISOString() }))
  })

  app.delete('/me/oauth-accounts/:provider', {
    config: { auth: true },
    schema: {
      tags: ['users'],
      summary: 'Unlink a provider account from the current user',
      description: 'Refused (400) when it is the last way the user can sign in.',
      params: Type.Object({ provider: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,39}$' }) }),
      response: {
        204: Type.Null(),
        400: Type.Ref(ProblemSchema),
        404: Type.Ref(ProblemSchema)
      }
    }
  }, async (request, reply) => {
    const stored = await app.usersStore.getUserById((request.user as User).id)
    if (!stored) throw new UserNotFoundError()
    await app.usersOAuth.unlink(stored, request.params.provider)
    return reply.code(204).send(null)
  })
}

export default usersRoutes
