// Our HTML pages (login, consent, errors, notices), as strings: no Fastify, no state. The
// routes send them with pageHeaders; every value from a request is escaped here.
import escapeHtml from 'escape-html'
import type { RedirectUriMismatch } from '../services/authorize.js'

/** A login button for an upstream provider. */
export interface ProviderButton {
  name: string
  label: string
  url: string
}

export interface PageContext {
  /** Shown as the site's name. */
  issuer: string
  /** Where forms post to, and the client's redirect origin: both must be allowed by form-action. */
  formActions: string[]
  /** The page's URL holds a secret (a mailed link's token): only its origin is ever sent as a referrer. */
  secretUrl?: boolean
}

type ReferrerPolicy = 'same-origin' | 'strict-origin'

const STYLE = `
body{font:16px/1.5 system-ui,sans-serif;background:#f4f5f7;color:#1d2433;margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center}
main{background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px #0002;width:min(24rem,90vw)}
h1{font-size:1.3rem;margin:0 0 .5rem}p.muted{color:#5b6475;margin:.25rem 0 1rem}
label{display:block;margin:.75rem 0 .25rem;font-weight:600}
input[type=email],input[type=password]{width:100%;box-sizing:border-box;padding:.55rem;border:1px solid #c3c8d2;border-radius:4px;font-size:1rem}
button{margin-top:1rem;width:100%;padding:.6rem;border:0;border-radius:4px;background:#2457d6;color:#fff;font-size:1rem;cursor:pointer}
button.secondary{background:#e7e9ee;color:#1d2433}
.error{background:#fdecec;color:#8a1c1c;padding:.5rem .75rem;border-radius:4px}
.providers a{display:block;text-align:center;margin-top:.5rem;padding:.55rem;border:1px solid #c3c8d2;border-radius:4px;color:#1d2433;text-decoration:none}
a{color:#2457d6}p.links{display:flex;justify-content:space-between;gap:1rem;margin:1rem 0 0}p.hint{color:#5b6475;font-size:.9rem;margin:.25rem 0 0}
ul.scopes{padding-left:1.2rem}
dl.details dd{margin:0 0 .5rem}dl.details ul{padding-left:1.2rem;margin:0}code{word-break:break-all}
`

// The meta tag repeats the header's policy: a document applies it after the header, so it must agree.
function layout (title: string, body: string, referrer: ReferrerPolicy = 'same-origin'): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="${referrer}"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><main>${body}</main></body></html>`
}

const hidden = (name: string, value: string) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`

/**
 * The headers every page goes out with: not framed (clickjacking), sniffed, cached, nor
 * leaking its URL (which holds the authorization request) as a referrer to another origin.
 * `same-origin` rather than `no-referrer`, so that our forms' posts carry our origin in
 * Origin (no-referrer makes it "null"), which the form routes check. A page whose URL holds a
 * mailed link's token is the exception: that URL must not even reach our own logs (or a
 * proxy's) as the Referer of its form's post, so it is `strict-origin`: the Referer is the
 * origin alone, and Origin is still sent (which no-referrer would make "null" for browsers
 * without Sec-Fetch-Site).
 */
export function pageHeaders (context: PageContext): Record<string, string> {
  const csp = [
    "default-src 'none'",
    "style-src 'unsafe-inline'",
    `form-action ${["'self'", ...context.formActions].join(' ')}`,
    "frame-ancestors 'none'",
    "base-uri 'none'"
  ].join('; ')
  return {
    'content-security-policy': csp,
    'x-frame-options': 'DENY',
    'x-content-type-options': 'nosniff',
    'referrer-policy': context.secretUrl === true ? 'strict-origin' : 'same-origin',
    'cache-control': 'no-store',
    'content-type': 'text/html; charset=utf-8'
  }
}

/** The login page's links to the account pages; register is absent when people may not register. */
export interface AccountLinks {
  register?: string
  forgotPassword: string
}

