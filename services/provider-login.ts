import { Value } from '@sinclair/typebox/value'
import { AuthorizationCode } from 'simple-oauth2'
import { UpstreamLoginError } from '../errors.js'
import { UpstreamTokenSchema, type UpstreamProfile, type UpstreamToken } from '../schemas/providers.js'
import type { StoredUpstreamState, UserStore } from '../stores/types.js'
import { s256Challenge } from './pkce.js'
import type { UpstreamProvider } from './providers/index.js'
import { hashToken, randomToken, safeEqual } from './secrets.js'

// Long enough to sign in at the provider (and maybe register there), short enough to be useless later.
const STATE_TTL_MS = 10 * 60 * 1000

export type UpstreamPurpose = 'login' | 'associate'

/** What the browser must keep until the provider sends it back (our routes put them in cookies). */
export interface StartedUpstreamLogin {
  /** The provider's authorization URL, to send the browser to. */
  url: string
  state: string
  codeVerifier: string
}

/** The provider's answer, as the callback's query has it. */
export interface UpstreamAnswer {
  code?: string
  error?: string
  iss?: string
}

export interface ProviderLoginOptions {
  provider: UpstreamProvider
  store: UserStore
  /** Absolute URLs of our two callbacks for this provider. */
  callbacks: Record<UpstreamPurpose, string>
  now?: () => Date
}

/**
 * One upstream provider's authorization-code flow with PKCE, as a client (simple-oauth2 does
 * the URL and the code exchange). The state is ours: random, stored hashed, single use, ten
 * minutes, bound to the browser that started the flow (the caller keeps it in a cookie) and
 * to the pending authorization request (login) or to the user (associate).
 */
export function createProviderLogin ({ provider, store, callbacks, now = () => new Date() }: ProviderLoginOptions) {
  const tokenUrl = new URL(provider.tokenEndpoint)
  const authorizationUrl = new URL(provider.authorizationEndpoint)
  const client = new AuthorizationCode({
    client: { id: provider.clientId, secret: provider.clientSecret },
    auth: {
      tokenHost: tokenUrl.origin,
      tokenPath: tokenUrl.pathname,
      authorizeHost: authorizationUrl.origin,
      authorizePath: authorizationUrl.pathname
    },
    options: { authorizationMethod: provider.tokenAuth },
    http: { headers: { 'User-Agent': 'fastify-users' } }
  })
  const { label } = provider

  /** The provider's error code goes on the page when it is a plain token; its description never does. */
  const errorCode = (value: unknown) => typeof value === 'string' && /^[\w.-]{1,64}$/.test(value) ? ` (${value})` : ''
  const notAccepted = (code: unknown) => new UpstreamLoginError(502, 'Sign-in failed', `${label} did not accept the sign-in${errorCode(code)}.`)

  function exchangeError (err: unknown): UpstreamLoginError {
    // simple-oauth2 rejects with the provider's answer in data (isResponseError, payload);
    // without one, the provider was not reached. Only the error code is shown, never the body.
    const data = (err as { data?: { isResponseError?: boolean, payload?: { error?: unknown } } }).data
    if (data?.isResponseError !== true) return new UpstreamLoginError(502, 'Sign-in failed', `${label} could not be reached.`)
    return notAccepted(data.payload?.error)
  }

  function checkedToken (raw: unknown, what: string): UpstreamToken {
    // GitHub answers a refused code with 200 and an error body.
    const refused = (raw as { error?: unknown } | undefined)?.error
    if (typeof refused === 'string') throw notAccepted(refused)
    if (!Value.Check(UpstreamTokenSchema, raw)) throw new UpstreamLoginError(502, 'Sign-in failed', `${label} answered the ${what} in an unexpected form.`)
    return raw
  }

  return {
    /** Stores a state for this flow and builds the provider's authorization URL. */
    async start (purpose: UpstreamPurpose, fields: Pick<StoredUpstreamState, 'authorizeQuery' | 'userId' | 'returnTo'>): Promise<StartedUpstreamLogin> {
      const state = randomToken()
      const codeVerifier = randomToken()
      const nonce = provider.oidc ? randomToken() : undefined
      const createdAt = now()
      await store.createUpstreamState({
        stateHash: hashToken(state), provider: provider.name, purpose, ...fields, nonce, createdAt, expiresAt: new Date(createdAt.getTime() + STATE_TTL_MS)
      })
      // simple-oauth2 passes on parameters it does not know of; its types do not say so.
      const params = { redirect_uri: callbacks[purpose], scope: provider.scopes, state, code_challenge: s256Challenge(codeVerifier), code_challenge_method: 'S256' }
      const url = new URL(client.authorizeURL(params as Parameters<typeof client.authorizeURL>[0]))
      if (nonce !== undefined) url.searchParams.set('nonce', nonce)
      return { url: url.toString(), state, codeVerifier }
    },

    /**
     * The state comes back with the browser that holds it, once, in time, for this flow; it is
     * used up here. `kept` is what the browser kept of it (the cookie): checked before the store
     * is touched, so that a stranger's link cannot use up this browser's state.
     */
    async consume (purpose: UpstreamPurpose, state: string | undefined, kept: string | undefined): Promise<StoredUpstreamState> {
      if (!state || kept === undefined || !safeEqual(kept, state)) {
        throw new UpstreamLoginError(400, 'Sign-in link not valid here', `This ${label} sign-in was not started from this browser, or it was finished already. Start again from the application.`)
      }
      const record = await store.consumeUpstreamState(hashToken(state), now())
      if (!record || record.provider !== provider.name || record.purpose !== purpose) {
        throw new UpstreamLoginError(400, 'Sign-in link expired', `This ${label} sign-in has expired or was used already. Start again from the application.`)
      }
      return record
    },

    /** The provider's answer to a consumed state: checked (iss, error), the code exchanged, the profile read. */
    async finish (record: StoredUpstreamState, answer: UpstreamAnswer, codeVerifier: string | undefined): Promise<{ token: UpstreamToken, profile: UpstreamProfile }> {
      // RFC 9207 §2.4: an answer that names another issuer (or none, when this one always
      // names itself) may come from a provider mixed up with this one: the code is sent nowhere.
      const expected = provider.responseIssuer
      if (expected && (answer.iss !== undefined ? answer.iss !== expected.value : expected.required)) {
        throw new UpstreamLoginError(400, 'Sign-in could not be verified', `This answer does not come from ${label} (iss).`)
      }
      if (answer.error !== undefined || answer.code === undefined) {
        const denied = answer.error === 'access_denied'
        throw new UpstreamLoginError(denied ? 403 : 502, denied ? 'Sign-in cancelled' : 'Sign-in failed',
          denied ? `You did not sign in at ${label}.` : `${label} could not sign you in${errorCode(answer.error)}.`)
      }
      let raw: unknown
      try {
        raw = (await client.getToken({ code: answer.code, redirect_uri: callbacks[record.purpose], code_verifier: codeVerifier } as never)).token
      } catch (err) {
        throw exchangeError(err)
      }
      const token = checkedToken(raw, 'code exchange')
      return { token, profile: await provider.profile(token, record.nonce) }
    },

    /** A new upstream token for a stored refresh token. */
    async refresh (refreshToken: string): Promise<UpstreamToken> {
      const raw = (await client.createToken({ refresh_token: refreshToken }).refresh()).token
      if (!Value.Check(UpstreamTokenSchema, raw)) throw new Error(`fastify-users: ${label} answered the refresh in an unexpected form`)
      return raw
    }
  }
}

export type ProviderLogin = ReturnType<typeof createProviderLogin>
