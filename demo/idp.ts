// "Demo IdP": a small local OpenID Connect provider (oidc-provider) that the demo starts beside
// itself, so that "log in with a provider" can be tried offline, and that tests use as a real
// upstream peer. Any email with any non-empty password signs in; nothing is persisted.
import { createHash, generateKeyPair, randomBytes, randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { promisify } from 'node:util'
import escapeHtml from 'escape-html'

export interface DemoIdpClient { clientId: string, clientSecret: string, redirectUris: string[] }
export interface DemoIdp {
  issuer: string
  /** Where it listens (differs from the issuer when one was given). */
  url: string
  close(): Promise<void>
}
export interface DemoIdpOptions {
  /** 0 (the default) picks a free port. */
  port?: number
  /** Defaults to 127.0.0.1. */
  host?: string
  clients: DemoIdpClient[]
  logger?: (msg: string) => void
  /** The issuer it names itself by; default its own URL. For a proxy in front of it (tests). */
  issuer?: string
  /** Private signing JWK (RS256, with kid); default a new key per start. */
  signingKey?: Record<string, unknown>
  /** Whether it reports an email as verified; default: every email. */
  emailVerified?: (email: string) => boolean
}

// oidc-provider ships no type declarations: the little of its API used here, typed by hand.
interface Interaction {
  uid: string
  prompt: { name: string, details: PromptDetails }
  params: Record<string, unknown> & { client_id: string, login_hint?: string }
  session?: { accountId?: string }
  grantId?: string
}
interface PromptDetails {
  missingOIDCScope?: string[]
  missingOIDCClaims?: string[]
  missingResourceScopes?: Record<string, string[]>
}
interface Grant {
  addOIDCScope (scope: string): void
  addOIDCClaims (claims: string[]): void
  addResourceScope (indicator: string, scope: string): void
  save (): Promise<string>
}
type InteractionResult =
  | { login: { accountId: string, remember?: boolean } }
  | { consent: { grantId?: string } }
  | { error: string, error_description?: string }
interface Provider {
  callback (): (req: IncomingMessage, res: ServerResponse) => void
  interactionDetails (req: IncomingMessage, res: ServerResponse): Promise<Interaction>
  interactionFinished (req: IncomingMessage, res: ServerResponse, result: InteractionResult, options: { mergeWithLastSubmission: boolean }): Promise<void>
  Grant: { new (init: { accountId: string, clientId: string }): Grant, find (id: string): Promise<Grant | undefined> }
  Client: { find (id: string): Promise<{ clientId: string, clientName?: string } | undefined> }
  on (event: string, listener: (ctx: unknown, err: Error) => void): unknown
}
interface OidcProviderModule { default: new (issuer: string, configuration: Record<string, unknown>) => Provider }
interface KoaContext { type: string, body: unknown, status: number }

let loading: Promise<OidcProviderModule> | undefined

/**
 * oidc-provider, loaded on first use only (it is a devDependency, and it warns when merely
 * imported on Node 20: "Unsupported runtime. Use Node.js v22.x LTS" — it works on Node 20 for this
 * demo, so that one import-time warning is dropped). Other console output passes through.
 */
function loadOidcProvider (): Promise<OidcProviderModule> {
  loading ??= (async () => {
    const specifier: string = 'oidc-provider' // not a literal: the package has no types to resolve
    const warn = console.warn
    console.warn = (...args: unknown[]) => {
      if (typeof args[0] === 'string' && args[0].includes('oidc-provider WARNING: Unsupported runtime')) return
      warn.apply(console, args)
    }
    try {
      return await import(specifier) as OidcProviderModule
    } finally {
      console.warn = warn
    }
  })().catch((err: unknown) => {
    loading = undefined
    throw err
  })
  return loading
}

/** The same email (case-insensitively) always gets the same subject identifier. */
export function demoIdpSubject (email: string): string {
  return createHash('sha256').update(email.trim().toLowerCase()).digest('hex').slice(0, 24)
}

const EMAIL = /^[^\s@]+@[^\s@]+$/
const INTERACTION = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|abort))?$/
const MAX_FORM_BYTES = 16 * 1024