export interface LoginPage {
  action: string
  clientName: string
  /** What the form carries: the pending authorization request, or (sign-in without a client) the path to go back to. */
  authorizeQuery: string
  carriedAs?: 'authorize_query' | 'return_to'
  csrfToken: string
  email?: string
  error?: string
  providers: ProviderButton[]
  links: AccountLinks
}

export function loginPage (site: string, page: LoginPage): string {
  const providers = page.providers.length === 0
    ? ''
    : `<div class="providers">${page.providers.map((p) => `<a href="${escapeHtml(p.url)}">Continue with ${escapeHtml(p.label)}</a>`).join('')}</div><p class="muted">or with your password:</p>`
  return layout(`Sign in · ${site}`, `
<h1>Sign in</h1>
<p class="muted">to continue to <strong>${escapeHtml(page.clientName)}</strong></p>
${page.error ? `<p class="error" role="alert">${escapeHtml(page.error)}</p>` : ''}
${providers}
<form method="post" action="${escapeHtml(page.action)}">
${hidden(page.carriedAs ?? 'authorize_query', page.authorizeQuery)}${hidden('csrf_token', page.csrfToken)}
<label for="email">Email</label><input id="email" name="email" type="email" autocomplete="username" required value="${escapeHtml(page.email ?? '')}">
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
<p class="links"><a href="${escapeHtml(page.links.forgotPassword)}">Forgot password?</a>${page.links.register ? `<a href="${escapeHtml(page.links.register)}">Create account</a>` : ''}</p>`)
}

export interface ConsentPage {
  action: string
  clientName: string
  userEmail: string
  scopes: { name: string, description: string }[]
  authorizeQuery: string
  csrfToken: string
}

export function consentPage (site: string, page: ConsentPage): string {
  const scopes = page.scopes.map((s) => `<li><strong>${escapeHtml(s.name)}</strong>${s.description ? ` — ${escapeHtml(s.description)}` : ''}</li>`).join('')
  const form = (decision: 'allow' | 'deny', label: string, cls = '') => `<form method="post" action="${escapeHtml(page.action)}">
${hidden('authorize_query', page.authorizeQuery)}${hidden('csrf_token', page.csrfToken)}${hidden('decision', decision)}
<button type="submit"${cls ? ` class="${cls}"` : ''}>${label}</button></form>`
  return layout(`Authorize ${page.clientName} · ${site}`, `
<h1>Authorize ${escapeHtml(page.clientName)}</h1>
<p class="muted">Signed in as ${escapeHtml(page.userEmail)}. <strong>${escapeHtml(page.clientName)}</strong> asks to:</p>
<ul class="scopes">${scopes || '<li>know who you are</li>'}</ul>
${form('allow', 'Allow')}${form('deny', 'Deny', 'secondary')}`)
}

/** A way back, e.g. to the login page of the pending request. */
export interface PageLink { href: string, label: string }

/** Text only, never links: the received URI is whatever the request said. */
function mismatchDetails (m: RedirectUriMismatch): string {
  const received = m.received === undefined ? 'none' : `<code>${escapeHtml(m.received)}</code>`
  const registered = m.registered.map((uri) => `<li><code>${escapeHtml(uri)}</code></li>`).join('')
  return `<p class="muted">Shown because this server's issuer is a loopback address (development):</p>
<dl class="details"><dt>Client</dt><dd><code>${escapeHtml(m.clientId)}</code></dd>
<dt>redirect_uri received</dt><dd>${received}</dd>
<dt>redirect_uri registered</dt><dd><ul>${registered}</ul></dd></dl>`
}

export function errorPage (site: string, title: string, message: string, back?: PageLink, mismatch?: RedirectUriMismatch): string {
  const next = back
    ? `<p><a href="${escapeHtml(back.href)}">${escapeHtml(back.label)}</a></p>`
    : '<p class="muted">Go back to the application and try again.</p>'
  return layout(`${title} · ${site}`, `<h1>${escapeHtml(title)}</h1><p class="error" role="alert">${escapeHtml(message)}</p>
${mismatch ? mismatchDetails(mismatch) : ''}${next}`)
}

