import { Value } from '@sinclair/typebox/value'
import { AuthorizeQuerySchema, type AuthorizeQuery } from '../schemas/authorize.js'
import type { Client } from './clients.js'
import { isS256Challenge } from './pkce.js'
import { OAuthError, type OAuthErrorCode } from '../errors.js'
import { parseScope, type ScopePolicy } from './scopes.js'

/** An authorization request we trust enough to answer at its redirect URI. */
export interface AuthorizeRequest {
  client: Client
  /** Where the answer goes. */
  redirectUri: string
  /** The redirect_uri parameter as sent, if any: the token request must repeat it. */
  redirectUriParam: string | null
  state?: string
  /** Requested scopes that exist and that the client may have; empty means "the defaults". */
  scopes: string[]
  codeChallenge?: string
  nonce?: string
  prompt: Set<string>
  /** OIDC max_age: a session older than this many seconds does not count. */
  maxAge?: number
  /** OIDC login_hint: the email to prefill on the login page. */
  loginHint?: string
}

/** Shown to the user, never redirected: the client or its redirect URI cannot be trusted. */
const untrusted = (description: string) => new OAuthError('invalid_request', description)

/** A refused redirect URI beside the client's registered ones. */
export interface RedirectUriMismatch {
  clientId: string
  /** The redirect_uri as sent; undefined when it was left out. */
  received?: string
  registered: readonly string[]
}

/**
 * An untrusted redirect URI, with what a developer needs to see why. The registered URIs are
 * not for every visitor: whether they are shown is the page's to decide.
 */
export class RedirectUriMismatchError extends OAuthError {
  constructor (description: string, readonly mismatch: RedirectUriMismatch) {
    super('invalid_request', description)
  }
}

// A registered loopback URI without a port stands for every port (RFC 8252 §7.3).
const LOOPBACK_ANY_PORT = /^http:\/\/(?:127\.0\.0\.1|\[::1\])(?=[/?]|$)/
const LOOPBACK_WITH_PORT = /^(http:\/\/(?:127\.0\.0\.1|\[::1\])):([1-9]\d{0,4})(?=[/?]|$)/

export const isLoopbackAnyPort = (uri: string): boolean => LOOPBACK_ANY_PORT.test(uri)

/**
 * Exact string match, except for the one relaxation RFC 8252 §7.3 asks of us: a native
 * app's loopback redirect URI matches on any port, as the app listens where it can. The
 * comparison is on raw strings, so URL normalisation (case, dot segments, encodings)
 * cannot make two different URIs "equal".
 */
export function redirectUriMatches (registered: string, candidate: string): boolean {
  if (registered === candidate) return true
  if (!isLoopbackAnyPort(registered)) return false
  const match = LOOPBACK_WITH_PORT.exec(candidate)
  if (match === null || Number(match[2]) > 65535) return false
  return `${match[1]}${candidate.slice(match[0].length)}` === registered
}

/**
 * RFC 6749 §4.1.1 and §3.1.2, RFC 7636, OIDC Core §3.1.2.1. The client and redirect URI
 * are settled first: until they are, no error may be redirected anywhere.
 */
