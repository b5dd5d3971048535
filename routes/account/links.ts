import { Value } from '@sinclair/typebox/value'
import type { UsersConfig } from '../../plugins/config.js'
import type { AccountLinks } from '../../views/pages.js'

type AccountConfig = Pick<UsersConfig, 'paths' | 'registration' | 'userFields'>

/**
 * Whether people may create an account on our register page. Its form asks for an email and
 * a password only: an app whose own user fields cannot all be left out (a required field
 * without a default) registers its users through its own form and POST /auth/register.
 */
export function registerPageEnabled (config: AccountConfig): boolean {
  return config.registration && Value.Check(config.userFields, Value.Default(config.userFields, {}))
}

/** The login page's links to the account pages, each carrying the pending authorization request. */
export function accountLinks (config: AccountConfig): (authorizeQuery: string) => AccountLinks {
  const register = registerPageEnabled(config)
  const { registerPage, forgotPasswordPage } = config.paths
  return (authorizeQuery) => {
    const carried = `?${new URLSearchParams({ authorize_query: authorizeQuery }).toString()}`
    return { ...(register && { register: registerPage + carried }), forgotPassword: forgotPasswordPage + carried }
  }
}
