// The default mails, as text and HTML. Every value is escaped in the HTML: the site name is
// configuration, but addresses are whatever a user typed.
import escapeHtml from 'escape-html'
import type { MailTemplates, RenderedMail } from '../services/mail.js'

const STYLE = 'font:16px/1.5 system-ui,sans-serif;color:#1d2433;max-width:32rem;margin:0 auto;padding:1rem'
const BUTTON = 'display:inline-block;padding:.6rem 1rem;border-radius:4px;background:#2457d6;color:#fff;text-decoration:none'
const MUTED = 'color:#5b6475;font-size:14px'

function duration (minutes: number): string {
  const [value, unit] = minutes % 1440 === 0
    ? [minutes / 1440, 'day']
    : minutes % 60 === 0 ? [minutes / 60, 'hour'] : [minutes, 'minute']
  return `${value} ${unit}${value === 1 ? '' : 's'}`
}

/** Paragraphs of already-escaped HTML, in a page that mail clients render alike. */
function html (title: string, paragraphs: string[]): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(title)}</title></head>
<body><div style="${STYLE}">
${paragraphs.map((p) => `<p>${p}</p>`).join('\n')}
</div></body></html>`
}

// A mail client may not show the button (plain-text view, images and styles off), so the
// link is also written out to be copied.
function linkMail (subject: string, intro: string, action: string, link: string, expiry: string, ignore: string): RenderedMail {
  return {
    subject,
    text: `Hello,

${intro}

${action}:
${link}

${expiry}

${ignore}
`,
    html: html(subject, [
      escapeHtml(intro),
      `<a href="${escapeHtml(link)}" style="${BUTTON}">${escapeHtml(action)}</a>`,
      `<span style="${MUTED}">Or copy this link into your browser:<br><a href="${escapeHtml(link)}">${escapeHtml(link)}</a></span>`,
      escapeHtml(expiry),
      `<span style="${MUTED}">${escapeHtml(ignore)}</span>`
    ])
  }
}

function notice (subject: string, lines: string[]): RenderedMail {
  return {
    subject,
    text: `Hello,\n\n${lines.join('\n\n')}\n`,
    html: html(subject, lines.map((line) => escapeHtml(line)))
  }
}

export const defaultMailTemplates: MailTemplates = {
  verify: ({ email, link, expiresInMinutes, site }) => linkMail(
    `Verify your email address for ${site}`,
    `Please confirm that ${email} is your email address for ${site}.`,
    'Verify email address',
    link,
    `The link works once and expires in ${duration(expiresInMinutes)}.`,
    `If you did not sign up for ${site}, you can ignore this mail.`
  ),
  reset: ({ email, link, expiresInMinutes, site }) => linkMail(
    `Reset your password for ${site}`,
    `Someone asked to reset the password of the account ${email} at ${site}.`,
    'Choose a new password',
    link,
    `The link works once and expires in ${duration(expiresInMinutes)}.`,
    'If you did not ask for this, ignore this mail: your password stays as it is.'
  ),
  emailChanged: ({ email, newEmail, site }) => notice('Your email address was changed', [
    `The email address of your account at ${site} was changed from ${email} to ${newEmail}.`,
    'If you made this change, there is nothing more to do.',
    `If you did not, someone else may control your account: contact the support of ${site} right away.`
  ]),
  passwordChanged: ({ email, site }) => notice('Your password was changed', [
    `The password of your account ${email} at ${site} was changed.`,
    'If you made this change, there is nothing more to do.',
    `If you did not, reset your password at ${site} right away and contact its support.`
  ])
}