export function noticePage (site: string, title: string, message: string, back?: PageLink): string {
  const next = back
    ? `<p><a href="${escapeHtml(back.href)}">${escapeHtml(back.label)}</a></p>`
    : '<p class="muted">You may close this page.</p>'
  return layout(`${title} · ${site}`, `<h1>${escapeHtml(title)}</h1><p role="status">${escapeHtml(message)}</p>
${next}`)
}

const errorLine = (error?: string) => error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''
const backLine = (back?: PageLink) => back ? `<p class="links"><a href="${escapeHtml(back.href)}">${escapeHtml(back.label)}</a></p>` : ''
/** A new password's field: the policy's minimum for the browser to check first (the server checks it again). */
const newPassword = (minLength: number) => `<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="new-password" minlength="${minLength}" required>
<p class="hint">At least ${minLength} characters.</p>`

export interface RegisterPage {
  action: string
  clientName: string
  authorizeQuery: string
  csrfToken: string
  passwordMinLength: number
  /** The login page of the pending request. */
  signIn: string
  email?: string
  error?: string
}

export function registerPage (site: string, page: RegisterPage): string {
  return layout(`Create account · ${site}`, `
<h1>Create account</h1>
<p class="muted">to continue to <strong>${escapeHtml(page.clientName)}</strong></p>
${errorLine(page.error)}
<form method="post" action="${escapeHtml(page.action)}">
${hidden('authorize_query', page.authorizeQuery)}${hidden('csrf_token', page.csrfToken)}
<label for="email">Email</label><input id="email" name="email" type="email" autocomplete="username" required value="${escapeHtml(page.email ?? '')}">
${newPassword(page.passwordMinLength)}
<button type="submit">Create account</button>
</form>
${backLine({ href: page.signIn, label: 'Already have an account? Sign in' })}`)
}

export interface ForgotPasswordPage {
  action: string
  /** The pending authorization request, or '' when there is none. */
  authorizeQuery: string
  csrfToken: string
  /** The login page of the pending request, if any. */
  signIn?: string
  email?: string
  error?: string
}

export function forgotPasswordPage (site: string, page: ForgotPasswordPage): string {
  return layout(`Forgot password · ${site}`, `
<h1>Forgot your password?</h1>
<p class="muted">Enter your email address: we will send you a link to set a new password.</p>
${errorLine(page.error)}
<form method="post" action="${escapeHtml(page.action)}">
${hidden('authorize_query', page.authorizeQuery)}${hidden('csrf_token', page.csrfToken)}
<label for="email">Email</label><input id="email" name="email" type="email" autocomplete="username" required value="${escapeHtml(page.email ?? '')}">
<button type="submit">Send the link</button>
</form>
${backLine(page.signIn === undefined ? undefined : { href: page.signIn, label: 'Back to sign in' })}`)
}

export interface ResetPasswordPage {
  action: string
  /** The mailed link's token, posted back with the form. */
  token: string
  csrfToken: string
  passwordMinLength: number
  error?: string
}

export function resetPasswordPage (site: string, page: ResetPasswordPage): string {
  return layout(`Set a new password · ${site}`, `
<h1>Set a new password</h1>
<p class="muted">Every device signed in to your account will be signed out.</p>
${errorLine(page.error)}
<form method="post" action="${escapeHtml(page.action)}">
${hidden('token', page.token)}${hidden('csrf_token', page.csrfToken)}
${newPassword(page.passwordMinLength)}
<button type="submit">Set password</button>
</form>`, 'strict-origin')
}

export interface VerifyEmailPage {
  action: string
  token: string
  csrfToken: string
}

/** The page a verification link opens: nothing happens until the button is pressed. */
export function verifyEmailPage (site: string, page: VerifyEmailPage): string {
  return layout(`Verify your email address · ${site}`, `
<h1>Verify your email address</h1>
<p class="muted">Confirm that this address is yours.</p>
<form method="post" action="${escapeHtml(page.action)}">
${hidden('token', page.token)}${hidden('csrf_token', page.csrfToken)}
<button type="submit">Verify my email address</button>
</form>`, 'strict-origin')
}
