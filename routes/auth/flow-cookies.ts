import type { FastifyReply } from 'fastify'
import type { UsersConfig } from '../../plugins/config.js'
import type { StartedUpstreamLogin } from '../../services/provider-login.js'

/**
 * The two cookies of a provider's flow: its state and PKCE verifier, on that provider's path
 * only, which bind the flow to the browser that began it.
 */
export function flowCookies (config: Pick<UsersConfig, 'paths' | 'secureCookies'>, providerName: string) {
  const options = { path: `${config.paths.provider(providerName).base}/`, secure: config.secureCookies, httpOnly: true, sameSite: 'lax' as const }
  const state = `fastify_users_${providerName}_state`
  const verifier = `fastify_users_${providerName}_verifier`
  return {
    state,
    verifier,
    set (reply: FastifyReply, started: StartedUpstreamLogin) {
      reply.setCookie(state, started.state, options).setCookie(verifier, started.codeVerifier, options)
    },
    clear (reply: FastifyReply) {
      reply.clearCookie(state, options).clearCookie(verifier, options)
    }
  }
}
