import { createHash, randomBytes } from 'node:crypto'
import assert from 'node:assert/strict'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { COOKIES } from '../../plugins/cookies.js'
import { FORM, ISSUER, form } from './app.js'

export const PASSWORD = 'correct horse battery'
export const SWAGGER_REDIRECT = `${ISSUER}/docs/static/oauth2-redirect.html`
export const SPA_REDIRECT = 'https://app.example.com/cb'
export const NATIVE_REDIRECT = 'http://127.0.0.1/callback'
export const CONF_SECRET = 'x'.repeat(32)

/** The third-party clients the OAuth tests use, besides the built-in swagger-ui. */
export const CLIENTS = [
  { clientId: 'spa', name: 'Some SPA', redirectUris: [SPA_REDIRECT] },
  { clientId: 'spa2', redirectUris: [SPA_REDIRECT] },
  { clientId: 'native', redirectUris: [NATIVE_REDIRECT] },
  { clientId: 'two', redirectUris: ['https://two.example.com/a', 'https://two.example.com/b'] },
  { clientId: 'conf', clientSecret: CONF_SECRET, redirectUris: ['https://conf.example.com/cb'] },
  { clientId: 'rs', clientSecret: 'r'.repeat(32), introspection: true, grantTypes: ['client_credentials' as const] }
]

