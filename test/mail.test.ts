import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import escapeHtml from 'escape-html'
import Fastify from 'fastify'
import nodemailer, { type MailMessage, type SentMessageInfo } from 'nodemailer'
import type { AddressObject } from 'mailparser'
import { Value } from '@sinclair/typebox/value'
import { createMailer, type CreateMailerOptions, type MailKind, type MailLog, type MailTemplates, type MailTransportObject } from '../services/mail.js'
import { defaultMailTemplates } from '../views/mail.js'
import { MailerOptionsSchema } from '../schemas/mail.js'
import { linkIn, refusedSmtpUrl, startSilentServer, startSmtpServer, type ReceivedMail, type TestSmtpServer } from './support/smtp.js'

const FROM = '"Example" <no-reply@example.com>'
const TOKEN = 'tok_9f8e7d6c5b4a'
const LINK = `https://app.example.com/auth/verify?token=${TOKEN}&next=%2Fhome`

interface LogEntry { obj: Record<string, unknown>, msg: string }

function recordingLog (): MailLog & { entries: LogEntry[] } {
  const entries: LogEntry[] = []
  return { entries, error (obj, msg) { entries.push({ obj: obj as Record<string, unknown>, msg }) } }
}

async function smtp (t: TestContext, options?: Parameters<typeof startSmtpServer>[0]): Promise<TestSmtpServer> {
  const server = await startSmtpServer(options)
  t.after(() => server.close())
  return server
}

function mailer (t: TestContext, transport: string | MailTransportObject, options: Partial<CreateMailerOptions> = {}) {
  const log = recordingLog()
  const m = createMailer({ transport, from: FROM, templates: defaultMailTemplates, log, ...options })
  t.after(() => m.close())
  return { ...m, log }
}

const to = (address: string) => (mail: ReceivedMail) => mail.envelope.to.includes(address)

test('a verify mail arrives from the sender to the recipient, with its subject and the link in the text and the HTML', async (t) => {
  const server = await smtp(t)
  const { send, log } = mailer(t, server.url)

  assert.equal(await send('verify', 'ada@example.com', { email: 'ada@example.com', link: LINK, expiresInMinutes: 60, site: 'Example' }), true)
  const mail = await server.nextMail(to('ada@example.com'))

  assert.deepEqual(mail.envelope, { from: 'no-reply@example.com', to: ['ada@example.com'] })
  assert.deepEqual(mail.from?.value, [{ address: 'no-reply@example.com', name: 'Example' }])
  assert.equal((mail.to as AddressObject).text, 'ada@example.com')
  assert.equal(mail.subject, 'Verify your email address for Example')
  assert.equal(linkIn(mail), LINK)
  assert.match(mail.text ?? '', /expires in 1 hour/)
  assert.equal(typeof mail.html, 'string')
  const html = mail.html as string
  // As a link and as text to copy, escaped (& → &amp;) both times.
  assert.ok(html.includes(`href="${escapeHtml(LINK)}"`), html)
  assert.ok(html.includes(`>${escapeHtml(LINK)}</a>`), html)
  assert.ok(!html.includes(LINK), 'the raw & is escaped in the HTML')
  assert.deepEqual(log.entries, [])
})

test('reset, email-changed and password-changed mails arrive with their subjects and values', async (t) => {
  const server = await smtp(t)
  const { send } = mailer(t, server.url)
  const resetLink = `https://app.example.com/reset?token=${TOKEN}`

  assert.equal(await send('reset', 'bob@example.com', { email: 'bob@example.com', link: resetLink, expiresInMinutes: 30, site: 'Example' }), true)
  assert.equal(await send('emailChanged', 'old@example.com', { email: 'old@example.com', newEmail: 'new@example.com', site: 'Example' }), true)
  assert.equal(await send('passwordChanged', 'cy@example.com', { email: 'cy@example.com', site: 'Example' }), true)

  const reset = await server.nextMail(to('bob@example.com'))
  assert.equal(reset.subject, 'Reset your password for Example')
  assert.equal(linkIn(reset), resetLink)
  assert.ok((reset.html as string).includes(`href="${resetLink}"`))
  assert.match(reset.text ?? '', /expires in 30 minutes/)

  const changed = await server.nextMail(to('old@example.com'))
  assert.equal(changed.subject, 'Your email address was changed')
  assert.match(changed.text ?? '', /from old@example\.com to new@example\.com/)
  assert.ok((changed.html as string).includes('new@example.com'))
  assert.ok(!changed.envelope.to.includes('new@example.com'), 'the notice goes to the old address only')

  const password = await server.nextMail(to('cy@example.com'))
  assert.equal(password.subject, 'Your password was changed')
  assert.match(password.text ?? '', /cy@example\.com at Example was changed/)
})

