// An external authorization server for resource-server tests: oidc-provider on 127.0.0.1,
// issuing client-credentials tokens for one API (RFC 8707 resource indicators), either as
// JWTs (RFC 9068) or as opaque tokens that only introspection (RFC 7662) can judge.
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import { memoryAdapter } from '../../demo/idp.js'

export const API = 'https://api.example.test'
/** A resource server of the same issuer that is not us. */
export const OTHER_API = 'https://other.example.test'

const CLIENT = { clientId: 'worker', clientSecret: 'worker-secret-'.padEnd(40, 'w') }
/** The API's own client, which introspects tokens. */
const INTROSPECTOR = { clientId: 'items-api', clientSecret: 'items-api-secret-'.padEnd(40, 'i') }

export interface ExternalIssuerSetup {
  /** How access tokens for the APIs look; default jwt. */
  format?: 'jwt' | 'opaque'
  /** JWT signing algorithm; default ES256. */
  alg?: 'ES256' | 'EdDSA'
  /** Access token lifetime in seconds; default 600. */
  ttl?: number
  /**
   * A public client (PKCE, no secret) for a browser app such as Swagger UI, signing people in
   * through oidc-provider's own login and consent pages (any login name and password pass).
   */
  publicClient?: { clientId: string, redirectUri: string }
}

export interface ExternalIssuer {
  issuer: string
  introspector: { clientId: string, clientSecret: string }
  /** A client-credentials access token (scope items:read for API unless told). */
  token (options?: { resource?: string, scope?: string, dpop?: boolean }): Promise<string>
  revoke (token: string): Promise<void>
  close (): Promise<void>
}

// oidc-provider ships no type declarations: the little of its API used here.
interface Provider { callback (): (req: IncomingMessage, res: ServerResponse) => void }
type ProviderClass = new (issuer: string, configuration: Record<string, unknown>) => Provider

