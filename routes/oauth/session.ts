import type { FastifyReply, FastifyRequest } from 'fastify'
import { COOKIES } from '../../plugins/cookies.js'
import type { UsersConfig } from '../../plugins/config.js'
import type { UsersContext } from '../../plugins/context.js'

/**
 * Signs the browser in: a new session id at every login, so that an id planted before
 * login is worth nothing after it. Used by the password form and by provider callbacks.
 */
export async function signInBrowser (ctx: Pick<UsersContext, 'cookies' | 'sessions' | 'config'>, request: FastifyRequest, reply: FastifyReply, userId: string): Promise<void> {
  const cookies = ctx.cookies
  const previous = cookies.read(request, COOKIES.session)
  if (previous !== undefined) await ctx.sessions.discard(previous)
  const { id } = await ctx.sessions.start(userId)
  cookies.write(reply, COOKIES.session, id, ctx.config.sessionTtl)
}

/**
 * Where the browser goes after signing in: the pending authorization request, with
 * prompt=login and max_age satisfied by the sign-in that just happened.
 */
export function resumeAuthorizeUrl (config: Pick<UsersConfig, 'paths'>, authorizeQuery: string): string {
  const resumed = new URLSearchParams(authorizeQuery)
  resumed.delete('max_age')
  const prompt = (resumed.get('prompt') ?? '').split(' ').filter((p) => p !== '' && p !== 'login')
  if (prompt.length > 0) resumed.set('prompt', prompt.join(' '))
  else resumed.delete('prompt')
  return `${config.paths.authorize}?${resumed.toString()}`
}
