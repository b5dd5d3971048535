import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { UsersContext } from '../../plugins/context.js'
import { Type } from '@sinclair/typebox'
import { jsonBodyProblems, problemResponse, REQUEST_400, unavailable, unexpected } from '../../schemas/problem.js'
import { OAuthAccountSchema, UserSchema, UserUpdateSchema, type User } from '../../schemas/user.js'
import { UserNotFoundError } from '../../errors.js'
import { validateWith } from '../../plugins/validation.js'

const usersRoutes: FastifyPluginAsyncTypebox<{ ctx: UsersContext }> = async (app, { ctx }) => {
  app.get('/me', {
    config: { auth: true },
    schema: {
      tags: ['users'],
      operationId: 'getCurrentUser',
      summary: 'The current user',
      response: { 200: Type.Ref(UserSchema, { description: 'The user the token acts for' }), ...unexpected() }
    }
  }, async (request) => request.auth?.user as User)

  app.patch('/me', {
    config: { auth: { account: true } },
    schema: {
      tags: ['users'],
      operationId: 'updateCurrentUser',
      summary: 'Update the current user',
      description: 'Needs a token of a first-party client or the account:manage scope. A new email must be verified again. ' +
        'A new password needs currentPassword; a user without a password, or a new email without currentPassword, needs a recent sign-in, ' +
        'else 401 insufficient_user_authentication with max_age (RFC 9470): sign in again with that max_age.',
      body: Type.Ref(UserUpdateSchema),
      response: {
        200: Type.Ref(UserSchema, { description: 'The user, changed' }),
        // The step-up comes from the change itself (a new email or password), not from the guard.
        401: problemResponse('No valid access token, or a change that needs a more recent sign-in', ['AUTHENTICATION_REQUIRED', 'INVALID_TOKEN', 'INSUFFICIENT_USER_AUTHENTICATION']),
        400: problemResponse('A refused change: the email is taken, the password is refused or the current one is wrong, or the body is invalid',
          ['UPDATE_USER_EMAIL_ALREADY_EXISTS', 'UPDATE_USER_INVALID_PASSWORD', ...REQUEST_400]),
        404: problemResponse('The user was deleted meanwhile', ['USER_NOT_FOUND']),
        ...jsonBodyProblems(),
        ...unavailable(['STORE_UNAVAILABLE', 'SERVICE_BUSY']),
        ...unexpected()
      }
    },
    // The password policy's minimum is the service's to check, with its own error code.
    validatorCompiler: validateWith(UserUpdateSchema)
  }, async (request) => {
    return ctx.manager.update((request.auth?.user as User).id, request.body, { authTime: request.auth?.claims.auth_time })
  })

  app.get('/me/oauth-accounts', {
    config: { auth: true },
    schema: {
      tags: ['users'],
      operationId: 'listLinkedAccounts',
      summary: 'Provider accounts linked to the current user',
      response: { 200: Type.Array(Type.Ref(OAuthAccountSchema), { description: 'The linked provider accounts' }), ...unexpected() }
    }
  }, async (request) => {
    const accounts = await ctx.oauth.list((request.auth?.user as User).id)
    return accounts.map((a) => ({ provider: a.provider, accountId: a.accountId, accountEmail: a.accountEmail, createdAt: a.createdAt.toISOString() }))
  })

  app.delete('/me/oauth-accounts/:provider', {
    config: { auth: { account: true, recentSignIn: true } },
    schema: {
      tags: ['users'],
      operationId: 'unlinkAccount',
      summary: 'Unlink a provider account from the current user',
      description: 'Needs a token of a first-party client or the account:manage scope, and a recent sign-in (else 401 insufficient_user_authentication with max_age). ' +
        'Refused (400) when it is the last way the user can sign in.',
      params: Type.Object({ provider: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,39}$' }) }),
      response: {
        204: Type.Null({ description: 'Unlinked' }),
        400: problemResponse('The last way to sign in cannot be unlinked, or the request is invalid', ['OAUTH_UNLINK_LAST_LOGIN_METHOD', ...REQUEST_400]),
        404: problemResponse('No account of this provider is linked', ['OAUTH_ACCOUNT_NOT_FOUND', 'USER_NOT_FOUND']),
        ...jsonBodyProblems(),
        ...unexpected()
      }
    }
  }, async (request, reply) => {
    const stored = await ctx.store.getUserById((request.auth?.user as User).id)
    if (!stored) throw new UserNotFoundError()
    await ctx.oauth.unlink(stored, request.params.provider)
    return reply.code(204).send(null)
  })
}

export default usersRoutes
