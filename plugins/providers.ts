import { createOAuthAccountService } from '../services/oauth-accounts.js'
import { defaultFields } from '../services/users.js'
import { createUpstreamProvider } from '../services/providers/index.js'
import { createProviderLogin, type ProviderLogin } from '../services/provider-login.js'
import type { ProviderButton } from '../views/pages.js'
import type { UsersConfig } from './config.js'
import type { UsersEventBus } from '../services/events.js'
import type { FastifyBaseLogger } from 'fastify'
import { failureReporter } from './store.js'

/** The upstream providers by name, linked accounts, and the login page's provider buttons. */
export async function setupProviders (config: UsersConfig, events: UsersEventBus, log: FastifyBaseLogger) {
  // OpenID Connect providers are discovered here: a wrong issuer fails start-up with its name.
  const providers = await Promise.all(config.providers.map((p) => createUpstreamProvider(p)))
  const byName = new Map(providers.map((p) => [p.name, p]))
  const oauth = createOAuthAccountService({
    store: config.store,
    tokenKey: config.oauthTokenKey,
    onAfterRegister: config.onAfterRegister,
    onOAuthLogin: config.onOAuthLogin,
    events,
    newUserFields: () => defaultFields(config.userFields),
    reportFailure: failureReporter(log)
  })
  /** The login page's buttons, carrying the pending authorization request, or (sign-in without a client) where to go back. */
  const loginProviders = (authorizeQuery: string, carried: 'authorize_query' | 'return_to' = 'authorize_query'): ProviderButton[] => providers.map((p) => ({
    name: p.name,
    label: p.label,
    url: `${config.paths.provider(p.name).authorize}?${new URLSearchParams({ [carried]: authorizeQuery }).toString()}`
  }))
  // Each provider's login flow, and its upstream token refresh for the linked accounts.
  const logins = new Map<string, ProviderLogin>()
  for (const provider of providers) {
    const paths = config.paths.provider(provider.name)
    const login = createProviderLogin({
      provider,
      store: config.store,
      callbacks: { login: config.issuer + paths.callback, associate: config.issuer + paths.associateCallback }
    })
    logins.set(provider.name, login)
    oauth.registerRefresher(provider.name, login.refresh)
  }
  return { providers: byName, oauth, loginProviders, logins }
}