test('an app template replaces its kind and the other kinds keep the default', async (t) => {
  const server = await smtp(t)
  const templates: MailTemplates = {
    ...defaultMailTemplates,
    passwordChanged: async ({ site }) => ({ subject: `New password at ${site}`, text: 'custom text', html: '<p>custom html</p>' })
  }
  const { send } = mailer(t, server.url, { templates })

  assert.equal(await send('passwordChanged', 'ada@example.com', { email: 'ada@example.com', site: 'Example' }), true)
  assert.equal(await send('verify', 'bob@example.com', { email: 'bob@example.com', link: LINK, expiresInMinutes: 1440, site: 'Example' }), true)

  const custom = await server.nextMail(to('ada@example.com'))
  assert.equal(custom.subject, 'New password at Example')
  assert.equal(custom.text?.trim(), 'custom text')
  assert.equal((custom.html as string).trim(), '<p>custom html</p>')
  const standard = await server.nextMail(to('bob@example.com'))
  assert.equal(standard.subject, 'Verify your email address for Example')
  assert.match(standard.text ?? '', /expires in 1 day/)
})

test('markup in a user-controlled value is escaped in the HTML part', async (t) => {
  const server = await smtp(t)
  const { send } = mailer(t, server.url)
  const evil = '<script>alert(1)</script>@example.com'

  assert.equal(await send('emailChanged', 'old@example.com', { email: 'old@example.com', newEmail: evil, site: 'Example' }), true)
  const mail = await server.nextMail(to('old@example.com'))
  const html = mail.html as string
  assert.ok(!/<script/i.test(html), html)
  assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;@example.com'), html)
  assert.ok(mail.text?.includes(evil), 'the text part shows it as it is')

  // Every default template, every value: nothing opens a tag or leaves an attribute.
  const markup = '"><script>x</script>'
  const inputs: { [K in MailKind]: Parameters<MailTemplates[K]>[0] } = {
    verify: { email: markup, link: `https://x.example/?t=${markup}`, expiresInMinutes: 5, site: markup },
    reset: { email: markup, link: `https://x.example/?t=${markup}`, expiresInMinutes: 5, site: markup },
    emailChanged: { email: markup, newEmail: markup, site: markup },
    passwordChanged: { email: markup, site: markup }
  }
  for (const kind of Object.keys(inputs) as MailKind[]) {
    const rendered = await (defaultMailTemplates[kind] as (input: unknown) => Promise<{ html: string }>)(inputs[kind])
    assert.ok(!rendered.html.includes('<script'), `${kind}: ${rendered.html}`)
    assert.ok(!rendered.html.includes(markup), `${kind}: ${rendered.html}`)
    assert.ok(rendered.html.includes(escapeHtml(markup)), `${kind}: ${rendered.html}`)
  }
})

test('a CR/LF in the recipient cannot add a recipient or a header: the send is refused and logged', async (t) => {
  const server = await smtp(t)
  const { send, log } = mailer(t, server.url)
  const input = { email: 'victim@example.com', link: LINK, expiresInMinutes: 60, site: 'Example' }

  // Given as a string to nodemailer, the first would be delivered to evil@example.com only,
  // and the second to both.
  for (const address of [
    'victim@example.com\r\nBcc: evil@example.com',
    'victim@example.com\nBcc: evil@example.com',
    'victim@example.com, evil@example.com',
    'Victim <victim@example.com>, evil@example.com'
  ]) {
    assert.equal(await send('verify', address, input), false, JSON.stringify(address))
  }
  assert.equal(log.entries.length, 4)
  for (const entry of log.entries ?? []) {
    assert.equal(entry.msg, 'fastify-users: sending mail failed')
    assert.equal(entry.obj.kind, 'verify')
    assert.equal((entry.obj.err as { code?: string }).code, 'EENVELOPE')
    assert.ok(!JSON.stringify(entry.obj).includes(TOKEN))
  }

  // A good mail after them is the only one the server ever sees.
  assert.equal(await send('verify', 'victim@example.com', input), true)
  await server.nextMail(to('victim@example.com'))
  assert.equal(server.mails.length, 1)
  const [mail] = server.mails
  assert.deepEqual(mail?.envelope.to, ['victim@example.com'])
  assert.equal(mail?.headers.has('bcc'), false)
})

