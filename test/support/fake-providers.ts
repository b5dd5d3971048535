import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose'

/**
 * Loopback stand-ins for the upstream providers of the presets (GitHub, Discord, Google,
 * Microsoft), on 127.0.0.1:0, answering with each provider's documented response shapes.
 * They are strict where the real ones are (client, redirect URI, single-use code, PKCE S256),
 * sign in at once (the authorize endpoint redirects straight back, no page), and record what
 * they were sent so that tests can look at it. Every refusal is kept in `rejections`.
 */

export interface FakeClient {
  clientId: string
  clientSecret: string
  /** Accepted redirect URIs; empty: any. */
  redirectUris: string[]
}

interface Grant {
  clientId: string
  redirectUri: string
  codeChallenge: string
  scope: string
  nonce?: string
  /** What the test configured when the code was issued: the account behind this login. */
  account: unknown
}

interface AccessGrant {
  scope: string
  account: unknown
}

const random = () => randomBytes(24).toString('base64url')
const s256 = (verifier: string) => createHash('sha256').update(verifier).digest('base64url')

function readBody (req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}

function json (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers })
  res.end(JSON.stringify(body))
}

/** RFC 6749 §2.3.1: client_secret_basic, with the form-urlencoded id and secret. */
function basicCredentials (req: IncomingMessage): { id: string, secret: string } | undefined {
  const header = req.headers.authorization
  if (!header?.toLowerCase().startsWith('basic ')) return undefined
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon < 0) return undefined
  const unform = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '))
  return { id: unform(decoded.slice(0, colon)), secret: unform(decoded.slice(colon + 1)) }
}

function bearer (req: IncomingMessage): string | undefined {
  const m = /^(?:Bearer|token) (.+)$/i.exec(req.headers.authorization ?? '')
  return m?.[1]
}

export interface TokenRequestRecord {
  /** How the client authenticated: HTTP Basic or client_id/client_secret in the body. */
  auth: 'basic' | 'body'
  params: URLSearchParams
  accept: string | undefined
}

/** The OAuth 2.0 part every fake shares: authorize (instant consent) and the code exchange. */
abstract class FakeOAuthServer<Account> {
  /** The account the next login signs in as; set by the test before each login. */
  account: Account
  readonly client: FakeClient
  readonly authorizeRequests: URLSearchParams[] = []
  readonly tokenRequests: TokenRequestRecord[] = []
  readonly resourceRequests: { path: string, token: string | undefined }[] = []
  /** Why the fake refused something: a test of a good login expects none. */
  readonly rejections: string[] = []
  url = ''
  private readonly server: Server
  private readonly codes = new Map<string, Grant>()
  protected readonly tokens = new Map<string, AccessGrant>()