export async function startExternalIssuer (options: ExternalIssuerSetup = {}): Promise<ExternalIssuer> {
  const specifier: string = 'oidc-provider' // not a literal: the package has no types to resolve
  const { default: Provider } = await import(specifier) as { default: ProviderClass }
  // Listening first: the issuer names the port. No one knows the port before the provider exists.
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  const resourceServer = (audience: string) => ({
    scope: 'items:read items:write',
    audience,
    accessTokenTTL: options.ttl ?? 600,
    accessTokenFormat: options.format ?? 'jwt',
    jwt: { sign: { alg: options.alg ?? 'ES256' } }
  })
  const { publicClient } = options
  const provider = new Provider(issuer, {
    adapter: memoryAdapter(),
    jwks: { keys: [signingKey('ec', 'ES256'), signingKey('ed25519', 'EdDSA')] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    clientDefaults: { id_token_signed_response_alg: 'ES256' },
    // The client metadata below may only name scopes the server knows.
    scopes: ['openid', 'items:read', 'items:write'],
    clients: [
      ...[CLIENT, INTROSPECTOR].map((c) => ({
        client_id: c.clientId,
        client_secret: c.clientSecret,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        scope: 'items:read items:write',
        token_endpoint_auth_method: 'client_secret_basic'
      })),
      ...(publicClient
        ? [{
            client_id: publicClient.clientId,
            grant_types: ['authorization_code'],
            response_types: ['code'],
            redirect_uris: [publicClient.redirectUri],
            scope: 'openid items:read items:write',
            token_endpoint_auth_method: 'none'
          }]
        : [])
    ],
    // The browser app posts to the token endpoint from its own origin: that of its redirect URI.
    clientBasedCORS: (_ctx: unknown, origin: string) => publicClient !== undefined && origin === new URL(publicClient.redirectUri).origin,
    findAccount: async (_ctx: unknown, sub: string) => ({ accountId: sub, claims: async () => ({ sub }) }),
    features: {
      // Its login and consent pages: only the public client's people ever see them.
      devInteractions: { enabled: publicClient !== undefined },
      clientCredentials: { enabled: true },
      introspection: { enabled: true, allowedPolicy: async () => true },
      revocation: { enabled: true, allowedPolicy: async () => true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => API,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx: unknown, indicator: string) => resourceServer(indicator === OTHER_API ? OTHER_API : API)
      }
    },
    ttl: { ClientCredentials: options.ttl ?? 600, AccessToken: options.ttl ?? 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 3600, Grant: 3600 }
  })
  server.on('request', provider.callback())

  const basic = `Basic ${Buffer.from(`${CLIENT.clientId}:${CLIENT.clientSecret}`).toString('base64')}`
  const post = async (path: string, form: Record<string, string>, headers: Record<string, string> = {}) => {
    const res = await fetch(`${issuer}${path}`, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(form)
    })
    const body = await res.json().catch(() => ({})) as Record<string, unknown>
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${JSON.stringify(body)}`)
    return body
  }

  return {
    issuer,
    introspector: INTROSPECTOR,
    async token ({ resource = API, scope = 'items:read', dpop = false } = {}) {
      const headers: Record<string, string> = dpop ? { dpop: await dpopProof(`${issuer}/token`) } : {}
      const body = await post('/token', { grant_type: 'client_credentials', resource, scope }, headers)
      return body.access_token as string
    },
    async revoke (token) {
      await post('/token/revocation', { token, token_type_hint: 'access_token' })
    },
    close: () => closeServer(server)
  }
}

/** A fresh private signing JWK for oidc-provider's key set. */
function signingKey (type: 'ec' | 'ed25519', alg: string): Record<string, unknown> {
  const { privateKey } = type === 'ec'
    ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : generateKeyPairSync('ed25519')
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg, use: 'sig' }
}

/** RFC 9449 §4.2: proof of a fresh key, which oidc-provider binds the token to (cnf.jkt). */
async function dpopProof (htu: string): Promise<string> {
  const { privateKey, publicKey } = await generateKeyPair('ES256')
  const jwk = await exportJWK(publicKey)
  return new SignJWT({ htm: 'POST', htu, jti: randomUUID() })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk })
    .setIssuedAt()
    .sign(privateKey)
}

export interface KeyIssuer {
  issuer: string
  /** The kid of the key it signs with. */
  kid: string
  /** A JWT with the issuer, API audience, subject "user-1" and a 10-minute exp, unless the claims say otherwise (exp: undefined for none). */
  sign (claims?: Record<string, unknown>, header?: Record<string, unknown>): Promise<string>
  /** From now on, every request gets this status and no body (a failing issuer). */
  failWith (status: number | undefined): void
  /** What its introspection endpoint answers from now on, whatever the token; default { active: false }. */
  introspectionAnswer: unknown
  close (): Promise<void>
}

/**
 * A bare issuer that publishes its metadata and one ES256 key, and signs whatever a test
 * asks for: what oidc-provider will not produce (untyped tokens, scp claims, odd paths).
 */
export async function startKeyIssuer (options: {
  /** The issuer's path, e.g. /realms/test; default none. */
  path?: string
  /** Where its metadata is: OpenID Connect's well-known URI (default) or only RFC 8414's. */
  metadataAt?: 'openid' | 'rfc8414'
  /** The issuer its metadata names; default its own. */
  namesIssuer?: string
} = {}): Promise<KeyIssuer> {
  const path = options.path ?? ''
  const { privateKey, publicKey } = await generateKeyPair('ES256')
  const kid = randomUUID()
  const jwks = { keys: [{ ...await exportJWK(publicKey), kid, alg: 'ES256', use: 'sig' }] }
  let failure: number | undefined
  let issuer = ''
  const server = createServer((req, res) => {
    const json = (body: unknown) => { res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body)) }
    if (failure !== undefined) return res.writeHead(failure).end()
    const metadataPath = options.metadataAt === 'rfc8414' ? `/.well-known/oauth-authorization-server${path}` : `${path}/.well-known/openid-configuration`
    const { origin } = new URL(issuer)
    if (req.url === metadataPath) return json({ issuer: options.namesIssuer ?? issuer, jwks_uri: `${origin}/jwks`, introspection_endpoint: `${origin}/introspect` })
    if (req.url === '/jwks') return json(jwks)
    if (req.url === '/introspect' && req.method === 'POST') return json(keyIssuer.introspectionAnswer)
    res.writeHead(404).end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`
  const keyIssuer: KeyIssuer = {
    issuer,
    introspectionAnswer: { active: false },
    kid,
    sign (claims = {}, header = {}) {
      const jwt = new SignJWT({ iss: issuer, aud: API, sub: 'user-1', ...claims }).setProtectedHeader({ alg: 'ES256', kid, ...header }).setIssuedAt()
      return ('exp' in claims ? jwt : jwt.setExpirationTime('10m')).sign(privateKey)
    },
    failWith (status) { failure = status },
    close: () => closeServer(server)
  }
  return keyIssuer
}

/** Closes the server and its connections; closing it again does nothing (tests close issuers to take them down). */
function closeServer (server: Server): Promise<void> {
  if (!server.listening) return Promise.resolve()
  return new Promise<void>((resolve, reject) => {
    server.close((err) => { if (err) reject(err); else resolve() })
    server.closeAllConnections()
  })
}
