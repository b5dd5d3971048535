import fp from 'fastify-plugin'
import { createOAuthAccountService, type OAuthAccountService } from '../services/oauth-accounts.js'
import { createUpstreamProvider, type UpstreamProvider } from '../services/providers/index.js'
import type { ProviderButton } from '../routes/oauth/pages.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The configured upstream providers, by name. */
    usersProviders: ReadonlyMap<string, UpstreamProvider>
    /** Linked provider accounts: linking rules, unlinking, the user's upstream tokens. */
    usersOAuth: OAuthAccountService
    /** The login page's provider buttons, each carrying the pending authorization request. */
    usersLoginProviders: (authorizeQuery: string) => ProviderButton[]
  }
}

export default fp(async function usersProvidersPlugin (app) {
  const config = app.usersConfig
  // OpenID Connect providers are discovered here: a wrong issuer fails start-up with its name.
  const providers = await Promise.all(config.providers.map((p) => createUpstreamProvider(p)))
  app.decorate('usersProviders', new Map(providers.map((p) => [p.name, p])))
  app.decorate('usersOAuth', createOAuthAccountService({
    store: config.store,
    tokenKey: config.oauthTokenKey,
    onAfterRegister: config.onAfterRegister,
    onOAuthLogin: config.onOAuthLogin
  }))
  app.decorate('usersLoginProviders', (authorizeQuery: string) => providers.map((p) => ({
    name: p.name,
    label: p.label,
    url: `${config.prefix}/auth/${p.name}/authorize?${new URLSearchParams({ authorize_query: authorizeQuery }).toString()}`
  })))
}, { name: 'fastify-users-providers', fastify: '5.x', dependencies: ['fastify-users-config', 'fastify-users-store'] })
