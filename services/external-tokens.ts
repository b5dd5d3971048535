// Resource-server mode: access tokens issued by other authorization servers (Keycloak, ORY
// Hydra, Auth0...). A JWT is checked against its issuer's published keys (RFC 9068); any other
// token is asked about at the issuers' introspection endpoints (RFC 7662), with the answers
// cached. When an issuer cannot answer, the token was not judged: that is a 503 (try again),
// never a 401, which would tell the client to throw a good token away.
import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { createRemoteJWKSet, customFetch, decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose'
import { InvalidTokenError, ServiceBusyError } from '../errors.js'
import { hashToken } from './secrets.js'

export interface ExternalIssuerOptions {
  /** Its exact `iss`; metadata comes from its OpenID Connect discovery, else RFC 8414's. */
  issuer: string
  /** What `aud` must contain, one of these (RFC 9068 §4); introspection answers are checked when they name an audience. */
  audience: string | string[]
  /** The signing algorithms accepted; default RS256, ES256, EdDSA, PS256. Never HS* or none. */
  algorithms?: string[]
  /** Credentials to introspect opaque tokens with (RFC 7662, client_secret_basic). */
  introspection?: { clientId: string, clientSecret: string }
  /** The token's scopes from its claims; default `scope` (space-separated), else `scp` (array or string). */
  scopeClaim?: (claims: Record<string, unknown>) => string[]
  /** Refuse JWTs not typed at+jwt (RFC 9068 §2.1); default false, as many issuers do not type them. */
  requireTyp?: boolean
  /** Introspection answers: at most maxEntries tokens (default 10 000), each for at most maxSeconds (default 60). */
  cache?: { maxEntries?: number, maxSeconds?: number }
  /**
   * Whose tokens these are to us: the token alone (claims, the default), or a user of ours for
   * each subject (link), linked as a provider account named `name`. Read by the guard.
   */
  users?: { mode: 'claims' } | { mode: 'link', name: string }
  /** A public client registered there for Swagger UI: the OpenAPI document gets a scheme signing in at this issuer. */
  swaggerUiClientId?: string
}

export interface ExternalToken {
  issuer: string
  /** The issuer's subject: a user, or the client itself for client-credentials tokens. Unique per issuer only. */
  subject: string
  clientId?: string
  scopes: string[]
  claims: Record<string, unknown>
  /** Seconds since the epoch, as `exp`. */
  expiresAt?: number
}

export interface ExternalTokenVerifier {
  /**
   * The token's issuer, subject and scopes. Rejects with InvalidTokenError (401) when the token
   * is not valid, or not from a configured issuer; with ServiceBusyError (503) when its issuer
   * could not be asked.
   */
  verify (token: string): Promise<ExternalToken>
  /**
   * Whether verify would judge the token at all: a JWT naming a configured issuer, or another
   * token when some issuer introspects. Checks nothing; lets a caller try its own tokens first.
   */
  handles (token: string): boolean
}

export interface ExternalTokenDeps {
  fetch?: typeof fetch
  /** Milliseconds since the epoch. */
  now?: () => number
}

const DEFAULT_ALGORITHMS = ['RS256', 'ES256', 'EdDSA', 'PS256']
const TIMEOUT_MS = 5_000
const CLOCK_TOLERANCE_S = 30
// A failed discovery or key fetch is not retried sooner: an issuer that is down is not
// asked again by every request.
const RETRY_AFTER_FAILURE_MS = 30_000
const RETRY_AFTER_S = 5
const NEGATIVE_CACHE_S = 30
// RFC 6750 §2.1's b64token, of a sane length: anything else is refused without asking anyone.
const BEARER_TOKEN = /^[A-Za-z0-9\-._~+/]{1,16384}=*$/
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/
const USER_AGENT = 'fastify-users'

/** RFC 8414 §2 / OpenID Connect Discovery §3, the fields we use. */
const MetadataSchema = Type.Object({
  issuer: Type.String(),
  jwks_uri: Type.Optional(Type.String({ pattern: '^https?://' })),
  introspection_endpoint: Type.Optional(Type.String({ pattern: '^https?://' }))
})

/** RFC 7662 §2.2, the members we read. */
const IntrospectionSchema = Type.Object({
  active: Type.Boolean(),
  scope: Type.Optional(Type.String()),
  client_id: Type.Optional(Type.String()),
  sub: Type.Optional(Type.String({ minLength: 1 })),
  exp: Type.Optional(Type.Number()),
  iss: Type.Optional(Type.String()),
  aud: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())])),
  token_type: Type.Optional(Type.String()),
  // ORY Hydra says which token it was in token_use, not token_type.
  token_use: Type.Optional(Type.String())
})