/**
 * In-memory storage of oidc-provider's models (sessions, interactions, codes, tokens, grants),
 * one per IdP, so that the provider's "development-only in-memory adapter" warning does not apply.
 */
export function memoryAdapter () {
  const store = new Map<string, { payload: Record<string, unknown>, expiresAt: number }>()
  const sessionsByUid = new Map<string, string>()
  const byGrant = new Map<string, Set<string>>()
  const live = (key: string | undefined) => {
    if (key === undefined) return undefined
    const entry = store.get(key)
    if (entry && entry.expiresAt <= Date.now()) {
      store.delete(key)
      return undefined
    }
    return entry?.payload
  }
  return (model: string) => {
    const key = (id: string) => `${model}:${id}`
    return {
      async upsert (id: string, payload: Record<string, unknown>, expiresIn?: number) {
        store.set(key(id), { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : Infinity })
        if (model === 'Session' && typeof payload.uid === 'string') sessionsByUid.set(payload.uid, id)
        if (typeof payload.grantId === 'string') {
          const keys = byGrant.get(payload.grantId) ?? new Set<string>()
          keys.add(key(id))
          byGrant.set(payload.grantId, keys)
        }
      },
      async find (id: string) { return live(key(id)) },
      async findByUid (uid: string) {
        const id = sessionsByUid.get(uid)
        return id === undefined ? undefined : live(key(id))
      },
      async findByUserCode () { return undefined },
      async consume (id: string) {
        const payload = live(key(id))
        if (payload) payload.consumed = Math.floor(Date.now() / 1000)
      },
      async destroy (id: string) {
        const payload = live(key(id))
        if (model === 'Session' && typeof payload?.uid === 'string') sessionsByUid.delete(payload.uid)
        store.delete(key(id))
      },
      async revokeByGrantId (grantId: string) {
        for (const k of byGrant.get(grantId) ?? []) store.delete(k)
        byGrant.delete(grantId)
      }
    }
  }
}

