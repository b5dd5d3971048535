import { createServer, type Server, type Socket } from 'node:net'
import { SMTPServer } from 'smtp-server'
import { simpleParser, type ParsedMail } from 'mailparser'

/** A mail as the server got it: parsed, with the SMTP envelope beside the headers. */
export interface ReceivedMail extends ParsedMail {
  envelope: { from: string, to: string[] }
}

export interface SmtpServerOptions {
  /** Returns a reason to refuse a mail after DATA (550 <reason>); a refused mail is not kept. */
  reject?: (mail: ReceivedMail) => string | undefined
}

export interface TestSmtpServer {
  port: number
  /** smtp://127.0.0.1:<port> */
  url: string
  /** Every mail accepted so far, in order. */
  mails: ReceivedMail[]
  /** The first mail not taken yet that matches, waiting for it; rejects after timeoutMs. */
  nextMail (predicate?: (mail: ReceivedMail) => boolean, timeoutMs?: number): Promise<ReceivedMail>
  close (): Promise<void>
}

interface Waiter {
  predicate: (mail: ReceivedMail) => boolean
  resolve: (mail: ReceivedMail) => void
}

/** A real SMTP server on a free loopback port, in this process: no TLS, no authentication needed. */
export async function startSmtpServer (options: SmtpServerOptions = {}): Promise<TestSmtpServer> {
  const mails: ReceivedMail[] = []
  const taken = new Set<ReceivedMail>()
  let waiters: Waiter[] = []

  const deliver = (mail: ReceivedMail) => {
    mails.push(mail)
    const waiter = waiters.find((w) => w.predicate(mail))
    if (!waiter) return
    waiters = waiters.filter((w) => w !== waiter)
    taken.add(mail)
    waiter.resolve(mail)
  }

  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    closeTimeout: 1000,
    onData (stream, session, callback) {
      simpleParser(stream).then((parsed) => {
        const mail: ReceivedMail = Object.assign(parsed, {
          envelope: {
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address)
          }
        })
        const reason = options.reject?.(mail)
        if (reason !== undefined) {
          callback(Object.assign(new Error(reason), { responseCode: 550 }))
          return
        }
        callback()
        deliver(mail)
      }, (err: Error) => callback(err))
    }
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const address = server.server.address()
  if (address === null || typeof address !== 'object') throw new Error('the SMTP server has no port')
  const port = address.port

  return {
    port,
    url: `smtp://127.0.0.1:${port}`,
    mails,
    nextMail (predicate = () => true, timeoutMs = 5000) {
      const ready = mails.find((m) => !taken.has(m) && predicate(m))
      if (ready) {
        taken.add(ready)
        return Promise.resolve(ready)
      }
      return new Promise((resolve, reject) => {
        const waiter: Waiter = {
          predicate,
          resolve: (mail) => {
            clearTimeout(timer)
            resolve(mail)
          }
        }
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w !== waiter)
          reject(new Error(`no matching mail arrived within ${timeoutMs} ms (${mails.length} received, ${taken.size} taken)`))
        }, timeoutMs)
        waiters.push(waiter)
      })
    },
    close () {
      return new Promise((resolve) => server.close(() => resolve()))
    }
  }
}

/** The first http(s) link in the mail's text part (matching `pattern`, if given). */
export function linkIn (mail: ParsedMail, pattern?: RegExp): string {
  const links = mail.text?.match(/https?:\/\/[^\s<>"]+/g) ?? []
  const link = links.find((l) => pattern === undefined || pattern.test(l))
  if (link === undefined) throw new Error(`no link${pattern ? ` matching ${pattern}` : ''} in the mail's text:\n${mail.text ?? '(no text part)'}`)
  return link
}

/** An smtp:// URL at a loopback port nothing listens on: connections are refused at once. */
export async function refusedSmtpUrl (): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const address = server.address()
  await new Promise((resolve) => server.close(resolve))
  if (address === null || typeof address !== 'object') throw new Error('no port')
  return `smtp://127.0.0.1:${address.port}`
}

/**
 * A server that accepts connections and never says a word: a mail server that hangs. Only
 * a greeting timeout gets a client out.
 */
export async function startSilentServer (): Promise<{ url: string, close: () => Promise<void> }> {
  const sockets = new Set<Socket>()
  const server: Server = createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const address = server.address()
  if (address === null || typeof address !== 'object') throw new Error('no port')
  return {
    url: `smtp://127.0.0.1:${address.port}`,
    close: () => {
      for (const socket of sockets) socket.destroy()
      return new Promise((resolve) => server.close(() => resolve()))
    }
  }
}