export function createExternalTokenVerifier (issuers: ExternalIssuerOptions[], deps: ExternalTokenDeps = {}): ExternalTokenVerifier {
  const get = deps.fetch ?? fetch
  const now = deps.now ?? Date.now
  const seen = new Set<string>()
  for (const options of issuers) {
    if (seen.has(options.issuer)) throw new Error(`fastify-users: external issuer ${options.issuer} is configured twice`)
    seen.add(options.issuer)
    const weak = (options.algorithms ?? []).filter((alg) => alg === 'none' || alg.startsWith('HS'))
    // A symmetric key would be one the issuer shares with every resource server: any of them could mint tokens.
    if (weak.length > 0) throw new Error(`fastify-users: external issuer ${options.issuer}: algorithms ${weak.join(', ')} are not accepted`)
    if (options.algorithms?.length === 0) throw new Error(`fastify-users: external issuer ${options.issuer}: no algorithms`)
    for (const [name, value] of Object.entries(options.cache ?? {})) {
      if (!Number.isFinite(value) || value < 0) throw new Error(`fastify-users: external issuer ${options.issuer}: cache.${name} must be a number, 0 or more`)
    }
  }
  const byIssuer = new Map(issuers.map((options) => [options.issuer, externalIssuer(options, get, now)]))
  const introspecting = [...byIssuer.values()].filter((issuer) => issuer.introspect !== undefined)

  async function verifyJwt (token: string): Promise<ExternalToken> {
    let claims: JWTPayload
    try {
      claims = decodeJwt(token)
    } catch {
      throw new InvalidTokenError('The access token is malformed')
    }
    const issuer = typeof claims.iss === 'string' ? byIssuer.get(claims.iss) : undefined
    if (!issuer) throw new InvalidTokenError('The access token\'s issuer is not trusted here')
    return issuer.verifyJwt(token)
  }

  async function verifyOpaque (token: string): Promise<ExternalToken> {
    // An issuer that cannot answer may be the one that knows the token: then it was not judged.
    let unanswered: unknown
    for (const issuer of introspecting) {
      try {
        const found = await issuer.introspect?.(token)
        if (found) return found
      } catch (err) {
        unanswered ??= err
      }
    }
    if (unanswered !== undefined) throw unanswered
    throw new InvalidTokenError('The access token is not active, or not for this API')
  }

  return {
    async verify (token) {
      if (!BEARER_TOKEN.test(token)) throw new InvalidTokenError('The access token is malformed')
      return isJwt(token) ? verifyJwt(token) : verifyOpaque(token)
    },
    handles (token) {
      if (!BEARER_TOKEN.test(token)) return false
      if (!isJwt(token)) return introspecting.length > 0
      try {
        const { iss } = decodeJwt(token)
        return typeof iss === 'string' && byIssuer.has(iss)
      } catch {
        return false
      }
    }
  }
}

interface Issuer {
  verifyJwt (token: string): Promise<ExternalToken>
  /** The token, when this issuer says it is active and it is for us; null otherwise. */
  introspect?: (token: string) => Promise<ExternalToken | null>
}

