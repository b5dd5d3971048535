import formbody from '@fastify/formbody'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { OAuthErrorSchema, TokenRequestSchema, TokenResponseSchema, type TokenResponse } from '../../schemas/oauth.js'
import { oauthErrorHandler } from '../../plugins/errors.js'
import { authenticateClient } from '../../services/clients.js'
import { oauthError } from '../../services/errors.js'
import { grantScopes, parseScope } from '../../services/scopes.js'
import { toPublicUser } from '../../services/users.js'

const FORM = 'application/x-www-form-urlencoded'

const oauthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const config = app.usersConfig
  if (!app.hasContentTypeParser(FORM)) await app.register(formbody)
  app.setErrorHandler(oauthErrorHandler)

  app.post('/token', {
    schema: {
      tags: ['oauth'],
      summary: 'Token endpoint (RFC 6749 §3.2)',
      description: 'Grants: password (first-party clients). Client authentication: none, client_secret_basic, client_secret_post.',
      consumes: [FORM],
      body: TokenRequestSchema,
      response: {
        200: Type.Ref(TokenResponseSchema),
        400: Type.Ref(OAuthErrorSchema),
        401: Type.Ref(OAuthErrorSchema)
      }
    },
    preValidation: async (request) => {
      // RFC 6749 §3.2: the token endpoint takes form bodies only; a JSON body is a malformed request.
      if (!request.headers['content-type']?.toLowerCase().startsWith(FORM)) {
        throw oauthError('invalid_request', `Content-Type must be ${FORM}`)
      }
    }
  }, async (request, reply): Promise<TokenResponse> => {
    const body = request.body
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
    const client = authenticateClient(config.clients, {
      authorization: request.headers.authorization,
      clientId: body.client_id,
      clientSecret: body.client_secret
    })

    if (body.grant_type !== 'password') throw oauthError('unsupported_grant_type', `Unsupported grant_type: ${body.grant_type}`)
    if (!client.grantTypes.has('password') || !client.firstParty) {
      throw oauthError('unauthorized_client', 'This client may not use the password grant')
    }
    if (body.username === undefined || body.password === undefined) {
      throw oauthError('invalid_request', 'username and password are required')
    }
    const requested = parseScope(body.scope)
    const stored = await app.usersService.authenticate(body.username, body.password)
    if (!stored) throw oauthError('invalid_grant', 'Invalid username or password')
    const scopes = grantScopes({
      requested,
      known: config.scopes,
      allowed: await config.allowedScopes(toPublicUser(stored)),
      clientAllowed: client.scopes,
      defaults: config.defaultScopes
    })
    const scope = scopes.join(' ')
    const { token, expiresIn } = app.usersTokens.signAccessToken({ sub: stored.id, clientId: client.clientId, scope })
    return { access_token: token, token_type: 'Bearer', expires_in: expiresIn, scope }
  })
}

export default oauthRoutes
