import { createOAuthAccountService } from '../services/oauth-accounts.js'
import { createUpstreamProvider } from '../services/providers/index.js'
import type { ProviderButton } from '../views/pages.js'
import type { UsersConfig } from './config.js'
import type { UsersEventBus } from '../services/events.js'

/** The upstream providers by name, linked accounts, and the login page's provider buttons. */
export async function setupProviders (config: UsersConfig, events: UsersEventBus) {
  // OpenID Connect providers are discovered here: a wrong issuer fails start-up with its name.
  const providers = await Promise.all(config.providers.map((p) => createUpstreamProvider(p)))
  const byName = new Map(providers.map((p) => [p.name, p]))
  const oauth = createOAuthAccountService({
    store: config.store,
    tokenKey: config.oauthTokenKey,
    onAfterRegister: config.onAfterRegister,
    onOAuthLogin: config.onOAuthLogin,
    events
  })
  const loginProviders = (authorizeQuery: string): ProviderButton[] => providers.map((p) => ({
    name: p.name,
    label: p.label,
    url: `${config.paths.provider(p.name).authorize}?${new URLSearchParams({ authorize_query: authorizeQuery }).toString()}`
  }))
  return { providers: byName, oauth, loginProviders }
}