function externalIssuer (options: ExternalIssuerOptions, get: typeof fetch, now: () => number): Issuer {
  const { issuer } = options
  const audiences = typeof options.audience === 'string' ? [options.audience] : options.audience
  const algorithms = options.algorithms ?? DEFAULT_ALGORITHMS
  const scopesOf = options.scopeClaim ?? defaultScopes
  const metadata = retryingAfterFailure(() => discover(issuer, get), now)

  let jwksFailedAt = -Infinity
  const keys = retryingAfterFailure(async () => {
    const { jwks_uri: uri } = await metadata()
    if (uri === undefined) throw unreachable(`${issuer} publishes no jwks_uri`)
    return createRemoteJWKSet(new URL(uri), {
      timeoutDuration: TIMEOUT_MS,
      headers: { 'user-agent': USER_AGENT },
      // jose fetches again whenever it holds no keys: while the issuer is down, not on every request.
      [customFetch]: async (url, init) => {
        if (now() - jwksFailedAt < RETRY_AFTER_FAILURE_MS) throw unreachable(`${url} failed less than 30 s ago`)
        try {
          const res = await reach(get, url, init)
          if (res.status !== 200) throw unreachable(`${url} answered HTTP ${res.status}`)
          return res
        } catch (err) {
          jwksFailedAt = now()
          throw err
        }
      }
    })
  }, now)
  const getKey: JWTVerifyGetKey = async (header, token) => (await keys())(header, token)

  function externalToken (claims: Record<string, unknown>, subject: string, exp: number | undefined): ExternalToken {
    const clientId = typeof claims.client_id === 'string' ? claims.client_id : typeof claims.azp === 'string' ? claims.azp : undefined
    return {
      issuer,
      subject,
      ...(clientId === undefined ? {} : { clientId }),
      scopes: scopesOf(claims).filter((s) => typeof s === 'string' && s !== ''),
      claims,
      ...(exp === undefined ? {} : { expiresAt: exp })
    }
  }

  async function verifyJwt (token: string): Promise<ExternalToken> {
    let payload: JWTPayload
    try {
      ({ payload } = await jwtVerify(token, getKey, {
        issuer,
        audience: audiences,
        algorithms,
        requiredClaims: ['sub', 'exp'],
        clockTolerance: CLOCK_TOLERANCE_S,
        currentDate: new Date(now()),
        ...(options.requireTyp ? { typ: 'at+jwt' } : {})
      }))
    } catch (err) {
      throw judged(err)
    }
    if (typeof payload.sub !== 'string' || payload.sub === '') throw new InvalidTokenError('The access token names no subject')
    // RFC 9449 §7, RFC 8705 §3: a bound token is valid only with a proof, which is not checked here.
    if (payload.cnf !== undefined) throw new InvalidTokenError('The access token is bound to a key (cnf): sender-constrained tokens are not accepted here')
    return externalToken(payload, payload.sub, payload.exp)
  }

  if (!options.introspection) return { verifyJwt }
  const { clientId, clientSecret } = options.introspection
  // RFC 6749 §2.3.1: both parts form-encoded before base64.
  const basic = Buffer.from(`${formEncode(clientId)}:${formEncode(clientSecret)}`).toString('base64')
  const cache = boundedCache<ExternalToken | null>(options.cache?.maxEntries ?? 10_000, now)
  const maxSeconds = options.cache?.maxSeconds ?? 60
  // Requests that bring the same new token at once (a page loading) share one question.
  const asking = new Map<string, Promise<ExternalToken | null>>()

  async function ask (token: string): Promise<ExternalToken | null> {
    const { introspection_endpoint: endpoint } = await metadata()
    if (endpoint === undefined) throw unreachable(`${issuer} publishes no introspection_endpoint`)
    const res = await reach(get, endpoint, {
      method: 'POST',
      headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', 'user-agent': USER_AGENT },
      body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString()
    })
    // A refusal of our own credentials is the configuration's fault, not the token's.
    if (res.status !== 200) throw unreachable(`${endpoint} answered HTTP ${res.status}`)
    const body: unknown = await res.json().catch(() => undefined)
    if (!Value.Check(IntrospectionSchema, body)) throw unreachable(`${endpoint} answered something other than an introspection response`)
    if (!body.active) return null
    if (body.iss !== undefined && body.iss !== issuer) return null
    if (body.aud !== undefined && !audiences.some((a) => body.aud === a || (Array.isArray(body.aud) && body.aud.includes(a)))) return null
    if (body.exp !== undefined && body.exp + CLOCK_TOLERANCE_S <= now() / 1000) return null
    // Which token it is (RFC 7662 token_type, ORY Hydra's token_use): a refresh token is active
    // too, for much longer, and a DPoP-bound one needs a proof.
    if (body.token_type !== undefined && !/^bearer$/i.test(body.token_type)) return null
    if (body.token_use !== undefined && body.token_use !== 'access_token') return null
    if ('cnf' in body) return null
    const subject = body.sub ?? body.client_id
    if (subject === undefined || subject === '') return null
    return externalToken(body, subject, body.exp)
  }

  async function introspect (token: string): Promise<ExternalToken | null> {
    // Keyed by a hash: the cache never holds a usable token.
    const key = hashToken(token)
    const hit = cache.get(key)
    if (hit !== undefined) return hit
    let pending = asking.get(key)
    if (!pending) {
      pending = ask(token).then((found) => {
        const seconds = found ? maxSeconds : Math.min(NEGATIVE_CACHE_S, maxSeconds)
        const until = Math.min(now() + seconds * 1000, found?.expiresAt === undefined ? Infinity : found.expiresAt * 1000)
        cache.set(key, found, until)
        return found
      }).finally(() => asking.delete(key))
      asking.set(key, pending)
    }
    return pending
  }

  return { verifyJwt, introspect }
}

function defaultScopes (claims: Record<string, unknown>): string[] {
  if (typeof claims.scope === 'string') return claims.scope.split(' ')
  const { scp } = claims
  if (typeof scp === 'string') return scp.split(' ')
  if (Array.isArray(scp)) return scp.filter((s): s is string => typeof s === 'string')
  return []
}