export function validateAuthorizeRequest (clients: ReadonlyMap<string, Client>, scopes: Pick<ScopePolicy, 'requestable'>, query: AuthorizeQuery): AuthorizeRequest {
  if (!query.client_id) throw untrusted('The request names no client (client_id is missing).')
  const client = clients.get(query.client_id)
  if (!client) throw untrusted('The request names an unknown client.')
  if (!client.grantTypes.has('authorization_code')) throw untrusted('This client may not use the authorization code flow.')

  let redirectUri: string
  if (query.redirect_uri !== undefined) {
    if (!client.redirectUris.some((r) => redirectUriMatches(r, query.redirect_uri as string))) {
      throw new RedirectUriMismatchError('The redirect_uri is not registered for this client.', { clientId: client.clientId, received: query.redirect_uri, registered: client.redirectUris })
    }
    // A registered URI always parses; this guards the one built from a request's port.
    if (!URL.canParse(query.redirect_uri)) throw untrusted('The redirect_uri is not a valid URL.')
    redirectUri = query.redirect_uri
  } else {
    const only = client.redirectUris.length === 1 ? client.redirectUris[0] : undefined
    // A loopback URI needs its port from the request: it cannot be the implicit default.
    if (only === undefined || isLoopbackAnyPort(only)) {
      throw new RedirectUriMismatchError('redirect_uri is required for this client.', { clientId: client.clientId, registered: client.redirectUris })
    }
    redirectUri = only
  }

  const state = query.state
  const fail = (error: OAuthErrorCode, description: string) => new OAuthError(error, description, { uri: redirectUri, state })

  if (query.request !== undefined || query.request_uri !== undefined) throw fail('request_not_supported', 'Request objects are not supported')
  if (query.response_type !== 'code') {
    throw query.response_type === undefined
      ? fail('invalid_request', 'response_type is required')
      : fail('unsupported_response_type', 'Only response_type=code is supported')
  }
  if (query.response_mode !== undefined && query.response_mode !== 'query') throw fail('invalid_request', 'Only response_mode=query is supported')

  let codeChallenge: string | undefined
  if (query.code_challenge !== undefined) {
    if (query.code_challenge_method !== 'S256') throw fail('invalid_request', 'code_challenge_method must be S256')
    if (!isS256Challenge(query.code_challenge)) throw fail('invalid_request', 'code_challenge is not an S256 challenge')
    codeChallenge = query.code_challenge
  } else if (client.requirePkce) {
    throw fail('invalid_request', 'PKCE is required: send code_challenge with code_challenge_method=S256')
  } else if (query.code_challenge_method !== undefined) {
    throw fail('invalid_request', 'code_challenge_method without code_challenge')
  }

  const prompt = new Set(parseScope(query.prompt))
  if (prompt.has('none') && prompt.size > 1) throw fail('invalid_request', 'prompt=none cannot be combined with other values')

  // Narrowed, not refused: the client learns what it got from the token response's scope.
  const requested = scopes.requestable(client, parseScope(query.scope))

  // OIDC Core §3.1.2.1: the request's max_age overrides the client's default_max_age.
  let maxAge = client.defaultMaxAge
  if (query.max_age !== undefined) {
    if (!/^\d{1,10}$/.test(query.max_age)) throw fail('invalid_request', 'max_age must be a number of seconds')
    maxAge = Number(query.max_age)
  }

  return { client, redirectUri, redirectUriParam: query.redirect_uri ?? null, state, scopes: requested, codeChallenge, nonce: query.nonce, prompt, maxAge, loginHint: query.login_hint }
}

/** The URL the browser is sent to with the answer (RFC 6749 §4.1.2, RFC 9207 `iss`). */
export function authorizationResponseUrl (redirectUri: string, issuer: string, params: Record<string, string | undefined>): string {
  const url = new URL(redirectUri)
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.append(k, v)
  url.searchParams.append('iss', issuer)
  return url.toString()
}

const KNOWN_PARAMS = new Set(Object.keys(AuthorizeQuerySchema.properties))

/**
 * The longest authorization request we carry through our forms and keep in the store while
 * a provider signs the user in: an unauthenticated browser must not make us store more.
 */
export const MAX_CARRIED_QUERY = 4096

/**
 * The authorization request as carried through our forms and kept during a provider login:
 * one canonical query string of the parameters we know (others would mean nothing to us).
 */
export function canonicalQuery (query: Record<string, unknown>): string {
  const params = new URLSearchParams()
  for (const [k, v] of Object.entries(query)) if (KNOWN_PARAMS.has(k) && typeof v === 'string') params.append(k, v)
  const carried = params.toString()
  if (carried.length > MAX_CARRIED_QUERY) throw untrusted('The authorization request is too large.')
  return carried
}

export function parseCarriedQuery (carried: string): AuthorizeQuery {
  const params = new URLSearchParams(carried)
  const query: Record<string, string> = {}
  for (const [k, v] of params) {
    // RFC 6749 §3.1: no parameter may appear twice.
    if (Object.hasOwn(query, k)) throw untrusted(`The parameter ${k} appears twice.`)
    query[k] = v
  }
  if (!Value.Check(AuthorizeQuerySchema, query)) throw untrusted('The authorization request is malformed.')
  return query
}