test('a CR/LF in a template value stays inside its header', async (t) => {
  const server = await smtp(t)
  const { send } = mailer(t, server.url)

  assert.equal(await send('verify', 'ada@example.com', { email: 'ada@example.com', link: LINK, expiresInMinutes: 60, site: 'Example\r\nBcc: evil@example.com' }), true)
  const mail = await server.nextMail(to('ada@example.com'))
  assert.deepEqual(mail.envelope.to, ['ada@example.com'])
  assert.equal(mail.headers.has('bcc'), false)
  assert.match(mail.subject ?? '', /^Verify your email address for Example\s+Bcc: evil@example\.com$/)
})

test('with the SMTP server down, send resolves false at once and logs one error without the link', async (t) => {
  const { send, log } = mailer(t, await refusedSmtpUrl())
  const started = Date.now()

  assert.equal(await send('reset', 'ada@example.com', { email: 'ada@example.com', link: LINK, expiresInMinutes: 60, site: 'Example' }), false)
  assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`)
  assert.equal(log.entries.length, 1)
  const [entry] = log.entries ?? []
  assert.equal(entry?.msg, 'fastify-users: sending mail failed')
  assert.equal(entry?.obj.kind, 'reset')
  const err = entry?.obj.err as Error & { code?: string }
  assert.ok(err instanceof Error)
  assert.equal(typeof err.code, 'string')
  const logged = JSON.stringify({ ...entry?.obj, message: err.message, stack: err.stack })
  assert.ok(!logged.includes(LINK) && !logged.includes(TOKEN), logged)
})

test('a server that never greets fails the send within the greeting timeout', async (t) => {
  const silent = await startSilentServer()
  t.after(() => silent.close())
  const { send, log } = mailer(t, silent.url)
  const started = Date.now()

  assert.equal(await send('verify', 'ada@example.com', { email: 'ada@example.com', link: LINK, expiresInMinutes: 60, site: 'Example' }), false)
  const elapsed = Date.now() - started
  assert.ok(elapsed < 8000, `took ${elapsed} ms; nodemailer's own default is 30 s`)
  assert.equal((log.entries[0]?.obj.err as { code?: string }).code, 'ETIMEDOUT')
})

test('a refusal quoting the link is logged through Fastify\'s logger without the link, the token or the address', async (t) => {
  // Spam filters name the URL they refused; nodemailer keeps the reply in err.response.
  const server = await smtp(t, { reject: (mail) => `5.7.1 Message refused: blocked URL ${linkIn(mail)}` })
  const lines: string[] = []
  const app = Fastify({
    logger: {
      level: 'error',
      stream: new Writable({ write (chunk, _encoding, done) { lines.push(String(chunk)); done() } })
    }
  })
  t.after(() => app.close())
  const { send } = mailer(t, server.url, { log: app.log })

  assert.equal(await send('verify', 'ada@example.com', { email: 'ada@example.com', link: LINK, expiresInMinutes: 60, site: 'Example' }), false)
  assert.equal(lines.length, 1)
  const line = lines[0] as string
  assert.ok(!line.includes(TOKEN) && !line.includes('app.example.com') && !line.includes('ada@example.com'), line)
  const entry = JSON.parse(line) as { msg: string, kind: string, err: { type: string, message: string, responseCode: number, command: string, response?: string } }
  assert.equal(entry.msg, 'fastify-users: sending mail failed')
  assert.equal(entry.kind, 'verify')
  assert.equal(entry.err.type, 'MailError')
  assert.equal(entry.err.responseCode, 550)
  assert.equal(entry.err.command, 'DATA')
  assert.equal(entry.err.response, undefined)
  assert.match(entry.err.message, /5\.7\.1 Message refused: blocked URL \[redacted\]/)
  assert.equal(server.mails.length, 0)
})

test('a failing template makes send resolve false, logged without its input', async (t) => {
  const server = await smtp(t)
  const { send, log } = mailer(t, server.url, {
    templates: {
      ...defaultMailTemplates,
      verify: ({ link }) => { throw new Error(`cannot render ${link}`) },
      reset: async ({ email }) => { throw new Error(`no template for ${email}`) },
      passwordChanged: () => ({ subject: 'only a subject' }) as unknown as { subject: string, text: string, html: string }
    }
  })

  assert.equal(await send('verify', 'ada@example.com', { email: 'ada@example.com', link: LINK, expiresInMinutes: 60, site: 'Example' }), false)
  assert.equal(await send('reset', 'bob@example.com', { email: 'bob@example.com', link: LINK, expiresInMinutes: 60, site: 'Example' }), false)
  assert.equal(await send('passwordChanged', 'cy@example.com', { email: 'cy@example.com', site: 'Example' }), false)
  const messages = log.entries.map((e) => (e.obj.err as Error).message)
  assert.deepEqual(messages, [
    'cannot render [redacted]',
    'no template for [redacted]',
    'the passwordChanged template returned no subject, text and html strings'
  ])
  assert.equal(server.mails.length, 0)
})

