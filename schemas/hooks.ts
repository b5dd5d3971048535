// The shapes of the functions an app hands us in its options: declared here, with the
// options, so that the option schema depends on nothing above it.
import type { User } from './user.js'

export type GrantType = 'authorization_code' | 'refresh_token' | 'password' | 'client_credentials'

/** What an app's accessTokenClaims hook is told about the token being issued. */
export interface AccessTokenClaimsInput {
  /** null for a token a client gets for itself (client_credentials). */
  user: User | null
  clientId: string
  scopes: string[]
  grantType: GrantType
}

export type AccessTokenClaimsHook = (input: AccessTokenClaimsInput) => Record<string, unknown> | Promise<Record<string, unknown>>

/** What onOAuthLogin is told about a sign-in through a provider. */
export interface OAuthLoginInfo {
  provider: string
  accountId: string
  /** A new user was made for this login. */
  created: boolean
  /** The account was linked to an existing user by this login. */
  linked: boolean
}
