import { Type, type Static } from '@sinclair/typebox'

const param = (description: string) => Type.Optional(Type.String({ maxLength: 2048, description }))

// One flat schema for every grant: which parameters a grant needs is checked by the
// grant itself so that a missing one yields invalid_request naming it (RFC 6749 §5.2).
export const TokenRequestSchema = Type.Object({
  grant_type: Type.String({ maxLength: 128, description: 'password' }),
  username: param('Email of the user (password grant)'),
  password: param('Password of the user (password grant)'),
  scope: param('Space-separated scopes to request'),
  client_id: param('Client id, for public clients and client_secret_post'),
  client_secret: param('Client secret (client_secret_post)')
}, { title: 'TokenRequest', additionalProperties: true })
export type TokenRequest = Static<typeof TokenRequestSchema>

export const TokenResponseSchema = Type.Object({
  access_token: Type.String(),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer(),
  scope: Type.String()
}, { $id: 'TokenResponse', title: 'TokenResponse' })
export type TokenResponse = Static<typeof TokenResponseSchema>

export const OAuthErrorCodeSchema = Type.Union([
  Type.Literal('invalid_request'),
  Type.Literal('invalid_client'),
  Type.Literal('invalid_grant'),
  Type.Literal('unauthorized_client'),
  Type.Literal('unsupported_grant_type'),
  Type.Literal('invalid_scope'),
  Type.Literal('server_error'),
  Type.Literal('temporarily_unavailable')
])
export type OAuthErrorCode = Static<typeof OAuthErrorCodeSchema>

// RFC 6749 §5.2
export const OAuthErrorSchema = Type.Object({
  error: OAuthErrorCodeSchema,
  error_description: Type.Optional(Type.String())
}, { $id: 'OAuthError', title: 'OAuthError' })
export type OAuthError = Static<typeof OAuthErrorSchema>

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
}, { $id: 'Jwks', title: 'Jwks' })

// RFC 8414; only what this server really supports is advertised.
export const AuthorizationServerMetadataSchema = Type.Object({
  issuer: Type.String(),
  token_endpoint: Type.String(),
  jwks_uri: Type.String(),
  grant_types_supported: Type.Array(Type.String()),
  response_types_supported: Type.Array(Type.String()),
  token_endpoint_auth_methods_supported: Type.Array(Type.String()),
  scopes_supported: Type.Array(Type.String())
}, { $id: 'AuthorizationServerMetadata', title: 'AuthorizationServerMetadata' })
