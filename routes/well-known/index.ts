import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { UsersContext } from '../../plugins/context.js'
import { Type } from '@sinclair/typebox'
import { AuthorizationServerMetadataSchema, JwksSchema } from '../../schemas/oauth.js'
import { unexpected } from '../../schemas/problem.js'

const wellKnownRoutes: FastifyPluginAsyncTypebox<{ ctx: UsersContext }> = async (app, { ctx }) => {
  const config = ctx.config

  app.get('/jwks.json', {
    schema: {
      tags: ['discovery'],
      operationId: 'getJwks',
      security: [],
      summary: 'Public keys that verify our access tokens',
      response: { 200: Type.Ref(JwksSchema, { description: 'The key set (RFC 7517); new keys appear before they sign, old ones stay until their tokens expire' }), ...unexpected() }
    }
  }, async (_request, reply) => {
    // Short caching: verifiers refetch soon enough to learn a rotated key.
    reply.header('cache-control', 'public, max-age=300')
    return ctx.tokens.jwks()
  })

  const metadata = () => {
    const grants = new Set<string>()
    for (const client of config.clients.values()) for (const g of client.grantTypes) grants.add(g)
    const auth = ['none', 'client_secret_basic', 'client_secret_post']
    return {
      issuer: config.issuer,
      authorization_endpoint: config.endpoints.authorize,
      token_endpoint: config.endpoints.token,
      jwks_uri: config.endpoints.jwks,
      userinfo_endpoint: config.endpoints.userinfo,
      revocation_endpoint: config.endpoints.revoke,
      introspection_endpoint: config.endpoints.introspect,
      grant_types_supported: [...grants],
      response_types_supported: ['code'],
      response_modes_supported: ['query'],
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: auth,
      revocation_endpoint_auth_methods_supported: auth,
      introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      scopes_supported: Object.keys(config.scopes),
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ctx.tokens.idTokenAlgorithms(),
      claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'at_hash', 'email', 'email_verified', 'updated_at'],
      prompt_values_supported: ['none', 'login', 'consent'],
      authorization_response_iss_parameter_supported: true,
      request_parameter_supported: false,
      request_uri_parameter_supported: false
    }
  }

  // One document, two names: RFC 8414 for OAuth clients, OIDC Discovery for OpenID ones.
  for (const [url, operationId, summary] of [
    ['/oauth-authorization-server', 'getAuthorizationServerMetadata', 'Authorization server metadata (RFC 8414)'],
    ['/openid-configuration', 'getOpenIdConfiguration', 'OpenID Provider metadata (OpenID Connect Discovery 1.0)']
  ] as const) {
    app.get(url, {
      schema: { tags: ['discovery'], operationId, summary, security: [], response: { 200: Type.Ref(AuthorizationServerMetadataSchema, { description: 'The metadata document' }), ...unexpected() } }
    }, async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=300')
      return metadata()
    })
  }
}

export default wellKnownRoutes