function page (title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
body{font-family:system-ui,sans-serif;background:#f3f4f6;margin:0;padding:3rem 1rem}
main{max-width:22rem;margin:0 auto;background:#fff;border-radius:8px;padding:1.5rem 2rem;box-shadow:0 1px 3px rgba(0,0,0,.2)}
h1{font-size:1.4rem;margin:0 0 .3rem}p{color:#555}.note{font-size:.85rem}.error{color:#b91c1c}
label{display:block;margin:.8rem 0 .2rem}input{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem}
button{width:100%;margin-top:1rem;padding:.6rem;font-size:1rem;cursor:pointer}
.primary{background:#7c3aed;color:#fff;border:0;border-radius:4px}.secondary{background:none;border:1px solid #ccc;border-radius:4px}
</style>
</head>
<body><main>
<h1>Demo IdP</h1>
${body}
</main></body>
</html>
`
}

function loginPage (uid: string, clientName: string, email: string, error?: string): string {
  const base = `/interaction/${encodeURIComponent(uid)}`
  return page('Demo IdP', `<p>Sign in to continue to <strong>${escapeHtml(clientName)}</strong>.</p>
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}<form method="post" action="${escapeHtml(`${base}/login`)}">
<label for="idp-email">Email</label>
<input id="idp-email" name="email" type="email" autocomplete="username" required autofocus value="${escapeHtml(email)}">
<label for="idp-password">Password</label>
<input id="idp-password" name="password" type="password" autocomplete="current-password" required>
<button type="submit" class="primary">Sign in to Demo IdP</button>
</form>
<form method="post" action="${escapeHtml(`${base}/abort`)}">
<button type="submit" class="secondary">Cancel</button>
</form>
<p class="note">A local test provider: any email and any non-empty password sign in.</p>`)
}

function errorPage (error: string, description?: string): string {
  return page('Demo IdP: error', `<p class="error" role="alert">${escapeHtml(error)}</p>${description ? `<p>${escapeHtml(description)}</p>` : ''}`)
}

function send (res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer'
  })
  res.end(html)
}

async function readForm (req: IncomingMessage): Promise<URLSearchParams> {
  const type = req.headers['content-type'] ?? ''
  if (!type.toLowerCase().startsWith('application/x-www-form-urlencoded')) {
    throw Object.assign(new Error('expected a form post'), { statusCode: 415 })
  }
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_FORM_BYTES) throw Object.assign(new Error('form too large'), { statusCode: 413 })
    chunks.push(chunk)
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'))
}

export async function startDemoIdp (options: DemoIdpOptions): Promise<DemoIdp> {
  const { default: Provider } = await loadOidcProvider()
  const log = options.logger ?? (() => {})
  const host = options.host ?? '127.0.0.1'

  // The issuer must name the port, so listen first and let requests in only once the provider exists.
  let handle: ((req: IncomingMessage, res: ServerResponse) => void) | undefined
  const server = createServer((req, res) => {
    if (handle) handle(req, res)
    else send(res, 503, errorPage('temporarily_unavailable'))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject)
      resolve()
    })
  })

  try {
    const { port } = server.address() as AddressInfo
    const publicHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host
    const issuer = options.issuer ?? `http://${publicHost}:${port}`
    const emailVerified = options.emailVerified ?? (() => true)

    const signingKey = options.signingKey ?? await (async () => {
      const { privateKey } = await promisify(generateKeyPair)('rsa', { modulusLength: 2048 })
      return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' }
    })()

    // Accounts exist from their first sign-in on, for this run of the IdP.
    const accounts = new Map<string, string>()

    const provider = new Provider(issuer, {
      adapter: memoryAdapter(),
      jwks: { keys: [signingKey] },
      cookies: { keys: [randomBytes(32).toString('base64url')] },
      clients: options.clients.map((c) => ({
        client_id: c.clientId,
        client_secret: c.clientSecret,
        redirect_uris: c.redirectUris,
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic'
      })),
      // A confidential client may authenticate either way, whatever it registered.
      clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
      responseTypes: ['code'],
      // Our clients always send S256 (the only method oidc-provider 9 supports); require it.
      pkce: { required: () => true },
      scopes: ['openid', 'email', 'profile', 'offline_access'],
      claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
      // By default an ID token from the code flow carries no scope claims (they are for userinfo);
      // a login that reads only the ID token wants them there too.
      conformIdTokenClaims: false,
      // Refresh tokens to every client allowed the grant, without offline_access and its
      // prompt=consent dance: what the app's upstream-token refresh needs to be tried.
      issueRefreshToken: async (_ctx: unknown, client: { grantTypeAllowed: (grant: string) => boolean }) => client.grantTypeAllowed('refresh_token'),
      features: {
        devInteractions: { enabled: false },
        rpInitiatedLogout: { enabled: false }
      },
      clientBasedCORS: () => false,
      ttl: {
        AccessToken: 10 * 60,
        AuthorizationCode: 60,
        IdToken: 10 * 60,
        RefreshToken: 24 * 60 * 60,
        Interaction: 10 * 60,
        Session: 24 * 60 * 60,
        Grant: 24 * 60 * 60
      },
      findAccount: async (_ctx: unknown, sub: string) => {
        const email = accounts.get(sub)
        if (email === undefined) return undefined
        return {
          accountId: sub,
          claims: async () => ({ sub, email, email_verified: emailVerified(email), name: email.slice(0, email.indexOf('@')) })
        }
      },
      renderError: async (ctx: KoaContext, out: { error?: string, error_description?: string }) => {
        ctx.type = 'html'
        ctx.body = errorPage(out.error ?? 'server_error', out.error_description)
      }
    })
    provider.on('server_error', (_ctx, err) => { log(`Demo IdP: server error: ${err.message}`) })
    const providerCallback = provider.callback()

    const interaction = async (req: IncomingMessage, res: ServerResponse, uid: string, action: string | undefined) => {
      const details = await provider.interactionDetails(req, res)
      if (details.uid !== uid) {
        send(res, 400, errorPage('invalid_request', 'This sign-in page is out of date; start again.'))
        return
      }
      const { prompt, params } = details
      const client = await provider.Client.find(params.client_id)
      const clientName = client?.clientName ?? params.client_id

      if (action === 'abort' && req.method === 'POST') {
        await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'The user cancelled' }, { mergeWithLastSubmission: false })
        return
      }

      if (action === 'login' && req.method === 'POST') {
        if (prompt.name !== 'login') {
          send(res, 400, errorPage('invalid_request', 'Nothing to sign in to here; start again.'))
          return
        }
        const form = await readForm(req)
        const email = (form.get('email') ?? '').trim()
        const password = form.get('password') ?? ''
        if (!EMAIL.test(email) || password === '') {
          send(res, 400, loginPage(uid, clientName, email, 'Enter an email address and any password.'))
          return
        }
        const sub = demoIdpSubject(email)
        accounts.set(sub, email.toLowerCase())
        log(`Demo IdP: signed in ${sub} for ${clientName}`)
        await provider.interactionFinished(req, res, { login: { accountId: sub, remember: false } }, { mergeWithLastSubmission: false })
        return
      }

      if (action !== undefined || req.method !== 'GET') {
        send(res, 405, errorPage('invalid_request', 'Method not allowed.'))
        return
      }

      if (prompt.name === 'login') {
        send(res, 200, loginPage(uid, clientName, typeof params.login_hint === 'string' ? params.login_hint : ''))
        return
      }

      if (prompt.name === 'consent') {
        // A first-party demo: whatever the client asked for is granted without asking.
        const accountId = details.session?.accountId
        if (accountId === undefined) throw new Error('consent without a session')
        const existing = details.grantId ? await provider.Grant.find(details.grantId) : undefined
        const grant = existing ?? new provider.Grant({ accountId, clientId: params.client_id })
        const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details
        if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '))
        if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims)
        for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {})) {
          grant.addResourceScope(indicator, scopes.join(' '))
        }
        const grantId = await grant.save()
        await provider.interactionFinished(req, res, { consent: existing ? {} : { grantId } }, { mergeWithLastSubmission: true })
        return
      }

      send(res, 501, errorPage('server_error', `Unsupported prompt ${prompt.name}.`))
    }

    handle = (req, res) => {
      const path = (req.url ?? '/').split('?')[0] ?? '/'
      const match = INTERACTION.exec(path)
      if (!match) {
        providerCallback(req, res)
        return
      }
      interaction(req, res, match[1] as string, match[2]).catch((err: unknown) => {
        const e = err as { name?: string, message?: string, statusCode?: number, status?: number, error?: string, error_description?: string }
        const status = e.statusCode ?? e.status ?? 500
        if (status >= 500) log(`Demo IdP: interaction failed: ${e.message ?? String(err)}`)
        if (res.headersSent) {
          res.destroy()
          return
        }
        // SessionNotFound and the like: the interaction cookie is missing or expired.
        send(res, status, errorPage(status >= 500 ? 'server_error' : e.error ?? 'invalid_request',
          status >= 500 ? undefined : e.error_description ?? e.message))
      })
    }

    log(`Demo IdP: issuer ${issuer}`)
    return {
      issuer,
      url: `http://${publicHost}:${port}`,
      close: () => new Promise<void>((resolve, reject) => {
        server.close((err) => { if (err) reject(err); else resolve() })
        server.closeAllConnections()
      })
    }
  } catch (err) {
    server.close()
    throw err
  }
}
