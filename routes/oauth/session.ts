import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { COOKIES } from '../../plugins/cookies.js'

/**
 * Signs the browser in: a new session id at every login, so that an id planted before
 * login is worth nothing after it. Used by the password form and by provider callbacks.
 */
export async function signInBrowser (app: FastifyInstance, request: FastifyRequest, reply: FastifyReply, userId: string): Promise<void> {
  const cookies = app.usersCookies
  const previous = cookies.read(request, COOKIES.session)
  if (previous !== undefined) await app.usersSessions.discard(previous)
  const { id } = await app.usersSessions.start(userId)
  cookies.write(reply, COOKIES.session, id, app.usersConfig.sessionTtl)
}

/**
 * Where the browser goes after signing in: the pending authorization request, with
 * prompt=login and max_age satisfied by the sign-in that just happened.
 */
export function resumeAuthorizeUrl (app: FastifyInstance, authorizeQuery: string): string {
  const resumed = new URLSearchParams(authorizeQuery)
  resumed.delete('max_age')
  const prompt = (resumed.get('prompt') ?? '').split(' ').filter((p) => p !== '' && p !== 'login')
  if (prompt.length > 0) resumed.set('prompt', prompt.join(' '))
  else resumed.delete('prompt')
  return `${app.usersConfig.prefix}/oauth/authorize?${resumed.toString()}`
}