/** A token's own faults are 401s; the issuer's (unreachable, bad key set) are 503s. */
function judged (err: unknown): Error {
  if (err instanceof ServiceBusyError) return err
  if (!(err instanceof joseErrors.JOSEError)) return unreachable('the issuer\'s keys could not be used', err)
  switch (err.code) {
    // A key set that is not JSON or not a key set, or that did not come in time.
    case 'ERR_JOSE_GENERIC': case 'ERR_JWKS_INVALID': case 'ERR_JWKS_TIMEOUT':
      return unreachable('the key set could not be fetched', err)
    case 'ERR_JWT_EXPIRED':
      return new InvalidTokenError('The access token expired')
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return new InvalidTokenError('The access token is signed with an algorithm not accepted here')
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return new InvalidTokenError('The access token is signed with a key its issuer does not publish')
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return new InvalidTokenError((err as joseErrors.JWTClaimValidationFailed).claim === 'aud'
        ? 'The access token is for another audience'
        : 'The access token is invalid')
    default:
      return new InvalidTokenError('The access token is invalid')
  }
}

/** The reason goes in `cause`, for the logs; the client learns only that the issuer did not answer. */
function unreachable (reason: string, cause?: unknown): ServiceBusyError {
  const err = new ServiceBusyError(RETRY_AFTER_S, 'The token issuer is unreachable')
  err.cause = cause === undefined ? new Error(reason) : new Error(reason, { cause })
  return err
}

/** A response from the issuer, or ServiceBusyError when it is down, slow or failing (5xx). */
async function reach (get: typeof fetch, url: string, init: RequestInit): Promise<Response> {
  let res: Response
  try {
    // Never followed: a redirect could carry our credentials elsewhere.
    res = await get(url, { signal: AbortSignal.timeout(TIMEOUT_MS), ...init, redirect: 'manual' })
  } catch (err) {
    throw unreachable(`${url} could not be reached`, err)
  }
  if (res.status >= 500) throw unreachable(`${url} answered HTTP ${res.status}`)
  return res
}

/** OpenID Connect discovery, else RFC 8414's well-known URI; the document must name the issuer it was fetched for. */
async function discover (issuer: string, get: typeof fetch): Promise<Static<typeof MetadataSchema>> {
  const { origin, pathname } = new URL(issuer)
  const urls = [
    `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`,
    // RFC 8414 §3.1: the well-known segment goes before the issuer's path.
    `${origin}/.well-known/oauth-authorization-server${pathname.replace(/\/+$/, '')}`
  ]
  for (const url of urls) {
    const res = await reach(get, url, { headers: { accept: 'application/json', 'user-agent': USER_AGENT } })
    if (res.status !== 200) {
      await res.body?.cancel()
      continue
    }
    const body: unknown = await res.json().catch(() => undefined)
    if (!Value.Check(MetadataSchema, body)) throw unreachable(`${url} is not authorization server metadata`)
    // RFC 8414 §3.3, OIDC Discovery §4.3: else anyone serving the document could name other keys.
    if (body.issuer !== issuer) throw unreachable(`${url} names issuer ${body.issuer}, not ${issuer}`)
    return body
  }
  throw unreachable(`${issuer} publishes no metadata at ${urls.join(' or ')}`)
}

/** The value once loaded; after a failure, the same failure until it is 30 s old. */
function retryingAfterFailure<T> (load: () => Promise<T>, now: () => number): () => Promise<T> {
  let loaded: Promise<T> | undefined
  let failure: { at: number, err: unknown } | undefined
  return () => {
    if (loaded) return loaded
    if (failure && now() - failure.at < RETRY_AFTER_FAILURE_MS) return Promise.reject(failure.err)
    loaded = load().catch((err: unknown) => {
      loaded = undefined
      failure = { at: now(), err }
      throw err
    })
    return loaded
  }
}

/** A map of at most maxEntries live entries; the least recently used goes first. */
function boundedCache<T> (maxEntries: number, now: () => number) {
  const entries = new Map<string, { value: T, until: number }>()
  return {
    get (key: string): T | undefined {
      const entry = entries.get(key)
      if (!entry) return undefined
      entries.delete(key)
      if (entry.until <= now()) return undefined
      // Map keeps insertion order: re-inserting makes it the most recent.
      entries.set(key, entry)
      return entry.value
    },
    set (key: string, value: T, until: number): void {
      if (maxEntries <= 0 || until <= now()) return
      entries.delete(key)
      while (entries.size >= maxEntries) entries.delete(entries.keys().next().value as string)
      entries.set(key, { value, until })
    }
  }
}

function isJwt (token: string): boolean {
  if (!JWT_SHAPE.test(token)) return false
  try {
    decodeProtectedHeader(token)
    return true
  } catch {
    return false
  }
}

const formEncode = (value: string) => new URLSearchParams({ v: value }).toString().slice(2)
