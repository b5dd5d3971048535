import assert from 'node:assert/strict'

interface Cookie { name: string, value: string, host: string, path: string, expires: number }

export interface Visit { url: URL, status: number, location?: string, body: string }

/**
 * A small browser over fetch for flows that cross servers (our app, an upstream provider):
 * cookies per host (ports share them, as in browsers) and path, redirects followed by hand
 * so that every hop can be looked at. No JavaScript.
 */
export class WebBrowser {
  private readonly jar: Cookie[] = []
  readonly history: Visit[] = []

  cookie (name: string, host = '127.0.0.1'): string | undefined {
    return this.jar.find((c) => c.name === name && c.host === host && c.expires > Date.now())?.value
  }

  setCookie (url: string | URL, name: string, value: string, path = '/') {
    const { hostname } = new URL(url)
    this.store({ name, value, host: hostname, path, expires: Infinity })
  }

  private store (cookie: Cookie) {
    const i = this.jar.findIndex((c) => c.name === cookie.name && c.host === cookie.host && c.path === cookie.path)
    if (i >= 0) this.jar.splice(i, 1)
    if (cookie.expires > Date.now() && cookie.value !== '') this.jar.push(cookie)
  }

  private keep (url: URL, res: Response) {
    for (const line of res.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';').map((s) => s.trim())
      const eq = pair.indexOf('=')
      if (eq <= 0) continue
      const attr = (key: string) => attributes.find((a) => a.toLowerCase().startsWith(`${key}=`))?.slice(key.length + 1)
      const maxAge = attr('max-age')
      const expires = attr('expires')
      const defaultPath = url.pathname.slice(0, url.pathname.lastIndexOf('/')) || '/'
      this.store({
        name: pair.slice(0, eq),
        value: pair.slice(eq + 1),
        host: url.hostname,
        path: attr('path') ?? defaultPath,
        expires: maxAge !== undefined ? Date.now() + Number(maxAge) * 1000 : expires !== undefined ? Date.parse(expires) : Infinity
      })
    }
  }

  private cookieHeader (url: URL): string | undefined {
    const now = Date.now()
    const sent = this.jar.filter((c) => c.host === url.hostname && c.expires > now &&
      (url.pathname === c.path || url.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`)))
    return sent.length > 0 ? sent.map((c) => `${c.name}=${c.value}`).join('; ') : undefined
  }

  async request (url: string | URL, init: { method?: string, form?: Record<string, string>, headers?: Record<string, string> } = {}): Promise<Visit> {
    const target = new URL(url)
    const headers: Record<string, string> = { ...init.headers }
    const cookie = this.cookieHeader(target)
    if (cookie) headers.cookie = cookie
    if (init.form) headers['content-type'] = 'application/x-www-form-urlencoded'
    const res = await fetch(target, {
      method: init.method ?? (init.form ? 'POST' : 'GET'),
      headers,
      body: init.form ? new URLSearchParams(init.form).toString() : undefined,
      redirect: 'manual'
    })
    this.keep(target, res)
    const location = res.headers.get('location') ?? undefined
    const visit: Visit = { url: target, status: res.status, location: location && new URL(location, target).toString(), body: await res.text() }
    this.history.push(visit)
    return visit
  }

  /**
   * Follows redirects from `url` until a page answers or the next hop leaves the given
   * origins (a client's redirect URI): that hop's URL is then `visit.location`.
   */
  async follow (url: string | URL, origins: string[], init: Parameters<WebBrowser['request']>[1] = {}): Promise<Visit> {
    let visit = await this.request(url, init)
    for (let hops = 0; visit.location !== undefined && visit.status >= 300 && visit.status < 400; hops++) {
      assert.ok(hops < 20, 'too many redirects')
      if (!origins.includes(new URL(visit.location).origin)) return visit
      visit = await this.request(visit.location)
    }
    return visit
  }
}

export interface PageForm { action: string, fields: Record<string, string> }

/** The forms of an HTML page: action and the named inputs with their values. */
export function pageForms (html: string, base: URL): PageForm[] {
  const forms: PageForm[] = []
  for (const m of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const action = /action="([^"]*)"/i.exec(m[1] ?? '')?.[1] ?? base.toString()
    const fields: Record<string, string> = {}
    for (const input of (m[2] ?? '').matchAll(/<(?:input|button)\b([^>]*)>/gi)) {
      const name = /name="([^"]*)"/i.exec(input[1] ?? '')?.[1]
      if (name) fields[unescape(name)] = unescape(/value="([^"]*)"/i.exec(input[1] ?? '')?.[1] ?? '')
    }
    forms.push({ action: new URL(unescape(action), base).toString(), fields })
  }
  return forms
}

/** The links of an HTML page, by their text. */
export function pageLinks (html: string, base: URL): { text: string, href: string }[] {
  return [...html.matchAll(/<a\b[^>]*href="([^"]*)"[^>]*>([\s\S]*?)<\/a>/gi)]
    .map((m) => ({ text: unescape((m[2] ?? '').replace(/<[^>]*>/g, '').trim()), href: new URL(unescape(m[1] ?? ''), base).toString() }))
}

function unescape (s: string): string {
  return s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&')
}
