import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { UsersContext } from '../../plugins/context.js'
import { Type } from '@sinclair/typebox'
import { deletionResponses, jsonBodyProblems, problemResponse, REQUEST_400, unavailable, unexpected } from '../../schemas/problem.js'
import { ClientAuthorizationSchema, OAuthAccountSchema, UserAdminUpdateSchema, UserPageSchema, UserSchema, UserUpdateSchema, type User } from '../../schemas/user.js'
import { SUPERUSER_SCOPE } from '../../services/scopes.js'
import { ClientAuthorizationNotFoundError, UserNotFoundError } from '../../errors.js'
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
    validatorCompiler: validateWith(ctx.config.userModels.validated.UserUpdate)
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

/** The third-party clients a user authorized: what each may do, and taking it back. */
const clientAuthorizationRoutes: FastifyPluginAsyncTypebox<{ ctx: UsersContext }> = async (app, { ctx }) => {
  app.get('/me/authorizations', {
    config: { auth: { account: true } },
    schema: {
      tags: ['users'],
      operationId: 'listClientAuthorizations',
      summary: 'Clients the current user authorized',
      description: 'Each third-party client the user approved on a consent page, with the scopes approved: asking for no more, it gets no consent page.',
      response: { 200: Type.Array(Type.Ref(ClientAuthorizationSchema), { description: 'Oldest first' }), ...unexpected() }
    }
  }, async (request) => {
    const consents = await ctx.store.listConsents((request.auth?.user as User).id)
    return consents.map((c) => ({
      clientId: c.clientId,
      clientName: ctx.config.clients.get(c.clientId)?.name ?? c.clientId,
      scopes: c.scopes,
      createdAt: c.createdAt.toISOString(),
      updatedAt: c.updatedAt.toISOString()
    }))
  })

  app.delete('/me/authorizations/:clientId', {
    config: { auth: { account: true } },
    schema: {
      tags: ['users'],
      operationId: 'revokeClientAuthorization',
      summary: 'Revoke what the current user authorized a client to do',
      description: 'The client asks for consent again next time, and every refresh token it holds for this user stops working at once.',
      params: Type.Object({ clientId: Type.String({ minLength: 1, maxLength: 128 }) }),
      response: deletionResponses('Revoked', problemResponse('The user has not authorized this client', ['CLIENT_AUTHORIZATION_NOT_FOUND']))
    }
  }, async (request, reply) => {
    const userId = (request.auth?.user as User).id
    const { clientId } = request.params
    // The tokens first: should the consent's removal fail, nothing the client holds still works.
    await ctx.store.revokeGrantFamilies({ userId, clientId }, new Date())
    if (!await ctx.store.deleteConsent(userId, clientId)) throw new ClientAuthorizationNotFoundError()
    return reply.code(204).send(null)
  })
}

/** Administration: superusers, with a token of a first-party client that carries the admin scope. */
const ADMIN = { scopes: [SUPERUSER_SCOPE], superuser: true, firstParty: true }

const adminRoutes: FastifyPluginAsyncTypebox<{ ctx: UsersContext }> = async (app, { ctx }) => {
  const idParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64, description: 'The user\'s id' }) })
  const notFound = problemResponse('No user has this id', ['USER_NOT_FOUND'])
  const actor = (request: { auth: { user: User | null } | null }) => (request.auth?.user as User).id

  // '' rather than '/': the list is /users, not /users/.
  app.get('', {
    config: { auth: ADMIN },
    schema: {
      tags: ['admin'],
      operationId: 'listUsers',
      summary: 'List users',
      description: 'By creation, oldest first; pages follow `next`. `email` is an address (exactly that user) or the beginning of addresses.',
      querystring: Type.Object({
        email: Type.Optional(Type.String({ minLength: 1, maxLength: 254, description: 'An address, or the beginning of addresses (case-insensitive)' })),
        cursor: Type.Optional(Type.String({ maxLength: 512, description: 'The next of the previous page' })),
        limit: Type.Integer({ minimum: 1, maximum: 1000, default: 50 })
      }, { additionalProperties: false }),
      response: {
        200: Type.Ref(UserPageSchema, { description: 'A page of users' }),
        400: problemResponse('An invalid query, or a cursor this server did not give', ['INVALID_CURSOR', 'VALIDATION_ERROR']),
        ...unexpected()
      }
    }
  }, async (request) => {
    const { email, cursor, limit } = request.query
    return ctx.manager.list({ limit, ...(cursor !== undefined && { cursor }), ...(email !== undefined && { email }) })
  })

  app.get('/:id', {
    config: { auth: ADMIN },
    schema: {
      tags: ['admin'],
      operationId: 'getUser',
      summary: 'Read a user',
      params: idParams,
      response: { 200: Type.Ref(UserSchema, { description: 'The user' }), 400: problemResponse('An invalid id', ['VALIDATION_ERROR']), 404: notFound, ...unexpected() }
    }
  }, async (request) => ctx.manager.get(request.params.id))

  app.patch('/:id', {
    config: { auth: ADMIN },
    schema: {
      tags: ['admin'],
      operationId: 'updateUser',
      summary: 'Change a user',
      description: 'Deactivating a user, or giving them a new password, ends their sessions and refresh tokens at once; their access tokens are refused from the next request.',
      params: idParams,
      body: Type.Ref(UserAdminUpdateSchema),
      response: {
        200: Type.Ref(UserSchema, { description: 'The user, changed' }),
        400: problemResponse('The email is taken, the password is refused, or the body is invalid', ['UPDATE_USER_EMAIL_ALREADY_EXISTS', 'UPDATE_USER_INVALID_PASSWORD', ...REQUEST_400]),
        403: problemResponse('Your own superuser flag or activity, or a missing right', ['ADMIN_SELF_CHANGE', 'INSUFFICIENT_SCOPE']),
        404: notFound,
        409: problemResponse('The last superuser keeps the flag', ['ADMIN_LAST_SUPERUSER']),
        ...jsonBodyProblems(),
        ...unavailable(['STORE_UNAVAILABLE', 'SERVICE_BUSY']),
        ...unexpected()
      }
    },
    // The password policy's minimum is the service's to check, with its own error code.
    validatorCompiler: validateWith(ctx.config.userModels.validated.UserAdminUpdate)
  }, async (request) => ctx.manager.administer(actor(request), request.params.id, request.body))

  app.delete('/:id', {
    config: { auth: ADMIN },
    schema: {
      tags: ['admin'],
      operationId: 'deleteUser',
      summary: 'Delete a user',
      description: 'With everything of theirs: provider accounts, authorizations (refresh tokens), sessions. The last superuser cannot be deleted.',
      params: idParams,
      response: {
        ...deletionResponses('Deleted', notFound),
        409: problemResponse('The last superuser cannot be deleted, or a beforeUserDelete listener of the app refused', ['ADMIN_LAST_SUPERUSER', 'ADMIN_DELETE_REFUSED'])
      }
    }
  }, async (request, reply) => {
    await ctx.manager.remove(actor(request), request.params.id)
    return reply.code(204).send(null)
  })
}

export { adminRoutes, clientAuthorizationRoutes }
export default usersRoutes
