// Verification and password reset as a person meets them: by mail, through a real SMTP server
// in the test process, parsed as a mail client would.
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import Fastify from 'fastify'
import fastifyUsers, { memoryStore, type FastifyUsersOptions } from '../index.js'
import { linkIn, refusedSmtpUrl, startSmtpServer, type ReceivedMail } from './support/smtp.js'
import { ISSUER, passwordToken } from './support/app.js'

const PASSWORD = 'correct horse battery'

/** An app that mails through `transport`, with its log lines collected. */
async function mailingApp (t: TestContext, transport: string, options: Partial<FastifyUsersOptions> = {}) {
  const lines: Record<string, unknown>[] = []
  const stream = new Writable({ write (chunk: Buffer, _encoding, done) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); done() } })
  const app = Fastify({ logger: { level: 'info', stream } })
  t.after(() => app.close())
  await app.register(fastifyUsers, {
    issuer: ISSUER,
    store: memoryStore(),
    mailer: { transport, from: '"Example" <no-reply@example.com>' },
    rateLimit: { refusalDelay: 0 },
    // Swagger UI's client, for the password grant.
    docs: { path: '/docs' },
    ...options
  })
  await app.ready()
  return { app, lines }
}

async function smtp (t: TestContext) {
  const server = await startSmtpServer()
  t.after(() => server.close())
  return server
}

const tokenOf = (mail: ReceivedMail, path: string) => {
  const link = new URL(linkIn(mail))
  assert.equal(`${link.origin}${link.pathname}`, `${ISSUER}${path}`)
  return link.searchParams.get('token') as string
}

test('register → a verification mail → its link verifies the address', async (t) => {
  const server = await smtp(t)
  const { app } = await mailingApp(t, server.url)
  const res = await app.inject({ method: 'POST', url: '/auth/register', payload: { email: 'ada@example.com', password: PASSWORD } })
  assert.equal(res.statusCode, 201)
  const mail = await server.nextMail((m) => m.envelope.to.includes('ada@example.com'))
  assert.match(mail.subject ?? '', /Verify your email address/)
  assert.equal(mail.from?.value[0]?.address, 'no-reply@example.com')
  const token = tokenOf(mail, '/account/verify')
  assert.ok(typeof mail.html === 'string' && mail.html.includes(token), 'the link is in the HTML part too')

  const verified = await app.inject({ method: 'POST', url: '/auth/verify', payload: { token } })
  assert.equal(verified.statusCode, 200, verified.body)
  assert.equal(verified.json().isVerified, true)
})

test('forgot → a reset mail → a new password; the old one is refused, the link used once; a notice follows', async (t) => {
  const server = await smtp(t)
  const { app } = await mailingApp(t, server.url, { verifyOnRegister: false })
  await app.users.manager.register({ email: 'ada@example.com', password: PASSWORD })

  // An address without an account: 202 too, and no mail. The next mail to arrive is Ada's.
  for (const email of ['nobody@example.com', 'ada@example.com']) {
    const res = await app.inject({ method: 'POST', url: '/auth/forgot-password', payload: { email } })
    assert.equal(res.statusCode, 202)
  }
  const mail = await server.nextMail()
  assert.deepEqual(mail.envelope.to, ['ada@example.com'])
  assert.match(mail.subject ?? '', /Reset your password/)
  const token = tokenOf(mail, '/account/reset-password')

  const reset = await app.inject({ method: 'POST', url: '/auth/reset-password', payload: { token, password: 'a brand new password' } })
  assert.equal(reset.statusCode, 204, reset.body)
  assert.equal(await app.users.manager.authenticate('ada@example.com', PASSWORD), null)
  assert.ok(await app.users.manager.authenticate('ada@example.com', 'a brand new password'))
  const again = await app.inject({ method: 'POST', url: '/auth/reset-password', payload: { token, password: 'another new password' } })
  assert.equal(again.json().code, 'RESET_PASSWORD_BAD_TOKEN')

  const notice = await server.nextMail()
  assert.deepEqual(notice.envelope.to, ['ada@example.com'])
  assert.match(notice.subject ?? '', /password was changed/)
  assert.equal(server.mails.filter((m) => m.envelope.to.includes('nobody@example.com')).length, 0)
})

test('an email change verifies the new address and tells the old one', async (t) => {
  const server = await smtp(t)
  const { app } = await mailingApp(t, server.url, { verifyOnRegister: false })
  await app.users.manager.register({ email: 'ada@example.com', password: PASSWORD }, { isVerified: true })
  const { access_token: accessToken } = await passwordToken(app, 'ada@example.com', PASSWORD)
  const res = await app.inject({ method: 'PATCH', url: '/users/me', headers: { authorization: `Bearer ${accessToken}` }, payload: { email: 'lovelace@example.com', currentPassword: PASSWORD } })
  assert.equal(res.statusCode, 200, res.body)
  assert.equal(res.json().isVerified, false)

  const notice = await server.nextMail((m) => m.envelope.to.includes('ada@example.com'))
  assert.match(notice.subject ?? '', /email address was changed/)
  assert.match(notice.text ?? '', /lovelace@example\.com/)
  const verification = await server.nextMail((m) => m.envelope.to.includes('lovelace@example.com'))
  const verified = await app.inject({ method: 'POST', url: '/auth/verify', payload: { token: tokenOf(verification, '/account/verify') } })
  assert.equal(verified.json().isVerified, true)
})

test('SMTP down: still 202, and one logged error without the link', async (t) => {
  const { app, lines } = await mailingApp(t, await refusedSmtpUrl(), { verifyOnRegister: false })
  await app.users.manager.register({ email: 'ada@example.com', password: PASSWORD })
  const seen: string[] = []
  app.users.on('forgotPassword', ({ token }) => { seen.push(token) })
  const res = await app.inject({ method: 'POST', url: '/auth/forgot-password', payload: { email: 'ada@example.com' } })
  assert.equal(res.statusCode, 202)
  const deadline = Date.now() + 8000
  while (!lines.some((l) => l.msg === 'fastify-users: sending mail failed') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
  const failures = lines.filter((l) => l.msg === 'fastify-users: sending mail failed')
  assert.equal(failures.length, 1, JSON.stringify(lines))
  const logged = JSON.stringify(lines)
  assert.ok(seen[0] && !logged.includes(seen[0]), 'the token is not logged')
  assert.ok(!logged.includes('ada@example.com'), 'nor the address')
})

test('the mailer\'s transport (SMTP credentials) is not in app.users.config', async (t) => {
  const server = await smtp(t)
  const { app } = await mailingApp(t, server.url.replace('smtp://', 'smtp://user:s3cret-pass@'))
  assert.equal('mailer' in app.users.config, false)
  assert.ok(!JSON.stringify(app.users.config).includes('s3cret-pass'))
})