  constructor (account: Account, client: Partial<FakeClient> = {}) {
    this.account = account
    this.client = { clientId: client.clientId ?? 'fake-client-id', clientSecret: client.clientSecret ?? 'fake-client-secret-'.padEnd(40, 's'), redirectUris: client.redirectUris ?? [] }
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: Error) => {
        this.rejections.push(`internal: ${err.message}`)
        if (!res.headersSent) json(res, 500, { error: 'server_error' })
        else res.end()
      })
    })
  }

  async start (): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
    return this
  }

  close (): Promise<void> {
    this.server.closeAllConnections()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }

  /** The last authorize request the browser brought here. */
  get lastAuthorize (): URLSearchParams | undefined {
    return this.authorizeRequests.at(-1)
  }

  protected reject (res: ServerResponse, status: number, why: string, body: unknown = { error: 'invalid_request', error_description: why }) {
    this.rejections.push(why)
    json(res, status, body)
  }

  protected abstract route (req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean>
  protected abstract tokenResponse (grant: Grant, accessToken: string): Promise<Record<string, unknown>>
  /** Documented error answer of the token endpoint. */
  protected tokenError (res: ServerResponse, error: string, why: string) {
    this.reject(res, error === 'invalid_client' ? 401 : 400, why, { error, error_description: why })
  }

  private async handle (req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', this.url)
    if (!await this.route(req, res, url)) this.reject(res, 404, `no route ${req.method} ${url.pathname}`, { message: 'Not Found' })
  }

  /** GET authorize: the user signs in and consents at once; straight back with code and state. */
  protected authorize (res: ServerResponse, url: URL, options: { requireOpenid: boolean }) {
    const q = url.searchParams
    this.authorizeRequests.push(new URLSearchParams(q))
    const redirectUri = q.get('redirect_uri') ?? ''
    const problems = [
      q.get('client_id') !== this.client.clientId && 'unknown client_id',
      q.get('response_type') !== 'code' && 'response_type is not code',
      !/^https?:\/\//.test(redirectUri) && 'no redirect_uri',
      this.client.redirectUris.length > 0 && !this.client.redirectUris.includes(redirectUri) && `redirect_uri not registered: ${redirectUri}`,
      !q.get('state') && 'no state',
      q.get('code_challenge_method') !== 'S256' && 'code_challenge_method is not S256',
      !/^[A-Za-z0-9_-]{43}$/.test(q.get('code_challenge') ?? '') && 'no S256 code_challenge',
      options.requireOpenid && !(q.get('scope') ?? '').split(' ').includes('openid') && 'scope lacks openid'
    ].filter((p): p is string => typeof p === 'string')
    if (problems.length > 0) {
      // A real provider shows its own error page; it never redirects to an unchecked URI.
      this.rejections.push(...problems)
      res.writeHead(400, { 'content-type': 'text/plain' })
      res.end(problems.join('\n'))
      return
    }
    const code = random()
    this.codes.set(code, {
      clientId: this.client.clientId,
      redirectUri,
      codeChallenge: q.get('code_challenge') as string,
      scope: q.get('scope') ?? '',
      nonce: q.get('nonce') ?? undefined,
      account: structuredClone(this.account)
    })
    const back = new URL(redirectUri)
    back.searchParams.set('code', code)
    back.searchParams.set('state', q.get('state') as string)
    res.writeHead(302, { location: back.toString() })
    res.end()
  }

  /** POST token: client authentication, single-use code, redirect_uri, PKCE verifier. */
  protected async token (req: IncomingMessage, res: ServerResponse) {
    const params = new URLSearchParams(await readBody(req))
    const basic = basicCredentials(req)
    this.tokenRequests.push({ auth: basic ? 'basic' : 'body', params, accept: req.headers.accept })
    const id = basic?.id ?? params.get('client_id')
    const secret = basic?.secret ?? params.get('client_secret')
    if (basic && params.has('client_secret')) return this.tokenError(res, 'invalid_request', 'two client authentication methods')
    if (id !== this.client.clientId || secret !== this.client.clientSecret) return this.tokenError(res, 'invalid_client', 'client authentication failed')
    if (params.get('grant_type') !== 'authorization_code') return this.tokenError(res, 'unsupported_grant_type', `grant_type ${params.get('grant_type')}`)
    const code = params.get('code') ?? ''
    const grant = this.codes.get(code)
    this.codes.delete(code)
    if (!grant) return this.tokenError(res, 'invalid_grant', 'unknown or used code')
    if (params.get('redirect_uri') !== grant.redirectUri) return this.tokenError(res, 'invalid_grant', 'redirect_uri differs from the authorize request')
    const verifier = params.get('code_verifier') ?? ''
    if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier) || s256(verifier) !== grant.codeChallenge) return this.tokenError(res, 'invalid_grant', 'PKCE verification failed')
    const accessToken = this.newAccessToken()
    this.tokens.set(accessToken, { scope: grant.scope, account: grant.account })
    const body = await this.tokenResponse(grant, accessToken)
    this.sendToken(req, res, body)
  }

  protected newAccessToken (): string {
    return random()
  }

  protected sendToken (_req: IncomingMessage, res: ServerResponse, body: Record<string, unknown>) {
    json(res, 200, body, { pragma: 'no-cache' })
  }

  /** The grant behind a bearer token on a resource request, or a 401 answered. */
  protected resource (req: IncomingMessage, res: ServerResponse, url: URL, unauthorized: unknown): AccessGrant | undefined {
    const token = bearer(req)
    this.resourceRequests.push({ path: url.pathname, token })
    const grant = token === undefined ? undefined : this.tokens.get(token)
    if (!grant) this.reject(res, 401, `bad access token at ${url.pathname}`, unauthorized)
    return grant
  }
}

// ---------------------------------------------------------------- GitHub

/** GitHub REST: an entry of GET /user/emails. */
export interface GithubEmail {
  email: string
  primary: boolean
  verified: boolean
  visibility: 'public' | 'private' | null
}

