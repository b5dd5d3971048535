import type { FastifyInstance } from 'fastify'
import type { UsersEventName, UsersEvents } from '../../index.js'

const NAMES: UsersEventName[] = ['userCreated', 'login', 'logout', 'tokenIssued', 'refreshReuse', 'accountLinked', 'accountUnlinked']

export type Recorded = { [E in UsersEventName]: [E, UsersEvents[E]] }[UsersEventName]

/** Every event the app emits from now on, in order. */
export function recordEvents (app: FastifyInstance): Recorded[] {
  const seen: Recorded[] = []
  for (const name of NAMES) app.users.on(name, (payload) => { seen.push([name, payload] as Recorded) })
  return seen
}
