import formbody from '@fastify/formbody'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { UsersContext } from '../../plugins/context.js'
import type { FastifyRequest } from 'fastify'
import { Type } from '@sinclair/typebox'
import {
  IntrospectionRequestSchema,
  IntrospectionResponseSchema,
  OAuthErrorSchema,
  RevocationRequestSchema,
  TokenRequestSchema,
  TokenResponseSchema,
  UserInfoSchema
} from '../../schemas/oauth.js'
import { bearerChallenge, oauthErrorHandler, problem, problemErrorHandler } from '../../plugins/errors.js'
import { jsonBodyProblems, oauthErrorResponse, problemResponse, unexpected } from '../../schemas/problem.js'
import { userClaims } from '../../plugins/grants.js'
import { authenticateClient, type Client } from '../../services/clients.js'
import { oauthError } from '../../errors.js'
import type { TokenSet } from '../../services/grants.js'
import { parseScope } from '../../services/scopes.js'
import { toPublicUser } from '../../services/users.js'
import authorizeRoutes from './authorize.js'

const FORM = 'application/x-www-form-urlencoded'

// RFC 6749 §3.2, RFC 7009 §2.1, RFC 7662 §2.1: these endpoints take form bodies only.
async function formOnly (request: FastifyRequest) {
  if (!request.headers['content-type']?.toLowerCase().startsWith(FORM)) {
    throw oauthError('invalid_request', `Content-Type must be ${FORM}`)
  }
}

const ERROR = Type.Ref(OAuthErrorSchema)
const clientErrors = {
  401: oauthErrorResponse('Client authentication failed (client_secret_basic: with a Basic challenge)', ['invalid_client'], ERROR),
  503: oauthErrorResponse('The user store is out of reach for a moment; see Retry-After', ['temporarily_unavailable'], ERROR),
  default: oauthErrorResponse('Unexpected failure (500)', ['server_error'], ERROR)
}