test('a transport plugin ({ name, version, send }) gets the mail', async (t) => {
  const sent: { to: unknown, subject: unknown, raw: string }[] = []
  const transport = {
    name: 'memory',
    version: '1.0.0',
    send (mail: MailMessage, callback: (err: Error | null, info: SentMessageInfo) => void) {
      const chunks: Buffer[] = []
      const stream = mail.message.createReadStream()
      stream.on('data', (c: Buffer) => chunks.push(c))
      stream.on('end', () => {
        sent.push({ to: mail.data.to, subject: mail.data.subject, raw: Buffer.concat(chunks).toString() })
        callback(null, { envelope: mail.message.getEnvelope(), messageId: mail.message.messageId() })
      })
    }
  }
  const { send, log } = mailer(t, transport)

  assert.equal(await send('passwordChanged', 'ada@example.com', { email: 'ada@example.com', site: 'Example' }), true)
  assert.equal(sent.length, 1)
  assert.equal(sent[0]?.subject, 'Your password was changed')
  assert.match(sent[0]?.raw ?? '', /^To: ada@example\.com\r$/m)
  assert.deepEqual(log.entries, [])
})

test('nodemailer transport options and an app\'s own transporter work; the app\'s transporter stays open', async (t) => {
  const json = mailer(t, { jsonTransport: true })
  assert.equal(await json.send('passwordChanged', 'ada@example.com', { email: 'ada@example.com', site: 'Example' }), true)
  assert.deepEqual(json.log.entries, [])

  const server = await smtp(t)
  // Pooled: a closed pool refuses to send, so a close() of ours would show.
  const transporter = nodemailer.createTransport({ url: server.url, pool: true })
  t.after(() => transporter.close())
  const own = createMailer({ transport: transporter, from: FROM, templates: defaultMailTemplates, log: recordingLog() })
  assert.equal(await own.send('passwordChanged', 'bob@example.com', { email: 'bob@example.com', site: 'Example' }), true)
  assert.equal((await server.nextMail(to('bob@example.com'))).subject, 'Your password was changed')

  own.close()
  await transporter.sendMail({ from: FROM, to: 'cy@example.com', subject: 'still open', text: 'x' })
  assert.equal((await server.nextMail(to('cy@example.com'))).subject, 'still open')
  transporter.close()
})

test('the mailer option accepts SMTP URLs, transport objects and mailboxes, and refuses the rest', () => {
  const ok = (value: unknown) => Value.Check(MailerOptionsSchema, value)
  const fn = () => ({ subject: '', text: '', html: '' })
  assert.ok(ok({ transport: 'smtp://user:pa%40ss@mail.example.com:587', from: 'no-reply@example.com' }))
  assert.ok(ok({ transport: 'smtps://mail.example.com', from: '"Example, Inc." <no-reply@example.com>' }))
  assert.ok(ok({ transport: 'smtp://[::1]:2525?pool=true', from: 'Example <no-reply@example.com>' }))
  assert.ok(ok({ transport: { jsonTransport: true }, from: 'no-reply@example.com', templates: { verify: fn } }))
  assert.ok(ok({ transport: nodemailer.createTransport({ jsonTransport: true }), from: 'no-reply@example.com' }))

  assert.ok(!ok({ transport: 'http://mail.example.com', from: 'no-reply@example.com' }))
  assert.ok(!ok({ transport: 'smtp://', from: 'no-reply@example.com' }))
  assert.ok(!ok({ transport: 'smtp://mail.example.com/\r\nx', from: 'no-reply@example.com' }))
  assert.ok(!ok({ transport: 'smtp://mail.example.com', from: 'no-reply' }))
  assert.ok(!ok({ transport: 'smtp://mail.example.com', from: 'no-reply@example.com\r\nBcc: evil@example.com' }))
  assert.ok(!ok({ transport: 'smtp://mail.example.com', from: 'a@example.com, b@example.com' }))
  assert.ok(!ok({ transport: 'smtp://mail.example.com', from: 'no-reply@example.com', templates: { verify: 'text' } }))
  assert.ok(!ok({ transport: 'smtp://mail.example.com', from: 'no-reply@example.com', templates: { verfy: fn } }))
  assert.ok(!ok({ transport: 'smtp://mail.example.com' }))
})
