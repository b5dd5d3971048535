import { Type, type Static } from '@sinclair/typebox'
import type { Transport, TransportConfig, Transporter } from 'nodemailer'

// The mails live here, below services, so that the option's type can name the templates and
// both the mailer (services/) and the default templates (views/) can share one definition.

/** What we mail: a verification link, a reset link, and two notices after a change. */
export type MailKind = 'verify' | 'reset' | 'emailChanged' | 'passwordChanged'

/** What each template gets. `site` is the name the user knows the service by. */
export interface MailInput {
  /** A link that verifies `email`. The link holds a one-time token: never log it. */
  verify: { email: string, link: string, expiresInMinutes: number, site: string }
  /** A link that sets a new password for `email`. The link holds a one-time token: never log it. */
  reset: { email: string, link: string, expiresInMinutes: number, site: string }
  /** Sent to the old address (`email`): the account's address is now `newEmail`. */
  emailChanged: { email: string, newEmail: string, site: string }
  /** Sent to the account's address after its password changed. */
  passwordChanged: { email: string, site: string }
}

export interface RenderedMail {
  subject: string
  text: string
  html: string
}

/** One function per kind; an app may replace any of them with its own. */
export type MailTemplates = {
  [K in MailKind]: (input: MailInput[K]) => RenderedMail | Promise<RenderedMail>
}

/** A nodemailer transporter, a transport plugin, or the options of one of nodemailer's transports. */
export type MailTransportObject = Transporter | Transport | TransportConfig

// Loose on purpose beyond the scheme: nodemailer reads the rest (credentials, port, query
// options such as ?pool=true), and an IPv6 host comes in brackets.
const SMTP_URL = '^smtps?://(?:[^\\s/?#]*@)?(?:\\[[0-9A-Fa-f:.]+\\]|[^\\s/?#@:\\[\\]]+)(?::[0-9]{1,5})?/?(?:\\?[^\\s#]*)?$'

// A bare address or `Display Name <address>`; no control characters, so no header can be
// smuggled through the option either.
const ADDRESS = '[^\\s@<>()\\[\\]\\\\,;:"]+@[^\\s@<>()\\[\\]\\\\,;:"]+'
const MAILBOX = `^(?:${ADDRESS}|[^\\x00-\\x1f\\x7f<>]*<${ADDRESS}>)$`

// TypeBox checks only that a template is a function; the type says what it takes and returns.
const template = <K extends MailKind>(description: string) =>
  Type.Optional(Type.Unsafe<MailTemplates[K]>(Type.Function([], Type.Unknown(), {
    description: `(input) => { subject, text, html }, or a promise of it: ${description}`
  })))

export const MailerOptionsSchema = Type.Object({
  transport: Type.Union([
    Type.String({
      pattern: SMTP_URL,
      maxLength: 2048,
      description: 'An SMTP URL: smtp://user:pass@host:587 (STARTTLS when offered) or smtps://user:pass@host:465; query options are passed to nodemailer'
    }),
    Type.Unsafe<MailTransportObject>(Type.Object({}, {
      additionalProperties: true,
      description: 'A nodemailer transporter (from createTransport), a transport plugin ({ name, version, send(mail, callback) }) or the options of a nodemailer transport'
    }))
  ]),
  from: Type.String({
    pattern: MAILBOX,
    maxLength: 320,
    description: 'The sender: "Example" <no-reply@example.com> or no-reply@example.com'
  }),
  templates: Type.Optional(Type.Object({
    verify: template<'verify'>('the verification link (input: email, link, expiresInMinutes, site)'),
    reset: template<'reset'>('the password reset link (input: email, link, expiresInMinutes, site)'),
    emailChanged: template<'emailChanged'>('notice to the old address (input: email, newEmail, site)'),
    passwordChanged: template<'passwordChanged'>('notice of a new password (input: email, site)')
  }, {
    additionalProperties: false,
    description: 'Replaces the default template of a kind; the others stay'
  }))
}, { additionalProperties: false, description: 'Sends verification and password reset links, and notices of account changes' })

export type MailerOptions = Static<typeof MailerOptionsSchema>