export interface GithubAccount {
  id: number
  login: string
  name: string | null
  /** The public profile email: null when the user keeps every address private. */
  email: string | null
  emails: GithubEmail[]
}

/**
 * GitHub: github.com/login/oauth/authorize, /login/oauth/access_token (form-encoded answer unless
 * Accept: application/json; errors with HTTP 200 and an `error` field, as documented), and the
 * REST API at the root: GET /user, GET /user/emails (needs user:email).
 */
export class FakeGithub extends FakeOAuthServer<GithubAccount> {
  protected async route (req: IncomingMessage, res: ServerResponse, url: URL) {
    const route = `${req.method} ${url.pathname}`
    if (route === 'GET /login/oauth/authorize') this.authorize(res, url, { requireOpenid: false })
    else if (route === 'POST /login/oauth/access_token') await this.token(req, res)
    else if (route === 'GET /user') this.user(req, res, url)
    else if (route === 'GET /user/emails') this.emails(req, res, url)
    else return false
    return true
  }

  protected tokenError (res: ServerResponse, error: string, why: string) {
    this.rejections.push(why)
    const codes: Record<string, string> = { invalid_grant: 'bad_verification_code', invalid_client: 'incorrect_client_credentials' }
    json(res, 200, { error: codes[error] ?? error, error_description: why, error_uri: 'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors' })
  }

  protected async tokenResponse (grant: Grant, accessToken: string) {
    // GitHub answers with the granted scopes comma-separated.
    return { access_token: accessToken, token_type: 'bearer', scope: grant.scope.split(' ').filter(Boolean).join(',') }
  }

  protected newAccessToken () {
    return `gho_${random()}`
  }

