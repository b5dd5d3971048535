import { Type, type Static } from '@sinclair/typebox'

const param = (description: string, maxLength = 2048) => Type.Optional(Type.String({ maxLength, description }))

// Every parameter optional and a plain string: which ones are missing or wrong is decided
// by the authorization request's own checks, whose errors depend on whether the client
// and redirect URI are trusted yet (RFC 6749 §4.1.2.1).
export const AuthorizeQuerySchema = Type.Object({
  response_type: param('code'),
  client_id: param('The client'),
  redirect_uri: param('One of the client\'s registered redirect URIs'),
  scope: param('Space-separated scopes'),
  state: param('Echoed back to the client'),
  code_challenge: param('PKCE challenge (RFC 7636)', 128),
  code_challenge_method: param('S256', 16),
  nonce: param('Echoed in the id_token (OIDC)', 512),
  prompt: param('none, login or consent (OIDC)', 64),
  max_age: param('Seconds since the last sign-in after which the user must sign in again (OIDC)', 16),
  response_mode: param('query', 32),
  login_hint: param('Email to prefill on the login page', 320),
  request: param('Not supported'),
  request_uri: param('Not supported')
}, { additionalProperties: true })
export type AuthorizeQuery = Static<typeof AuthorizeQuerySchema>

/**
 * The authorization request as clients must send it, for the OpenAPI document only: requests
 * are validated with AuthorizeQuerySchema above, so that a wrong one gets the answer RFC 6749
 * §4.1.2.1 asks for (on a page, or at the redirect URI), never a bare 400.
 */
export const AuthorizeRequestSchema = Type.Object({
  response_type: Type.Literal('code', { description: 'Only the authorization code flow' }),
  client_id: Type.String({ maxLength: 2048, description: 'The client' }),
  redirect_uri: Type.Optional(Type.String({ format: 'uri', maxLength: 2048, description: 'One of the client\'s registered redirect URIs; required when it has several, or a loopback one (any port)' })),
  scope: Type.Optional(Type.String({ maxLength: 2048, description: 'Space-separated scopes; without it, the default scopes. Scopes the client or user may not have are left out (the token response says what was granted)' })),
  state: Type.Optional(Type.String({ maxLength: 2048, description: 'Echoed back to the client' })),
  code_challenge: Type.String({ pattern: '^[A-Za-z0-9_-]{43}$', description: 'PKCE challenge (RFC 7636): BASE64URL(SHA-256(code_verifier)). Required, except for a confidential client registered with requirePkce: false' }),
  code_challenge_method: Type.Literal('S256', { description: 'Only S256' }),
  nonce: Type.Optional(Type.String({ maxLength: 512, description: 'Echoed in the id_token (OpenID Connect)' })),
  prompt: Type.Optional(Type.String({ pattern: '^(none|login|consent)( (login|consent))*$', description: 'Space-separated: none (answer without any page; login_required when not signed in, alone only), login (sign in again), consent (ask again)' })),
  max_age: Type.Optional(Type.Integer({ minimum: 0, maximum: 9999999999, description: 'A sign-in older than this many seconds must be repeated (OpenID Connect)' })),
  response_mode: Type.Optional(Type.Literal('query')),
  login_hint: Type.Optional(Type.String({ maxLength: 320, description: 'Email to prefill on the login page' }))
})

const hidden = {
  // The authorization request, carried through the form unchanged and checked again.
  authorize_query: Type.String({ maxLength: 8192 }),
  csrf_token: Type.String({ maxLength: 256 })
}

export const LoginFormSchema = Type.Object({
  ...hidden,
  email: Type.String({ maxLength: 320 }),
  password: Type.String({ maxLength: 1024 })
}, { additionalProperties: false })
export type LoginForm = Static<typeof LoginFormSchema>

export const ConsentFormSchema = Type.Object({
  ...hidden,
  decision: Type.Union([Type.Literal('allow'), Type.Literal('deny')])
}, { additionalProperties: false })
export type ConsentForm = Static<typeof ConsentFormSchema>
