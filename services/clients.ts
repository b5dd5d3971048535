import { createHash, timingSafeEqual } from 'node:crypto'
import type { ClientOption } from '../schemas/options.js'
import { oauthError } from '../errors.js'

export type GrantTypeName = NonNullable<ClientOption['grantTypes']>[number]

export interface Client {
  clientId: string
  name: string
  /** sha256 of the secret: constant-length, so comparing it leaks nothing through timing. */
  secretHash?: Buffer
  firstParty: boolean
  /** PKCE on every authorization request; always true for public clients. */
  requirePkce: boolean
  /** May introspect tokens (RFC 7662). */
  introspection: boolean
  grantTypes: ReadonlySet<GrantTypeName>
  scopes?: readonly string[]
  redirectUris: readonly string[]
  /** The algorithm of its id_tokens (id_token_signed_response_alg); undefined: RS256. */
  idTokenAlg?: 'RS256' | 'ES256' | 'EdDSA'
  /** max_age for its authorization requests that send none (default_max_age). */
  defaultMaxAge?: number
}

const sha256 = (value: string) => createHash('sha256').update(value).digest()

function defaultGrantTypes (c: ClientOption): GrantTypeName[] {
  if (c.redirectUris?.length) return ['authorization_code', 'refresh_token']
  if (c.clientSecret !== undefined) return ['client_credentials']
  return ['password']
}

export function createClientRegistry (clients: ClientOption[]): Map<string, Client> {
  const registry = new Map<string, Client>()
  for (const [i, c] of clients.entries()) {
    const fail = (field: string, message: string) => new Error(`fastify-users: invalid option "clients[${i}]${field}": ${message}`)
    if (registry.has(c.clientId)) throw new Error(`fastify-users: option "clients": duplicate clientId ${c.clientId}`)
    const grantTypes = c.grantTypes ?? defaultGrantTypes(c)
    const confidential = c.clientSecret !== undefined
    if (grantTypes.includes('authorization_code') && !c.redirectUris?.length) throw fail('.redirectUris', 'the authorization_code grant needs at least one redirect URI')
    if (grantTypes.includes('client_credentials') && !confidential) throw fail('.grantTypes', 'client_credentials needs a clientSecret')
    if (grantTypes.includes('password') && !c.firstParty) throw fail('.grantTypes', 'the password grant is for first-party clients only (firstParty: true)')
    if (c.requirePkce === false && !confidential) throw fail('.requirePkce', 'a public client must use PKCE')
    if (c.introspection && !confidential) throw fail('.introspection', 'only a confidential client may introspect tokens')
    registry.set(c.clientId, {
      clientId: c.clientId,
      name: c.name ?? c.clientId,
      secretHash: confidential ? sha256(c.clientSecret as string) : undefined,
      firstParty: c.firstParty ?? false,
      requirePkce: c.requirePkce ?? true,
      ...(c.idTokenSigningAlg !== undefined && { idTokenAlg: c.idTokenSigningAlg }),
      ...(c.defaultMaxAge !== undefined && { defaultMaxAge: c.defaultMaxAge }),
      introspection: c.introspection ?? false,
      grantTypes: new Set(grantTypes),
      scopes: c.scopes,
      redirectUris: c.redirectUris ?? []
    })
  }
  return registry
}

export interface ClientCredentials {
  authorization?: string
  clientId?: string
  clientSecret?: string
}

// RFC 6749 §2.3.1: id and secret are form-urlencoded before the Basic encoding.
function formDecode (value: string): string {
  return decodeURIComponent(value.replace(/\+/g, ' '))
}

function parseBasic (header: string): { clientId: string, clientSecret: string } | undefined {
  const match = /^Basic +([A-Za-z0-9+/=]+) *$/i.exec(header)
  if (!match?.[1]) return undefined
  const decoded = Buffer.from(match[1], 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon < 1) return undefined
  try {
    return { clientId: formDecode(decoded.slice(0, colon)), clientSecret: formDecode(decoded.slice(colon + 1)) }
  } catch {
    return undefined
  }
}

/**
 * Identifies and authenticates the client of a token request: client_secret_basic,
 * client_secret_post, or none for public clients (which may still send an empty
 * secret in the Basic header, as Swagger UI does).
 */
export function authenticateClient (registry: ReadonlyMap<string, Client>, credentials: ClientCredentials): Client {
  let clientId = credentials.clientId
  let secret = credentials.clientSecret
  if (credentials.authorization !== undefined && /^Basic /i.test(credentials.authorization)) {
    const basic = parseBasic(credentials.authorization)
    if (!basic) throw oauthError('invalid_client', 'Malformed Basic client credentials')
    if (secret !== undefined) throw oauthError('invalid_request', 'Use one client authentication method, not two')
    if (clientId !== undefined && clientId !== basic.clientId) throw oauthError('invalid_request', 'client_id does not match the Authorization header')
    clientId = basic.clientId
    secret = basic.clientSecret
  }
  if (clientId === undefined) throw oauthError('invalid_request', 'client_id is required')
  const client = registry.get(clientId)
  if (!client) throw oauthError('invalid_client', 'Unknown client')
  if (client.secretHash) {
    if (!secret || !timingSafeEqual(sha256(secret), client.secretHash)) throw oauthError('invalid_client', 'Client authentication failed')
  } else if (secret) {
    throw oauthError('invalid_client', 'This is a public client: it has no secret')
  }
  return client
}
