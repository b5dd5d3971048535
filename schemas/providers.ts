import { Type, type Static } from '@sinclair/typebox'

/**
 * One upstream provider in the options. Every preset has its own routes under
 * /auth/<name>/ and a button on the login page.
 */
export const ProviderOptionSchema = Type.Object({
  name: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,39}$', description: 'URL segment: routes live under /auth/<name>/' }),
  type: Type.Union([
    Type.Literal('oidc'), Type.Literal('google'), Type.Literal('microsoft'), Type.Literal('github'), Type.Literal('discord')
  ], { description: 'oidc: any OpenID Connect provider, by discovery (Keycloak, ORY Hydra, Auth0, Okta, ...)' }),
  label: Type.Optional(Type.String({ minLength: 1, maxLength: 60, description: 'Button text after "Continue with"' })),
  clientId: Type.String({ minLength: 1, maxLength: 512 }),
  clientSecret: Type.String({ minLength: 1, maxLength: 2048 }),
  issuer: Type.Optional(Type.String({
    pattern: '^https?://[^?#]+$',
    description: 'oidc: the issuer to discover (required). google, microsoft: replaces the public issuer (sovereign clouds, tests)'
  })),
  tenant: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9.-]+$', description: 'microsoft: a tenant id or domain, or common, organizations, consumers (default common)' })),
  apiBaseUrl: Type.Optional(Type.String({ pattern: '^https?://[^?#]+$', description: 'github, discord: API base URL (GitHub Enterprise, tests)' })),
  authorizationUrl: Type.Optional(Type.String({ pattern: '^https?://[^#]+$', description: 'github, discord: replaces the authorization endpoint' })),
  tokenUrl: Type.Optional(Type.String({ pattern: '^https?://[^?#]+$', description: 'github, discord: replaces the token endpoint' })),
  scopes: Type.Optional(Type.Array(Type.String({ pattern: '^[\\x21\\x23-\\x5B\\x5D-\\x7E]+$' }), { description: 'Upstream scopes; default per preset' })),
  associateByEmail: Type.Optional(Type.Boolean({
    description: 'Link a first login to an existing user with the same email, only when the provider says the email is verified (default false)'
  })),
  isVerifiedByDefault: Type.Optional(Type.Boolean({
    description: 'Users created through this provider start verified, when the provider says their email is verified (default false)'
  }))
}, { additionalProperties: false })
export type ProviderOption = Static<typeof ProviderOptionSchema>

/** What every preset makes of a provider's answers. */
export const UpstreamProfileSchema = Type.Object({
  accountId: Type.String({ minLength: 1, maxLength: 256 }),
  email: Type.Union([Type.String({ minLength: 3, maxLength: 320 }), Type.Null()]),
  emailVerified: Type.Boolean()
})
export type UpstreamProfile = Static<typeof UpstreamProfileSchema>

/** OpenID Connect Discovery 1.0 §3, the fields we use. */
export const OidcMetadataSchema = Type.Object({
  issuer: Type.String({ minLength: 1 }),
  authorization_endpoint: Type.String({ pattern: '^https?://' }),
  token_endpoint: Type.String({ pattern: '^https?://' }),
  jwks_uri: Type.String({ pattern: '^https?://' }),
  userinfo_endpoint: Type.Optional(Type.String({ pattern: '^https?://' })),
  id_token_signing_alg_values_supported: Type.Optional(Type.Array(Type.String())),
  code_challenge_methods_supported: Type.Optional(Type.Array(Type.String())),
  authorization_response_iss_parameter_supported: Type.Optional(Type.Boolean())
}, { additionalProperties: true })
export type OidcMetadata = Static<typeof OidcMetadataSchema>

/** The token response (RFC 6749 §5.1), as far as we read it. */
export const UpstreamTokenSchema = Type.Object({
  access_token: Type.String({ minLength: 1 }),
  token_type: Type.Optional(Type.String()),
  refresh_token: Type.Optional(Type.String({ minLength: 1 })),
  expires_in: Type.Optional(Type.Union([Type.Number(), Type.String()])),
  id_token: Type.Optional(Type.String({ minLength: 1 })),
  scope: Type.Optional(Type.String())
}, { additionalProperties: true })
export type UpstreamToken = Static<typeof UpstreamTokenSchema>

/** OIDC Core §2 id_token claims, the ones we read (after jose checked signature, iss, aud, exp). */
export const IdTokenClaimsSchema = Type.Object({
  sub: Type.String({ minLength: 1, maxLength: 255 }),
  nonce: Type.Optional(Type.String()),
  email: Type.Optional(Type.String()),
  email_verified: Type.Optional(Type.Union([Type.Boolean(), Type.Literal('true'), Type.Literal('false')])),
  tid: Type.Optional(Type.String()),
  azp: Type.Optional(Type.String())
}, { additionalProperties: true })

/** OIDC Core §5.3.2 userinfo, the fields we use. */
export const OidcUserinfoSchema = Type.Object({
  sub: Type.String({ minLength: 1 }),
  email: Type.Optional(Type.String()),
  email_verified: Type.Optional(Type.Union([Type.Boolean(), Type.Literal('true'), Type.Literal('false')]))
}, { additionalProperties: true })

/** GitHub REST: GET /user. */
export const GithubUserSchema = Type.Object({
  id: Type.Integer(),
  login: Type.String(),
  email: Type.Union([Type.String(), Type.Null()])
}, { additionalProperties: true })

/** GitHub REST: GET /user/emails. */
export const GithubEmailsSchema = Type.Array(Type.Object({
  email: Type.String(),
  primary: Type.Boolean(),
  verified: Type.Boolean()
}, { additionalProperties: true }))

/** Discord: GET /users/@me (scopes identify email). */
export const DiscordUserSchema = Type.Object({
  id: Type.String({ pattern: '^[0-9]+$' }),
  username: Type.String(),
  email: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  verified: Type.Optional(Type.Boolean())
}, { additionalProperties: true })
