import type { Static, TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose'
import { UpstreamLoginError } from '../../errors.js'
import {
  DiscordUserSchema,
  GithubEmailsSchema,
  GithubUserSchema,
  IdTokenClaimsSchema,
  OidcMetadataSchema,
  OidcUserinfoSchema,
  type OidcMetadata,
  type ProviderOption,
  type UpstreamProfile,
  type UpstreamToken
} from '../../schemas/providers.js'

export interface UpstreamProvider {
  name: string
  label: string
  clientId: string
  clientSecret: string
  scopes: string[]
  /** OpenID Connect: a nonce goes out and comes back in a verified id_token. */
  oidc: boolean
  authorizationEndpoint: string
  tokenEndpoint: string
  /** How the client secret is sent to the token endpoint. */
  tokenAuth: 'header' | 'body'
  associateByEmail: boolean
  isVerifiedByDefault: boolean
  /**
   * RFC 9207: the `iss` the provider puts on its answer to the browser, to be checked
   * (mix-up defence); required when its metadata says it sends one.
   */
  responseIssuer?: { value: string, required: boolean }
  /** Reads the account from the token response; for OIDC, verifies the id_token first. */
  profile (token: UpstreamToken, nonce: string | undefined): Promise<UpstreamProfile>
}

const TIMEOUT_MS = 10_000
const USER_AGENT = 'fastify-users'

const PRESET_LABELS: Record<ProviderOption['type'], string> = {
  oidc: 'OpenID Connect',
  google: 'Google',
  microsoft: 'Microsoft',
  github: 'GitHub',
  discord: 'Discord'
}

/** Builds the provider; OpenID Connect ones are discovered now, so a wrong issuer fails at start-up. */
export async function createUpstreamProvider (option: ProviderOption): Promise<UpstreamProvider> {
  // The button's text, and the provider's name in every message of ours.
  const label = option.label ?? PRESET_LABELS[option.type]
  const common = {
    name: option.name,
    label,
    clientId: option.clientId,
    clientSecret: option.clientSecret,
    associateByEmail: option.associateByEmail ?? false,
    isVerifiedByDefault: option.isVerifiedByDefault ?? false
  }
  switch (option.type) {
    case 'github': return { ...common, ...github(option, label) }
    case 'discord': return { ...common, ...discord(option, label) }
    case 'google': {
      const issuer = option.issuer ?? 'https://accounts.google.com'
      // Google documents both forms of its issuer in id_tokens.
      return { ...common, ...await oidc(option, label, issuer, { alsoIssuedBy: issuer === 'https://accounts.google.com' ? ['accounts.google.com'] : [] }) }
    }
    case 'microsoft': {
      const tenant = option.tenant ?? 'common'
      return {
        ...common,
        ...await oidc(option, label, option.issuer ?? `https://login.microsoftonline.com/${tenant}/v2.0`, {
          emailVerified: microsoftEmailVerified,
          // Fetched under a tenant's name (common, consumers, contoso.com), the document names
          // the tenant by id, or by the {tenantid} template for the multi-tenant endpoints.
          acceptIssuer: (discovered, fetched) => new URL(discovered).origin === new URL(fetched).origin && /^\/[^/]+\/v2\.0\/?$/.test(new URL(discovered).pathname)
        })
      }
    }
    case 'oidc': {
      if (!option.issuer) throw new Error(`fastify-users: provider "${option.name}": an oidc provider needs its issuer`)
      return { ...common, ...await oidc(option, label, option.issuer) }
    }
  }
}

type Preset = Omit<UpstreamProvider, 'name' | 'label' | 'clientId' | 'clientSecret' | 'associateByEmail' | 'isVerifiedByDefault'>

/**
 * Microsoft's `email` claim is whatever the tenant admin typed: not proof of ownership.
 * Only the optional claim xms_edov ("email domain owner verified") says more.
 */
function microsoftEmailVerified (claims: JWTPayload): boolean {
  return claims.xms_edov === true || claims.xms_edov === 'true'
}

const standardEmailVerified = (claims: JWTPayload): boolean => claims.email_verified === true || claims.email_verified === 'true'

interface OidcVariant {
  emailVerified?: (claims: JWTPayload) => boolean
  /** Whether a discovery document naming another issuer than it was fetched for is still right. */
  acceptIssuer?: (discovered: string, fetched: string) => boolean
  /** Other spellings of the issuer the provider puts in id_tokens. */
  alsoIssuedBy?: string[]
}

async function oidc (option: ProviderOption, label: string, issuer: string, variant: OidcVariant = {}): Promise<Preset> {
  const emailVerified = variant.emailVerified ?? standardEmailVerified
  const metadata = await discover(option.name, issuer, variant.acceptIssuer)
  const jwks = createRemoteJWKSet(new URL(metadata.jwks_uri), { timeoutDuration: TIMEOUT_MS, headers: { 'user-agent': USER_AGENT } })
  // Multi-tenant endpoints publish a template; the token names its tenant in `tid`.
  const issuerTemplate = metadata.issuer.includes('{tenantid}') ? metadata.issuer : undefined
  const algorithms = (metadata.id_token_signing_alg_values_supported ?? ['RS256']).filter((a) => a !== 'none' && !a.startsWith('HS'))

  async function verifyIdToken (idToken: string, nonce: string | undefined): Promise<JWTPayload> {
    let payload: JWTPayload
    try {
      ({ payload } = await jwtVerify(idToken, jwks, {
        issuer: issuerTemplate ? undefined : [metadata.issuer, ...variant.alsoIssuedBy ?? []],
        audience: option.clientId,
        algorithms,
        requiredClaims: ['sub', 'iat', 'exp']
      }))
    } catch (err) {
      if (err instanceof joseErrors.JOSEError && !(err instanceof joseErrors.JWKSTimeout)) {
        throw new UpstreamLoginError(502, 'Sign-in could not be verified', `The identity token from ${label} did not pass verification (${err.code}).`)
      }
      throw new UpstreamLoginError(502, 'Sign-in failed', `${label} could not be reached to verify the sign-in.`)
    }
    // Checked as a copy of the reference, so that payload keeps jose's wider type.
    const claims: unknown = payload
    if (!Value.Check(IdTokenClaimsSchema, claims)) {
      throw new UpstreamLoginError(502, 'Sign-in could not be verified', `The identity token from ${label} has malformed claims.`)
    }
    if (issuerTemplate && (typeof payload.tid !== 'string' || payload.iss !== issuerTemplate.replace('{tenantid}', payload.tid))) {
      throw new UpstreamLoginError(502, 'Sign-in could not be verified', `The identity token from ${label} names the wrong issuer.`)
    }
    // OIDC Core §3.1.3.7: with several audiences, azp must be us.
    if (Array.isArray(payload.aud) && payload.aud.length > 1 && payload.azp !== option.clientId) {
      throw new UpstreamLoginError(502, 'Sign-in could not be verified', `The identity token from ${label} was issued to another party.`)
    }
    if (nonce === undefined || payload.nonce !== nonce) {
      throw new UpstreamLoginError(502, 'Sign-in could not be verified', `The identity token from ${label} does not belong to this sign-in (nonce).`)
    }
    return payload
  }

  return {
    scopes: option.scopes ?? ['openid', 'email', 'profile'],
    oidc: true,
    authorizationEndpoint: metadata.authorization_endpoint,
    tokenEndpoint: metadata.token_endpoint,
    tokenAuth: 'header',
    responseIssuer: issuerTemplate ? undefined : { value: metadata.issuer, required: metadata.authorization_response_iss_parameter_supported === true },
    async profile (token, nonce) {
      if (!token.id_token) throw new UpstreamLoginError(502, 'Sign-in failed', `${label} sent no identity token.`)
      const claims = await verifyIdToken(token.id_token, nonce)
      let email = typeof claims.email === 'string' ? claims.email : undefined
      let verified = emailVerified(claims)
      // Many providers keep the email out of the id_token and give it at userinfo.
      if (email === undefined && metadata.userinfo_endpoint) {
        const info = await getJson(label, metadata.userinfo_endpoint, token.access_token, OidcUserinfoSchema)
        if (info.sub !== claims.sub) throw new UpstreamLoginError(502, 'Sign-in could not be verified', `${label} answered for another account.`)
        email = info.email
        verified = emailVerified(info as JWTPayload)
      }
      return { accountId: claims.sub as string, email: email ?? null, emailVerified: email !== undefined && verified }
    }
  }
}

async function discover (name: string, issuer: string, acceptIssuer?: OidcVariant['acceptIssuer']): Promise<OidcMetadata> {
  const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`
  let body: unknown
  try {
    const res = await fetch(url, { headers: { accept: 'application/json', 'user-agent': USER_AGENT }, signal: AbortSignal.timeout(TIMEOUT_MS) })
    if (!res.ok) throw new Error(`HTTP ${res.status}`)
    body = await res.json()
  } catch (err) {
    throw new Error(`fastify-users: provider "${name}": discovery at ${url} failed: ${(err as Error).message}`)
  }
  if (!Value.Check(OidcMetadataSchema, body)) throw new Error(`fastify-users: provider "${name}": the discovery document at ${url} is not OpenID Connect metadata`)
  // OIDC Discovery §4.3: the document must name the issuer it was fetched for.
  const expected = issuer.replace(/\/+$/, '')
  if (body.issuer.replace(/\/+$/, '') !== expected && !acceptIssuer?.(body.issuer, issuer)) {
    throw new Error(`fastify-users: provider "${name}": the discovery document names issuer ${body.issuer}, not ${issuer}`)
  }
  return body
}

function github (option: ProviderOption, label: string): Preset {
  const api = (option.apiBaseUrl ?? 'https://api.github.com').replace(/\/+$/, '')
  return {
    scopes: option.scopes ?? ['read:user', 'user:email'],
    oidc: false,
    authorizationEndpoint: option.authorizationUrl ?? 'https://github.com/login/oauth/authorize',
    tokenEndpoint: option.tokenUrl ?? 'https://github.com/login/oauth/access_token',
    tokenAuth: 'body',
    async profile (token) {
      const user = await getJson(label, `${api}/user`, token.access_token, GithubUserSchema)
      // The public profile email may be any address; /user/emails says which are verified.
      const emails = await getJson(label, `${api}/user/emails`, token.access_token, GithubEmailsSchema)
      const primary = emails.find((e) => e.primary)
      const chosen = primary?.verified ? primary : emails.find((e) => e.verified) ?? primary
      return { accountId: String(user.id), email: chosen?.email ?? null, emailVerified: chosen?.verified ?? false }
    }
  }
}

function discord (option: ProviderOption, label: string): Preset {
  const api = (option.apiBaseUrl ?? 'https://discord.com/api').replace(/\/+$/, '')
  return {
    scopes: option.scopes ?? ['identify', 'email'],
    oidc: false,
    authorizationEndpoint: option.authorizationUrl ?? 'https://discord.com/oauth2/authorize',
    tokenEndpoint: option.tokenUrl ?? 'https://discord.com/api/oauth2/token',
    tokenAuth: 'body',
    async profile (token) {
      const user = await getJson(label, `${api}/users/@me`, token.access_token, DiscordUserSchema)
      const email = typeof user.email === 'string' ? user.email : null
      return { accountId: user.id, email, emailVerified: email !== null && user.verified === true }
    }
  }
}

/** GET with the upstream access token; the answer must have the documented shape. */
async function getJson<T extends TSchema> (label: string, url: string, accessToken: string, schema: T): Promise<Static<T>> {
  let res: Response
  try {
    res = await fetch(url, {
      headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json', 'user-agent': USER_AGENT },
      signal: AbortSignal.timeout(TIMEOUT_MS)
    })
  } catch {
    throw new UpstreamLoginError(502, 'Sign-in failed', `${label} could not be reached.`)
  }
  if (!res.ok) throw new UpstreamLoginError(502, 'Sign-in failed', `${label} refused to tell who you are (HTTP ${res.status}).`)
  const body: unknown = await res.json().catch(() => undefined)
  if (!Value.Check(schema, body)) throw new UpstreamLoginError(502, 'Sign-in failed', `${label} answered in an unexpected form.`)
  return body
}
