import { Type, type Static } from '@sinclair/typebox'

const param = (description: string) => Type.Optional(Type.String({ maxLength: 2048, description }))

// One flat schema for every grant: which parameters a grant needs is checked by the
// grant itself so that a missing one yields invalid_request naming it (RFC 6749 §5.2).
export const TokenRequestSchema = Type.Object({
  grant_type: Type.Union([
    Type.Literal('authorization_code'), Type.Literal('refresh_token'), Type.Literal('password'), Type.Literal('client_credentials')
  ], { description: 'Another grant type is answered with unsupported_grant_type' }),
  code: param('The authorization code (authorization_code grant)'),
  redirect_uri: param('As sent in the authorization request, if it was (authorization_code grant)'),
  code_verifier: param('PKCE verifier (authorization_code grant)'),
  refresh_token: param('The refresh token (refresh_token grant)'),
  username: param('Email of the user (password grant)'),
  password: param('Password of the user (password grant)'),
  scope: param('Space-separated scopes to request'),
  client_id: param('Client id, for public clients and client_secret_post'),
  client_secret: param('Client secret (client_secret_post)')
  // RFC 6749 §3.2: parameters the server does not know are ignored, not refused. Left open by
  // omission (JSON Schema's default) rather than additionalProperties: true, which generated
  // clients would turn into an index signature that lets a misspelt field compile.
}, {
  $id: 'fastify-users.TokenRequest',
  title: 'TokenRequest',
  examples: [
    { grant_type: 'password', client_id: 'swagger-ui', username: 'ada@example.com', password: 'correct horse battery staple', scope: 'openid items:read' },
    { grant_type: 'authorization_code', client_id: 'swagger-ui', code: 'SplxlOBeZQQYbYS6WxSbIA', redirect_uri: 'http://localhost:3000/docs/static/oauth2-redirect.html', code_verifier: 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk' },
    { grant_type: 'refresh_token', client_id: 'swagger-ui', refresh_token: 'tGzv3JOkF0XG5Qx2TlKWIA' }
  ]
})
export type TokenRequest = Static<typeof TokenRequestSchema>

export const TokenResponseSchema = Type.Object({
  access_token: Type.String(),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer(),
  scope: Type.String(),
  refresh_token: Type.Optional(Type.String({ description: 'For clients allowed the refresh_token grant; single use, replaced at every refresh' })),
  id_token: Type.Optional(Type.String({ description: 'OpenID Connect id_token, when the openid scope was granted' }))
}, {
  $id: 'fastify-users.TokenResponse',
  title: 'TokenResponse',
  examples: [{ access_token: 'eyJhbGciOiJFZERTQSIsInR5cCI6ImF0K2p3dCIsImtpZCI6ImsxIn0.eyJzdWIiOiIuLi4ifQ.c2lnbmF0dXJl', token_type: 'Bearer', expires_in: 900, scope: 'openid items:read', refresh_token: 'tGzv3JOkF0XG5Qx2TlKWIA' }]
})
export type TokenResponse = Static<typeof TokenResponseSchema>

export const OAuthErrorCodeSchema = Type.Union([
  Type.Literal('invalid_request'),
  Type.Literal('invalid_client'),
  Type.Literal('invalid_grant'),
  Type.Literal('unauthorized_client'),
  Type.Literal('unsupported_grant_type'),
  Type.Literal('invalid_scope'),
  Type.Literal('unsupported_token_type'),
  Type.Literal('server_error'),
  Type.Literal('temporarily_unavailable'),
  Type.Literal('slow_down')
])
export type OAuthErrorCode = Static<typeof OAuthErrorCodeSchema>

// RFC 6749 §5.2
export const OAuthErrorSchema = Type.Object({
  error: OAuthErrorCodeSchema,
  error_description: Type.Optional(Type.String())
}, { $id: 'fastify-users.OAuthError', title: 'OAuthError' })
export type OAuthErrorBody = Static<typeof OAuthErrorSchema>

export const JwkSchema = Type.Object({
  kty: Type.String(),
  kid: Type.String(),
  alg: Type.String(),
  use: Type.Literal('sig'),
  crv: Type.Optional(Type.String()),
  x: Type.Optional(Type.String()),
  y: Type.Optional(Type.String()),
  n: Type.Optional(Type.String()),
  e: Type.Optional(Type.String())
}, { additionalProperties: false })
export type PublicJwk = Static<typeof JwkSchema>

export const JwksSchema = Type.Object({
  keys: Type.Array(JwkSchema)
}, { $id: 'fastify-users.Jwks', title: 'Jwks' })

const strings = Type.Array(Type.String())

// RFC 8414 and OpenID Connect Discovery 1.0 §3; only what this server really supports is advertised.
export const AuthorizationServerMetadataSchema = Type.Object({
  issuer: Type.String(),
  authorization_endpoint: Type.String(),
  token_endpoint: Type.String(),
  jwks_uri: Type.String(),
  userinfo_endpoint: Type.String(),
  revocation_endpoint: Type.String(),
  introspection_endpoint: Type.String(),
  grant_types_supported: strings,
  response_types_supported: strings,
  response_modes_supported: strings,
  code_challenge_methods_supported: strings,
  token_endpoint_auth_methods_supported: strings,
  revocation_endpoint_auth_methods_supported: strings,
  introspection_endpoint_auth_methods_supported: strings,
  scopes_supported: strings,
  subject_types_supported: strings,
  id_token_signing_alg_values_supported: strings,
  claims_supported: strings,
  prompt_values_supported: strings,
  authorization_response_iss_parameter_supported: Type.Boolean(),
  request_parameter_supported: Type.Boolean(),
  request_uri_parameter_supported: Type.Boolean()
}, { $id: 'fastify-users.AuthorizationServerMetadata', title: 'AuthorizationServerMetadata' })

// RFC 7009 §2.1
export const RevocationRequestSchema = Type.Object({
  token: Type.String({ maxLength: 4096 }),
  token_type_hint: param('access_token or refresh_token'),
  client_id: param('Client id, for public clients and client_secret_post'),
  client_secret: param('Client secret (client_secret_post)')
  // Open, as TokenRequest.
}, { $id: 'fastify-users.RevocationRequest', title: 'RevocationRequest' })

// RFC 7662 §2.1
export const IntrospectionRequestSchema = Type.Object({
  token: Type.String({ maxLength: 4096 }),
  token_type_hint: param('access_token or refresh_token'),
  client_id: param('Client id (client_secret_post)'),
  client_secret: param('Client secret (client_secret_post)')
  // Open, as TokenRequest.
}, { $id: 'fastify-users.IntrospectionRequest', title: 'IntrospectionRequest' })

// RFC 7662 §2.2: an inactive token says nothing but that.
export const IntrospectionResponseSchema = Type.Object({
  active: Type.Boolean(),
  token_type: Type.Optional(Type.String()),
  scope: Type.Optional(Type.String()),
  client_id: Type.Optional(Type.String()),
  sub: Type.Optional(Type.String()),
  aud: Type.Optional(Type.String()),
  iss: Type.Optional(Type.String()),
  exp: Type.Optional(Type.Integer()),
  iat: Type.Optional(Type.Integer()),
  jti: Type.Optional(Type.String())
}, { $id: 'fastify-users.IntrospectionResponse', title: 'IntrospectionResponse' })

// OIDC Core §5.3.2
export const UserInfoSchema = Type.Object({
  sub: Type.String(),
  email: Type.Optional(Type.String()),
  email_verified: Type.Optional(Type.Boolean()),
  updated_at: Type.Optional(Type.Integer())
}, { $id: 'fastify-users.UserInfo', title: 'UserInfo' })
