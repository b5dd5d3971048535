import type { FastifyInstance } from 'fastify'
import { createMailer } from '../services/mail.js'
import type { AccountNotifier } from '../services/users.js'
import { defaultMailTemplates } from '../views/mail.js'
import type { UsersConfig } from './config.js'

/**
 * The mailer of the `mailer` option, as the user service's notifier: each notice starts its
 * sending and returns (a failure is logged by the mailer, never seen by the request). Without
 * the option there is no notifier, and the events carry the links for the app to send.
 */
export function setupMail (app: FastifyInstance, config: UsersConfig): AccountNotifier | undefined {
  const options = config.mailer
  if (options === undefined) return undefined
  const mailer = createMailer({
    transport: options.transport,
    from: options.from,
    templates: { ...defaultMailTemplates, ...options.templates },
    log: app.log
  })
  app.addHook('onClose', async () => { mailer.close() })
  const site = new URL(config.issuer).host
  const minutes = (seconds: number) => Math.round(seconds / 60)
  // Each send is started, not awaited: it never rejects (failures are logged by the mailer).
  return {
    verify (user, link) { mailer.send('verify', user.email, { email: user.email, link, expiresInMinutes: minutes(config.verifyTokenTtl), site }) },
    reset (user, link) { mailer.send('reset', user.email, { email: user.email, link, expiresInMinutes: minutes(config.resetPasswordTokenTtl), site }) },
    emailChanged (oldEmail, user) { mailer.send('emailChanged', oldEmail, { email: oldEmail, newEmail: user.email, site }) },
    passwordChanged (user) { mailer.send('passwordChanged', user.email, { email: user.email, site }) }
  }
}