export const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`

export function pkce () {
  const verifier = randomBytes(32).toString('base64url')
  const challenge = createHash('sha256').update(verifier).digest('base64url')
  return { verifier, challenge }
}

/** `/oauth/authorize?...`; undefined values are left out. */
export function authorizePath (params: Record<string, string | undefined>): string {
  const query = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) if (v !== undefined) query.append(k, v)
  return `/oauth/authorize?${query.toString()}`
}

const ENTITIES: Record<string, string> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': '\'' }
const unescapeHtml = (s: string) => s.replace(/&(?:amp|lt|gt|quot|#39);/g, (e) => ENTITIES[e] ?? e)

export interface HtmlForm {
  action: string
  fields: Record<string, string>
}

/** The POST forms of one of our pages, with their hidden fields. */
export function htmlForms (html: string): HtmlForm[] {
  const forms: HtmlForm[] = []
  for (const match of html.matchAll(/<form method="post" action="([^"]*)">([\s\S]*?)<\/form>/g)) {
    const fields: Record<string, string> = {}
    for (const input of (match[2] ?? '').matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)) {
      fields[unescapeHtml(input[1] ?? '')] = unescapeHtml(input[2] ?? '')
    }
    forms.push({ action: unescapeHtml(match[1] ?? ''), fields })
  }
  return forms
}

export function onlyForm (res: LightMyRequestResponse, action: string): Record<string, string> {
  const forms = htmlForms(res.body).filter((f) => f.action === action)
  assert.ok(forms.length > 0, `no form to ${action} in a ${res.statusCode} page: ${res.body.slice(0, 500)}`)
  return (forms[0] as HtmlForm).fields
}

export function consentForm (res: LightMyRequestResponse, decision: 'allow' | 'deny'): Record<string, string> {
  const forms = htmlForms(res.body).filter((f) => f.action === '/oauth/consent' && f.fields.decision === decision)
  assert.equal(forms.length, 1, `no ${decision} form in a ${res.statusCode} page: ${res.body.slice(0, 500)}`)
  return (forms[0] as HtmlForm).fields
}

/** A browser of one user: a cookie jar over app.inject. */
export class Browser {
  readonly cookies = new Map<string, string>()
  constructor (readonly app: FastifyInstance) {}

  keep (res: LightMyRequestResponse): LightMyRequestResponse {
    for (const c of res.cookies as { name: string, value: string, maxAge?: number, expires?: Date }[]) {
      if (c.maxAge === 0 || (c.expires !== undefined && c.expires.getTime() <= Date.now()) || c.value === '') this.cookies.delete(c.name)
      else this.cookies.set(c.name, c.value)
    }
    return res
  }

  headers (extra: Record<string, string> = {}): Record<string, string> {
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ')
    return cookie ? { ...extra, cookie } : extra
  }

  get session () { return this.cookies.get(COOKIES.session) }

  async get (url: string) {
    return this.keep(await this.app.inject({ method: 'GET', url, headers: this.headers() }))
  }

  async post (url: string, fields: Record<string, string>) {
    return this.keep(await this.app.inject({ method: 'POST', url, headers: this.headers(FORM), payload: form(fields) }))
  }

  /** From the login page of `page`, signs in; returns the 303 (or the error page). */
  async submitLogin (page: LightMyRequestResponse, email: string, password = PASSWORD) {
    return this.post('/oauth/login', { ...onlyForm(page, '/oauth/login'), email, password })
  }

  /** GET /oauth/authorize, signing in on the way when asked; returns the final answer (redirect or consent page). */
  async authorize (path: string, email: string, password = PASSWORD) {
    const first = await this.get(path)
    if (first.statusCode !== 200 || !first.body.includes('action="/oauth/login"')) return first
    const login = await this.submitLogin(first, email, password)
    assert.equal(login.statusCode, 303, `login failed: ${login.statusCode} ${login.body.slice(0, 300)}`)
    return this.get(login.headers.location as string)
  }
}

/** The query of a redirect to a client, after checking where it goes. */
export function redirectParams (res: LightMyRequestResponse, redirectUri: string, status = 302): URLSearchParams {
  assert.equal(res.statusCode, status, `expected a ${status} redirect, got ${res.statusCode}: ${res.body.slice(0, 300)}`)
  const location = res.headers.location
  assert.equal(typeof location, 'string')
  const url = new URL(location as string)
  assert.equal(`${url.origin}${url.pathname}`, redirectUri)
  assert.equal(url.hash, '')
  // RFC 9207: exactly one iss, our issuer.
  assert.deepEqual(url.searchParams.getAll('iss'), [ISSUER])
  return url.searchParams
}

export interface Authorized {
  browser: Browser
  code: string
  verifier: string
  redirectUri: string
  params: URLSearchParams
}

export interface AuthorizeOptions {
  clientId?: string
  redirectUri?: string
  /** false: leave redirect_uri out of the request */
  sendRedirectUri?: boolean
  scope?: string
  state?: string
  nonce?: string
  email?: string
  browser?: Browser
}

/** The whole browser part of the code flow; approves the consent page when there is one. */
export async function authorizeCode (app: FastifyInstance, options: AuthorizeOptions = {}): Promise<Authorized> {
  const clientId = options.clientId ?? 'swagger-ui'
  const redirectUri = options.redirectUri ?? (clientId === 'swagger-ui' ? SWAGGER_REDIRECT : SPA_REDIRECT)
  const { verifier, challenge } = pkce()
  const browser = options.browser ?? new Browser(app)
  const path = authorizePath({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: options.sendRedirectUri === false ? undefined : redirectUri,
    scope: options.scope,
    state: options.state ?? 'st',
    nonce: options.nonce,
    code_challenge: challenge,
    code_challenge_method: 'S256'
  })
  let res = await browser.authorize(path, options.email ?? 'ada@example.com')
  let status = 302
  if (res.statusCode === 200) {
    res = await browser.post('/oauth/consent', consentForm(res, 'allow'))
    status = 303
  }
  const params = redirectParams(res, redirectUri, status)
  const code = params.get('code')
  assert.ok(code, `no code: ${res.headers.location}`)
  return { browser, code, verifier, redirectUri, params }
}

export async function token (app: FastifyInstance, fields: Record<string, string>, headers: Record<string, string> = {}) {
  return app.inject({ method: 'POST', url: '/oauth/token', headers: { ...FORM, ...headers }, payload: form(fields) })
}

export async function exchange (app: FastifyInstance, a: Authorized, clientId = 'swagger-ui', extra: Record<string, string> = {}) {
  return token(app, { grant_type: 'authorization_code', code: a.code, redirect_uri: a.redirectUri, code_verifier: a.verifier, client_id: clientId, ...extra })
}

export async function refresh (app: FastifyInstance, refreshToken: string, clientId = 'swagger-ui') {
  return token(app, { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: clientId })
}

export async function introspect (app: FastifyInstance, tokenValue: string) {
  const res = await app.inject({
    method: 'POST',
    url: '/oauth/introspect',
    headers: { ...FORM, authorization: basic('rs', 'r'.repeat(32)) },
    payload: form({ token: tokenValue })
  })
  assert.equal(res.statusCode, 200, res.body)
  return res.json<{ active: boolean }>()
}

export function assertOAuthError (res: LightMyRequestResponse, error: string, status = 400) {
  assert.equal(res.statusCode, status, res.body)
  assert.equal(res.json().error, error, res.body)
}

/** An HTML page of ours, and no redirect anywhere. */
export function assertPage (res: LightMyRequestResponse, status: number, context = '') {
  assert.equal(res.statusCode, status, `${context}: ${res.statusCode} ${res.headers.location ?? ''} ${res.body.slice(0, 300)}`)
  assert.equal(res.headers.location, undefined, `${context}: redirected to ${res.headers.location}`)
  assert.match(String(res.headers['content-type']), /^text\/html/, context)
}