  protected sendToken (req: IncomingMessage, res: ServerResponse, body: Record<string, unknown>) {
    if ((req.headers.accept ?? '').includes('application/json')) return json(res, 200, body)
    res.writeHead(200, { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' })
    res.end(new URLSearchParams(Object.entries(body).map(([k, v]): [string, string] => [k, String(v)])).toString())
  }

  private readonly unauthorized = { message: 'Requires authentication', documentation_url: 'https://docs.github.com/rest/users/users#get-the-authenticated-user', status: '401' }

  private user (req: IncomingMessage, res: ServerResponse, url: URL) {
    const grant = this.resource(req, res, url, this.unauthorized)
    if (!grant) return
    json(res, 200, githubUserObject(grant.account as GithubAccount))
  }

  private emails (req: IncomingMessage, res: ServerResponse, url: URL) {
    const grant = this.resource(req, res, url, this.unauthorized)
    if (!grant) return
    if (!grant.scope.split(/[ ,]/).some((s) => s === 'user:email' || s === 'user')) {
      return this.reject(res, 404, 'GET /user/emails without the user:email scope', { message: 'Not Found', documentation_url: 'https://docs.github.com/rest/users/emails#list-email-addresses-for-the-authenticated-user', status: '404' })
    }
    json(res, 200, (grant.account as GithubAccount).emails)
  }
}

/** GitHub's documented "private user" object (GET /user with an OAuth token). */
export function githubUserObject (a: GithubAccount) {
  const api = `https://api.github.com/users/${a.login}`
  return {
    login: a.login,
    id: a.id,
    node_id: Buffer.from(`04:User${a.id}`).toString('base64'),
    avatar_url: `https://avatars.githubusercontent.com/u/${a.id}?v=4`,
    gravatar_id: '',
    url: api,
    html_url: `https://github.com/${a.login}`,
    followers_url: `${api}/followers`,
    following_url: `${api}/following{/other_user}`,
    gists_url: `${api}/gists{/gist_id}`,
    starred_url: `${api}/starred{/owner}{/repo}`,
    subscriptions_url: `${api}/subscriptions`,
    organizations_url: `${api}/orgs`,
    repos_url: `${api}/repos`,
    events_url: `${api}/events{/privacy}`,
    received_events_url: `${api}/received_events`,
    type: 'User',
    user_view_type: 'private',
    site_admin: false,
    name: a.name,
    company: null,
    blog: '',
    location: null,
    email: a.email,
    hireable: null,
    bio: null,
    twitter_username: null,
    notification_email: a.email,
    public_repos: 2,
    public_gists: 0,
    followers: 1,
    following: 0,
    created_at: '2011-01-25T18:44:36Z',
    updated_at: '2024-05-01T10:00:00Z',
    private_gists: 0,
    total_private_repos: 0,
    owned_private_repos: 0,
    disk_usage: 10,
    collaborators: 0,
    two_factor_authentication: true,
    plan: { name: 'free', space: 976562499, collaborators: 0, private_repos: 10000 }
  }
}

// ---------------------------------------------------------------- Discord

export interface DiscordAccount {
  /** A snowflake, as a string. */
  id: string
  username: string
  global_name: string | null
  /** Only with the email scope; null when the account has none. */
  email: string | null
  verified: boolean
}

/**
 * Discord: discord.com/oauth2/authorize, POST /api/oauth2/token, GET /api/users/@me
 * (email and verified only with the email scope).
 */
export class FakeDiscord extends FakeOAuthServer<DiscordAccount> {
  protected async route (req: IncomingMessage, res: ServerResponse, url: URL) {
    const route = `${req.method} ${url.pathname}`
    if (route === 'GET /oauth2/authorize') this.authorize(res, url, { requireOpenid: false })
    else if (route === 'POST /api/oauth2/token') await this.token(req, res)
    else if (route === 'GET /api/users/@me') this.me(req, res, url)
    else return false
    return true
  }

  protected async tokenResponse (grant: Grant, accessToken: string) {
    return { access_token: accessToken, token_type: 'Bearer', expires_in: 604800, refresh_token: random(), scope: grant.scope }
  }

  private me (req: IncomingMessage, res: ServerResponse, url: URL) {
    const grant = this.resource(req, res, url, { message: '401: Unauthorized', code: 0 })
    if (!grant) return
    json(res, 200, discordUserObject(grant.account as DiscordAccount, grant.scope.split(' ').includes('email')))
  }
}

/** Discord's documented user object (API v10), as GET /users/@me answers it. */
export function discordUserObject (a: DiscordAccount, withEmail: boolean) {
  return {
    id: a.id,
    username: a.username,
    discriminator: '0',
    global_name: a.global_name,
    avatar: '8342729096ea3675442027381ff50dfe',
    bot: false,
    system: false,
    mfa_enabled: true,
    banner: null,
    accent_color: null,
    locale: 'en-US',
    flags: 0,
    premium_type: 0,
    public_flags: 0,
    avatar_decoration_data: null,
    ...(withEmail ? { email: a.email, verified: a.verified } : {})
  }
}

// ---------------------------------------------------------------- OpenID Connect (Google, Microsoft)

/** Claims of the next id_token; they override the preset's, and `undefined` removes one. */
export type ClaimsOverride = Record<string, unknown>

let sharedKeyPair: ReturnType<typeof generateKeyPair> | undefined

abstract class FakeOidcServer extends FakeOAuthServer<ClaimsOverride> {
  readonly idTokens: string[] = []
  /** Merged into what the userinfo endpoint answers, at the time of the request. */
  userinfoExtra: Record<string, unknown> = {}
  readonly kid = `key-${random().slice(0, 8)}`
  private privateKey?: Awaited<ReturnType<typeof generateKeyPair>>['privateKey']
  private jwk?: JWK

  async start (): Promise<this> {
    // One RSA key for every fake of the process: generating one costs more than a login.
    sharedKeyPair ??= generateKeyPair('RS256')
    const pair = await sharedKeyPair
    this.privateKey = pair.privateKey
    this.jwk = { ...await exportJWK(pair.publicKey), kid: this.kid, alg: 'RS256', use: 'sig' }
    return super.start()
  }

  /** The preset's claims for the login, before the test's override. */
  protected abstract claims (grant: Grant): Record<string, unknown>
  /** What the userinfo endpoint answers. */
  protected abstract userinfo (claims: Record<string, unknown>): Record<string, unknown>
  protected abstract tokenExtras (grant: Grant): Record<string, unknown>

  protected jwks (res: ServerResponse) {
    json(res, 200, { keys: [this.jwk] })
  }

  protected fullClaims (grant: Grant): Record<string, unknown> {
    const merged: Record<string, unknown> = { ...this.claims(grant), ...(grant.account as ClaimsOverride) }
    for (const [k, v] of Object.entries(merged)) if (v === undefined) delete merged[k]
    return merged
  }

  protected async tokenResponse (grant: Grant, accessToken: string) {
    const idToken = await new SignJWT(this.fullClaims(grant) as JWTPayload)
      .setProtectedHeader({ alg: 'RS256', kid: this.kid, typ: 'JWT' })
      .sign(this.privateKey as NonNullable<typeof this.privateKey>)
    this.idTokens.push(idToken)
    return { access_token: accessToken, expires_in: 3599, token_type: 'Bearer', scope: grant.scope, id_token: idToken, ...this.tokenExtras(grant) }
  }

  protected userinfoRoute (req: IncomingMessage, res: ServerResponse, url: URL) {
    const grant = this.resource(req, res, url, { error: 'invalid_token' })
    if (!grant) return
    const info: Record<string, unknown> = { ...this.userinfo(this.fullClaims({ ...grant, clientId: this.client.clientId, redirectUri: '', codeChallenge: '' })), ...this.userinfoExtra }
    for (const [k, v] of Object.entries(info)) if (v === undefined) delete info[k]
    json(res, 200, info)
  }
}

const now = () => Math.floor(Date.now() / 1000)

/** The tenant of Microsoft personal accounts: what /consumers/ stands for. */
export const CONSUMERS_TENANT = '9188040d-6c67-4c5b-b112-36a304b66dad'

/**
 * Google: discovery at the issuer's root (the issuer is this server's URL), /o/oauth2/v2/auth,
 * /token, /oauth2/v3/certs, /v1/userinfo; id_tokens with Google's documented claims.
 */
export class FakeGoogle extends FakeOidcServer {
  protected async route (req: IncomingMessage, res: ServerResponse, url: URL) {
    const route = `${req.method} ${url.pathname}`
    if (route === 'GET /.well-known/openid-configuration') this.discovery(res)
    else if (route === 'GET /o/oauth2/v2/auth') this.authorize(res, url, { requireOpenid: true })
    else if (route === 'POST /token') await this.token(req, res)
    else if (route === 'GET /oauth2/v3/certs') this.jwks(res)
    else if (route === 'GET /v1/userinfo') this.userinfoRoute(req, res, url)
    else return false
    return true
  }

  private discovery (res: ServerResponse) {
    const u = this.url
    json(res, 200, {
      issuer: u,
      authorization_endpoint: `${u}/o/oauth2/v2/auth`,
      device_authorization_endpoint: `${u}/device/code`,
      token_endpoint: `${u}/token`,
      userinfo_endpoint: `${u}/v1/userinfo`,
      revocation_endpoint: `${u}/revoke`,
      jwks_uri: `${u}/oauth2/v3/certs`,
      response_types_supported: ['code', 'token', 'id_token', 'code token', 'code id_token', 'token id_token', 'code token id_token', 'none'],
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256'],
      scopes_supported: ['openid', 'email', 'profile'],
      token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
      claims_supported: ['aud', 'email', 'email_verified', 'exp', 'family_name', 'given_name', 'iat', 'iss', 'name', 'picture', 'sub'],
      code_challenge_methods_supported: ['plain', 'S256'],
      grant_types_supported: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code', 'urn:ietf:params:oauth:grant-type:jwt-bearer']
    })
  }

  protected claims (grant: Grant) {
    const iat = now()
    return {
      iss: this.url,
      azp: grant.clientId,
      aud: grant.clientId,
      sub: '110169484474386276334',
      email: 'jane.doe@gmail.com',
      email_verified: true,
      at_hash: random().slice(0, 22),
      nonce: grant.nonce,
      name: 'Jane Doe',
      picture: 'https://lh3.googleusercontent.com/a/ACg8ocJ-jane=s96-c',
      given_name: 'Jane',
      family_name: 'Doe',
      iat,
      exp: iat + 3600
    }
  }

  protected userinfo (c: Record<string, unknown>) {
    const { sub, email, email_verified: emailVerified, name, picture, given_name: givenName, family_name: familyName } = c
    return { sub, name, given_name: givenName, family_name: familyName, picture, email, email_verified: emailVerified }
  }

  protected tokenExtras () {
    return {}
  }
}

/**
 * Microsoft identity platform v2.0 on one server: /<tenant>/v2.0/.well-known/openid-configuration
 * for common, organizations, consumers or a tenant id. The multi-tenant documents name the
 * issuer by the template `<url>/{tenantid}/v2.0`; the id_token names the user's tenant (tid) in
 * iss. Endpoints under /<tenant>/oauth2/v2.0/, keys at /<tenant>/discovery/v2.0/keys, userinfo
 * at /oidc/userinfo (Graph's). Email is optional and unverified unless xms_edov says so.
 */
export class FakeMicrosoft extends FakeOidcServer {
  /** The tenant of the signed-in users (and of the domain-named tenant). */
  tenantId = '72f988bf-86f1-41af-91ab-2d7cd011db47'

  protected async route (req: IncomingMessage, res: ServerResponse, url: URL) {
    const m = /^\/([A-Za-z0-9.-]+)\/(v2\.0\/\.well-known\/openid-configuration|oauth2\/v2\.0\/authorize|oauth2\/v2\.0\/token|discovery\/v2\.0\/keys)$/.exec(url.pathname)
    if (req.method === 'GET' && url.pathname === '/oidc/userinfo') {
      this.userinfoRoute(req, res, url)
      return true
    }
    if (!m) return false
    const [, tenant = '', what] = m
    if (req.method === 'GET' && what === 'v2.0/.well-known/openid-configuration') this.discovery(res, tenant)
    else if (req.method === 'GET' && what === 'oauth2/v2.0/authorize') this.authorize(res, url, { requireOpenid: true })
    else if (req.method === 'POST' && what === 'oauth2/v2.0/token') await this.token(req, res)
    else if (req.method === 'GET' && what === 'discovery/v2.0/keys') this.jwks(res)
    else return false
    return true
  }

  private discovery (res: ServerResponse, tenant: string) {
    const u = `${this.url}/${tenant}`
    // common and organizations publish the template; consumers and a tenant named by its
    // domain publish the issuer of the one tenant they stand for (its id, not its name).
    const multi = tenant === 'common' || tenant === 'organizations'
    const issuerTenant = tenant === 'consumers' ? CONSUMERS_TENANT : tenant.includes('.') ? this.tenantId : tenant
    json(res, 200, {
      token_endpoint: `${u}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: `${u}/discovery/v2.0/keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer: multi ? `${this.url}/{tenantid}/v2.0` : `${this.url}/${issuerTenant}/v2.0`,
      request_uri_parameter_supported: false,
      userinfo_endpoint: `${this.url}/oidc/userinfo`,
      authorization_endpoint: `${u}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${u}/oauth2/v2.0/devicecode`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${u}/oauth2/v2.0/logout`,
      claims_supported: ['sub', 'iss', 'cloud_instance_name', 'cloud_instance_host_name', 'cloud_graph_host_name', 'msgraph_host', 'aud', 'exp', 'iat', 'auth_time', 'acr', 'nonce', 'preferred_username', 'name', 'tid', 'ver', 'at_hash', 'c_hash', 'email'],
      kerberos_endpoint: `${u}/kerberos`,
      tenant_region_scope: null,
      cloud_instance_name: 'microsoftonline.com',
      cloud_graph_host_name: 'graph.windows.net',
      msgraph_host: 'graph.microsoft.com',
      rbac_url: 'https://pas.windows.net'
    })
  }

  protected claims (grant: Grant) {
    const iat = now()
    return {
      ver: '2.0',
      iss: `${this.url}/${this.tenantId}/v2.0`,
      sub: 'AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ',
      aud: grant.clientId,
      exp: iat + 3600,
      iat,
      nbf: iat,
      name: 'Abe Lincoln',
      preferred_username: 'AbeLi@contoso.com',
      oid: randomUUID(),
      email: 'AbeLi@contoso.com',
      tid: this.tenantId,
      nonce: grant.nonce,
      aio: random(),
      rh: `0.${random()}.`,
      uti: random().slice(0, 22)
    }
  }

  protected userinfo (c: Record<string, unknown>) {
    const [givenName, familyName] = String(c.name ?? '').split(' ')
    return { sub: c.sub, name: c.name, family_name: familyName, given_name: givenName, picture: 'https://graph.microsoft.com/v1.0/me/photo/$value', email: c.email }
  }

  protected tokenExtras () {
    return { ext_expires_in: 3599 }
  }
}

export type FakeProvider = FakeGithub | FakeDiscord | FakeGoogle | FakeMicrosoft