const oauthRoutes: FastifyPluginAsyncTypebox<{ ctx: UsersContext }> = async (app, { ctx }) => {
  const config = ctx.config
  if (!app.hasContentTypeParser(FORM)) await app.register(formbody)
  app.setErrorHandler(oauthErrorHandler)

  await app.register(authorizeRoutes, { ctx })

  const clientOf = (request: FastifyRequest, body: { client_id?: string, client_secret?: string }) =>
    authenticateClient(config.clients, { authorization: request.headers.authorization, clientId: body.client_id, clientSecret: body.client_secret })

  const mayUse = (client: Client, grant: Parameters<Client['grantTypes']['has']>[0]) => {
    if (!client.grantTypes.has(grant)) throw oauthError('unauthorized_client', `This client may not use the ${grant} grant`)
  }

  app.post('/token', {
    schema: {
      tags: ['oauth'],
      operationId: 'issueToken',
      security: [{}, { clientBasic: [] }],
      summary: 'Token endpoint (RFC 6749 §3.2)',
      description: 'Grants: authorization_code (with PKCE), refresh_token (rotating), password (first-party clients), client_credentials (confidential clients). Client authentication: none, client_secret_basic, client_secret_post.',
      consumes: [FORM],
      body: Type.Ref(TokenRequestSchema),
      response: {
        200: Type.Ref(TokenResponseSchema, { description: 'The tokens; scope says what was granted (RFC 6749 §5.1)' }),
        400: oauthErrorResponse('A refused grant or a malformed request (RFC 6749 §5.2)',
          ['invalid_request', 'invalid_grant', 'unauthorized_client', 'unsupported_grant_type', 'invalid_scope'], ERROR),
        429: oauthErrorResponse('Too many attempts from this address or at this account; see Retry-After', ['slow_down'], ERROR),
        ...clientErrors
      }
    },
    preValidation: formOnly
  }, async (request, reply): Promise<TokenSet> => {
    const body = request.body
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
    const client = clientOf(request, body)

    switch (body.grant_type) {
      case 'authorization_code':
        mayUse(client, 'authorization_code')
        return ctx.grants.exchangeCode(client, { code: body.code, redirectUri: body.redirect_uri, codeVerifier: body.code_verifier })

      case 'refresh_token':
        mayUse(client, 'refresh_token')
        await ctx.limits.hit('refresh', request)
        return ctx.grants.refresh(client, { refreshToken: body.refresh_token, scope: body.scope })

      case 'password': {
        if (!client.grantTypes.has('password') || !client.firstParty) throw oauthError('unauthorized_client', 'This client may not use the password grant')
        if (body.username === undefined || body.password === undefined) throw oauthError('invalid_request', 'username and password are required')
        const { username, password } = body
        const user = await ctx.limits.signIn(request, username, () => ctx.manager.authenticate(username, password))
        if (!user) throw oauthError('invalid_grant', 'Invalid username or password')
        const scopes = await ctx.scopes.forPassword(client, toPublicUser(user), parseScope(body.scope))
        return ctx.grants.passwordTokens(client, user, scopes)
      }

      case 'client_credentials': {
        mayUse(client, 'client_credentials')
        return ctx.grants.clientTokens(client, ctx.scopes.forClient(client, parseScope(body.scope)))
      }

      default:
        throw oauthError('unsupported_grant_type', `Unsupported grant_type: ${body.grant_type}`)
    }
  })

  app.post('/revoke', {
    schema: {
      tags: ['oauth'],
      operationId: 'revokeToken',
      security: [{}, { clientBasic: [] }],
      summary: 'Token revocation (RFC 7009)',
      description: 'Revokes a refresh token, or the grant behind an access token, with everything issued from the same authorization. Always 200 for a token that is unknown or not the client\'s.',
      consumes: [FORM],
      body: Type.Ref(RevocationRequestSchema),
      // RFC 7009 §2.2: 200 with an empty body, which the client ignores.
      response: {
        200: { type: 'null', description: 'Revoked, or nothing to revoke (an empty body)' },
        400: oauthErrorResponse('A malformed request', ['invalid_request'], ERROR),
        ...clientErrors
      }
    },
    preValidation: formOnly
  }, async (request, reply) => {
    const client = clientOf(request, request.body)
    await ctx.grants.revoke(client, request.body.token)
    return reply.header('cache-control', 'no-store').code(200).send()
  })

  app.post('/introspect', {
    schema: {
      tags: ['oauth'],
      operationId: 'introspectToken',
      security: [{ clientBasic: [] }],
      summary: 'Token introspection (RFC 7662)',
      description: 'For confidential clients registered with introspection: true.',
      consumes: [FORM],
      body: Type.Ref(IntrospectionRequestSchema),
      response: {
        200: Type.Ref(IntrospectionResponseSchema, { description: 'What the token is; { active: false } for any token that is not active, unknown or not ours' }),
        400: oauthErrorResponse('A malformed request, or a client not allowed to introspect', ['invalid_request', 'unauthorized_client'], ERROR),
        ...clientErrors
      }
    },
    preValidation: formOnly
  }, async (request, reply) => {
    const client = clientOf(request, request.body)
    // RFC 7662 §2.1: the caller must authenticate; a public client cannot.
    if (!client.secretHash) throw oauthError('invalid_client', 'Introspection needs client authentication')
    if (!client.introspection) throw oauthError('unauthorized_client', 'This client may not introspect tokens')
    reply.header('cache-control', 'no-store')
    return ctx.grants.introspect(request.body.token)
  })

  // OIDC Core §5.3.1: GET and POST alike; two operations, so that each has its own operationId.
  for (const [method, operationId] of [['GET', 'getUserInfo'], ['POST', 'postUserInfo']] as const) {
    app.route({
      method,
      url: '/userinfo',
      config: { auth: { scopes: ['openid'] } },
      // A protected resource, not an OAuth endpoint: its errors are those of every guarded route.
      errorHandler: problemErrorHandler,
      schema: {
        tags: ['oauth'],
        operationId,
        summary: 'UserInfo endpoint (OpenID Connect Core §5.3)',
        response: { 200: Type.Ref(UserInfoSchema, { description: 'Claims about the user, as the token\'s scopes allow' }), ...(method === 'POST' && { 400: problemResponse('A body that cannot be parsed (none is needed)', ['BAD_REQUEST']), ...jsonBodyProblems() }), ...unexpected() }
      },
      handler: async (request, reply) => {
        const auth = request.auth
        const user = auth?.user ? await ctx.store.getUserById(auth.user.id) : null
        const family = auth?.claims.fam === undefined ? undefined : await ctx.store.getGrantFamily(auth.claims.fam, new Date())
        if (!auth || !user || family === null || family?.revokedAt) {
          // Stateless access tokens outlive a revocation; the endpoints that read the store do not.
          return reply.code(401)
            .header('www-authenticate', bearerChallenge(config.issuer, { error: 'invalid_token', description: 'The access token was revoked' }))
            .type('application/problem+json')
            .send(problem(request, 401, 'The access token was revoked', 'INVALID_TOKEN'))
        }
        return { sub: user.id, ...userClaims(user, [...auth.scopes]) }
      }
    })
  }
}

export default oauthRoutes
