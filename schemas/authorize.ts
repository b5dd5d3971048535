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
