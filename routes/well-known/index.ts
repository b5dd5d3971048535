import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { AuthorizationServerMetadataSchema, JwksSchema } from '../../schemas/oauth.js'

const wellKnownRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const config = app.usersConfig

  app.get('/jwks.json', {
    schema: {
      tags: ['discovery'],
      summary: 'Public keys that verify our access tokens',
      response: { 200: Type.Ref(JwksSchema) }
    }
  }, async (_request, reply) => {
    // Short caching: verifiers refetch soon enough to learn a rotated key.
    reply.header('cache-control', 'public, max-age=300')
    return app.usersTokens.jwks()
  })

  app.get('/oauth-authorization-server', {
    schema: {
      tags: ['discovery'],
      summary: 'Authorization server metadata (RFC 8414)',
      response: { 200: Type.Ref(AuthorizationServerMetadataSchema) }
    }
  }, async () => {
    const grants = new Set<string>()
    for (const client of config.clients.values()) for (const g of client.grantTypes) grants.add(g)
    return {
      issuer: config.issuer,
      token_endpoint: config.endpoints.token,
      jwks_uri: config.endpoints.jwks,
      grant_types_supported: [...grants],
      // No authorization endpoint yet, hence no response type either.
      response_types_supported: [],
      token_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
      scopes_supported: Object.keys(config.scopes)
    }
  })
}

export default wellKnownRoutes
