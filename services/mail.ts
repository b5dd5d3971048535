import nodemailer, { type Transporter } from 'nodemailer'
import type { MailInput, MailKind, MailTemplates, MailTransportObject, RenderedMail } from '../schemas/mail.js'

export type { MailInput, MailKind, MailTemplates, MailTransportObject, RenderedMail } from '../schemas/mail.js'

/** The one logger method we use; Fastify's logger (pino) fits. */
export interface MailLog {
  error (obj: object, msg: string): void
}

export interface CreateMailerOptions {
  /** An smtp:// or smtps:// URL, or a nodemailer transporter, transport plugin or transport options. */
  transport: string | MailTransportObject
  /** The From header: a bare address or `"Name" <address>`. */
  from: string
  /** Every kind's template: the defaults (views/mail.ts) with the app's own over them. */
  templates: MailTemplates
  log: MailLog
}

export interface Mailer {
  /**
   * Renders and sends one mail to `to`, a single bare address. Resolves true once the
   * transport took it, false when anything failed (logged, without the link or the body):
   * a mail is a side effect of a request that must answer the same either way.
   */
  send<K extends MailKind> (kind: K, to: string, input: MailInput[K]): Promise<boolean>
  /** Closes the transport we made; a transporter the app passed in stays the app's to close. */
  close (): void
}

// nodemailer waits 2 minutes for a connection and 30 s for the greeting by default; a mail
// sent in the background would hold its socket that long for a server that is gone. Only for
// a URL: an app that hands us its own transport has chosen its timeouts. The URL's query
// (?greetingTimeout=...) still wins over these.
const SMTP_TIMEOUTS = { connectionTimeout: 5000, greetingTimeout: 5000, socketTimeout: 10000 }

// One bare address and nothing else. nodemailer parses a string `to` as an address list, in
// which "a@example.com\r\nBcc: b@example.com" becomes a group that delivers to b only and
// "a@example.com, b@example.com" two recipients; so no separators, quotes, brackets,
// whitespace or control characters get through.
const ONE_ADDRESS = /^[^\s@<>()[\]\\,;:"\p{Cc}\p{Cf}]+@[^\s@<>()[\]\\,;:"\p{Cc}\p{Cf}]+$/u
const MAX_ADDRESS = 254

const isOneAddress = (to: string) => typeof to === 'string' && to.length <= MAX_ADDRESS && ONE_ADDRESS.test(to)

/**
 * What we log of a failure. nodemailer's errors carry the server's `response`, which a
 * filter that refuses a message may fill with the URL it disliked (our link, with its
 * token), and a template's error may quote its input; so only the code, the SMTP reply code,
 * the command and the message with the links and addresses taken out. No `cause`: pino
 * would log it whole.
 */
export class MailError extends Error {
  code?: string
  responseCode?: number
  command?: string
}

const URL_IN_TEXT = /\bhttps?:\/\/\S+/gi
const SMTP_COMMAND = /^[A-Z][A-Z ]{0,15}$/

function loggable (err: unknown, secrets: string[]): MailError {
  const source = err instanceof Error ? err : undefined
  let message = source ? source.message : 'a non-error was thrown'
  for (const secret of secrets) if (secret) message = message.split(secret).join('[redacted]')
  const safe = new MailError(message.replace(URL_IN_TEXT, '[redacted url]'))
  const fields = (source ?? {}) as { code?: unknown, responseCode?: unknown, command?: unknown }
  if (typeof fields.code === 'string') safe.code = fields.code
  if (typeof fields.responseCode === 'number') safe.responseCode = fields.responseCode
  if (typeof fields.command === 'string' && SMTP_COMMAND.test(fields.command)) safe.command = fields.command
  // The original's frames say where it failed; its first line holds the unredacted message.
  const frames = source?.stack?.split('\n').filter((line) => /^\s+at /.test(line)) ?? []
  safe.stack = [`MailError: ${safe.message}`, ...frames].join('\n')
  return safe
}

function secretsOf (to: string, input: object): string[] {
  const values: string[] = [to]
  for (const key of ['link', 'email', 'newEmail'] as const) {
    const value = (input as Partial<Record<typeof key, unknown>>)[key]
    if (typeof value === 'string') values.push(value)
  }
  // Longest first: a link holding an address goes whole, before the address in it breaks the match.
  return values.filter((v) => v.length > 0).sort((a, b) => b.length - a.length)
}

function isTransporter (transport: MailTransportObject): transport is Transporter {
  return typeof (transport as Partial<Transporter>).sendMail === 'function'
}

async function render<K extends MailKind> (templates: MailTemplates, kind: K, input: MailInput[K]): Promise<RenderedMail> {
  const template = templates[kind] as (input: MailInput[K]) => RenderedMail | Promise<RenderedMail>
  const mail: Partial<RenderedMail> | null | undefined = await template(input)
  if (typeof mail?.subject !== 'string' || typeof mail.text !== 'string' || typeof mail.html !== 'string') {
    throw new Error(`the ${kind} template returned no subject, text and html strings`)
  }
  return mail as RenderedMail
}

/** Throws only on a transport nodemailer refuses to build: at startup, where it should. */
export function createMailer ({ transport, from, templates, log }: CreateMailerOptions): Mailer {
  let transporter: Transporter
  let ours = true
  if (typeof transport === 'string') {
    transporter = nodemailer.createTransport({ ...SMTP_TIMEOUTS, url: transport })
  } else if (isTransporter(transport)) {
    transporter = transport
    ours = false
  } else {
    transporter = nodemailer.createTransport(transport)
  }

  return {
    async send (kind, to, input) {
      try {
        if (!isOneAddress(to)) {
          throw Object.assign(new Error('the recipient is not one plain address'), { code: 'EENVELOPE' })
        }
        const mail = await render(templates, kind, input)
        await transporter.sendMail({
          from,
          // An address object, not a string: nodemailer takes it as one address and writes
          // the header itself, so nothing in it is parsed as another recipient or header.
          to: { name: '', address: to },
          subject: mail.subject,
          text: mail.text,
          html: mail.html,
          // Our mails attach nothing: a template cannot make nodemailer read a file or a URL.
          disableFileAccess: true,
          disableUrlAccess: true
        })
        return true
      } catch (err) {
        log.error({ err: loggable(err, secretsOf(to, input)), kind }, 'fastify-users: sending mail failed')
        return false
      }
    },
    close () {
      if (ours) transporter.close()
    }
  }
}
