import fastifyOauth2, { type OAuth2Namespace } from '@fastify/oauth2'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { UsersContext } from '../../plugins/context.js'
import { Type } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { ProblemSchema } from '../../schemas/problem.js'
import { UpstreamTokenSchema } from '../../schemas/providers.js'
import { canonicalQuery, parseCarriedQuery, validateAuthorizeRequest } from '../../services/authorize.js'
import type { UpstreamProvider } from '../../services/providers/index.js'
import { OAuthError, UpstreamLoginError } from '../../errors.js'
import { hashToken, randomToken, safeEqual } from '../../services/secrets.js'
import type { StoredUpstreamState } from '../../stores/types.js'
import { errorPage, noticePage, type PageLink } from '../../views/pages.js'
import { sendFailurePage, sendPage } from '../pages.js'
import { resumeAuthorizeUrl, signInBrowser } from '../oauth/session.js'

export interface ProviderRoutesOptions {
  provider: UpstreamProvider
  ctx: UsersContext
}

// Long enough to sign in at the provider (and maybe register there), short enough to be useless later.
const STATE_TTL_MS = 10 * 60 * 1000

const CallbackQuerySchema = Type.Object({
  code: Type.Optional(Type.String({ maxLength: 4096 })),
  state: Type.Optional(Type.String({ maxLength: 512 })),
  error: Type.Optional(Type.String({ maxLength: 256 })),
  error_description: Type.Optional(Type.String({ maxLength: 2048 })),
  iss: Type.Optional(Type.String({ maxLength: 2048 }))
}, { additionalProperties: true })

const StartQuerySchema = Type.Object({
  authorize_query: Type.String({ minLength: 1, maxLength: 8192 })
}, { additionalProperties: false })

/**
 * One upstream provider's routes, registered once per provider under /auth/<name>:
 * login (authorize, callback) and associate (authorize, callback). Built on
 * @fastify/oauth2 for the authorization URL, PKCE and the code exchange; the state is ours:
 * random, stored hashed, single use, ten minutes, bound to this browser by
 * @fastify/oauth2's state cookie and to the pending /oauth/authorize request or the user.
 */
const providerRoutes: FastifyPluginAsyncTypebox<ProviderRoutesOptions> = async (app, { provider, ctx }) => {
  const config = ctx.config
  const store = config.store
  const site = new URL(config.issuer).host
  // Our pages here post no form anywhere.
  const pageContext = { issuer: config.issuer, formActions: [] }
  const paths = config.paths.provider(provider.name)
  const loginCallback = config.issuer + paths.callback
  const associateCallback = config.issuer + paths.associateCallback
  const stateCookie = `fastify_users_${provider.name}_state`
  const verifierCookie = `fastify_users_${provider.name}_verifier`
  const cookieOptions = { path: `${paths.base}/`, secure: config.secureCookies, httpOnly: true, sameSite: 'lax' as const }
  const prepared = new WeakMap<FastifyRequest, string>()
  const consumed = new WeakMap<FastifyRequest, StoredUpstreamState>()
  const isAssociate = (request: FastifyRequest) => request.routeOptions.url?.startsWith(paths.associate) === true

  const tokenUrl = new URL(provider.tokenEndpoint)
  const authorizationUrl = new URL(provider.authorizationEndpoint)
  await app.register(fastifyOauth2, {
    name: 'upstream',
    credentials: {
      client: { id: provider.clientId, secret: provider.clientSecret },
      auth: {
        tokenHost: tokenUrl.origin,
        tokenPath: tokenUrl.pathname,
        authorizeHost: authorizationUrl.origin,
        authorizePath: authorizationUrl.pathname
      },
      options: { authorizationMethod: provider.tokenAuth }
    },
    scope: provider.scopes,
    callbackUri: (request) => isAssociate(request) ? associateCallback : loginCallback,
    pkce: 'S256',
    generateStateFunction: (request: FastifyRequest) => {
      const state = prepared.get(request)
      if (state === undefined) throw new Error('fastify-users: upstream state not prepared')
      return state
    },
    checkStateFunction: async (request: FastifyRequest) => {
      await consumeState(request)
      return true
    },
    redirectStateCookieName: stateCookie,
    verifierCookieName: verifierCookie,
    cookie: cookieOptions,
    userAgent: 'fastify-users'
  })
  // Decorated on this provider's scope only; declared here rather than on every FastifyInstance.
  const upstream = (app as unknown as { upstream: OAuth2Namespace }).upstream

  /** The state comes back with the browser that holds its cookie, once, in time, for this flow. */
  async function consumeState (request: FastifyRequest): Promise<void> {
    const { state } = request.query as { state?: string }
    const cookie = request.cookies[stateCookie]
    // Checked before the store is touched: a stranger's link cannot use up this browser's state.
    if (!state || cookie === undefined || !safeEqual(cookie, state)) {
      throw new UpstreamLoginError(400, 'Sign-in link not valid here', `This ${provider.label} sign-in was not started from this browser, or it was finished already. Start again from the application.`)
    }
    const record = await store.consumeUpstreamState(hashToken(state), new Date())
    if (!record || record.provider !== provider.name || record.purpose !== (isAssociate(request) ? 'associate' : 'login')) {
      throw new UpstreamLoginError(400, 'Sign-in link expired', `This ${provider.label} sign-in has expired or was used already. Start again from the application.`)
    }
    consumed.set(request, record)
  }

  /**
   * The state is used up: its cookies go. Only after the state checked out, so that a forged
   * answer (a link with another state, opened in this browser) leaves this browser's sign-in alone.
   */
  function clearFlowCookies (reply: FastifyReply) {
    reply.clearCookie(stateCookie, cookieOptions).clearCookie(verifierCookie, cookieOptions)
  }

  /** Stores the state and answers with the provider's authorization URL. */
  async function authorizationUri (request: FastifyRequest, reply: FastifyReply, fields: Pick<StoredUpstreamState, 'purpose' | 'authorizeQuery' | 'userId'>): Promise<string> {
    const state = randomToken()
    const nonce = provider.oidc ? randomToken() : undefined
    const createdAt = new Date()
    await store.createUpstreamState({ stateHash: hashToken(state), provider: provider.name, ...fields, nonce, createdAt, expiresAt: new Date(createdAt.getTime() + STATE_TTL_MS) })
    prepared.set(request, state)
    const uri = new URL(await upstream.generateAuthorizationUri(request, reply))
    if (nonce !== undefined) uri.searchParams.set('nonce', nonce)
    return uri.toString()
  }

  /** The provider's answer, checked: state, then the code exchange, then the account. */
  async function finish (request: FastifyRequest, reply: FastifyReply) {
    try {
      return await checkedAnswer(request)
    } finally {
      if (consumed.has(request)) clearFlowCookies(reply)
    }
  }

  async function checkedAnswer (request: FastifyRequest) {
    const query = request.query as { error?: string, code?: string, iss?: string }
    // RFC 9207 §2.4: an answer that names another issuer (or none, when this one always
    // names itself) may come from a provider mixed up with this one: the code is not sent anywhere.
    const expected = provider.responseIssuer
    if (expected && (query.iss !== undefined ? query.iss !== expected.value : expected.required)) {
      await consumeState(request)
      throw new UpstreamLoginError(400, 'Sign-in could not be verified', `This answer does not come from ${provider.label} (iss).`)
    }
    if (query.error !== undefined || query.code === undefined) {
      await consumeState(request)
      const denied = query.error === 'access_denied'
      throw new UpstreamLoginError(denied ? 403 : 502, denied ? 'Sign-in cancelled' : 'Sign-in failed',
        denied ? `You did not sign in at ${provider.label}.` : `${provider.label} could not sign you in${errorCode(query.error)}.`)
    }
    let raw: unknown
    try {
      // Without the reply: @fastify/oauth2 would clear the flow's cookies before the state is
      // checked, so that any forged callback link would end this browser's sign-in.
      raw = (await upstream.getAccessTokenFromAuthorizationCodeFlow(request)).token
    } catch (err) {
      throw err instanceof UpstreamLoginError ? err : exchangeError(err)
    }
    const record = consumed.get(request) as StoredUpstreamState
    // GitHub answers a refused code with 200 and an error body.
    const refused = (raw as { error?: unknown } | undefined)?.error
    if (typeof refused === 'string') throw notAccepted(refused)
    if (!Value.Check(UpstreamTokenSchema, raw)) {
      throw new UpstreamLoginError(502, 'Sign-in failed', `${provider.label} answered the code exchange in an unexpected form.`)
    }
    return { record, token: raw, profile: await provider.profile(raw, record.nonce) }
  }

  function exchangeError (err: unknown): UpstreamLoginError {
    // simple-oauth2 rejects with the provider's answer in data (isResponseError, payload);
    // without one, the provider was not reached. Only the error code is shown, never the body.
    const data = (err as { data?: { isResponseError?: boolean, payload?: { error?: unknown } } }).data
    if (data?.isResponseError !== true) return new UpstreamLoginError(502, 'Sign-in failed', `${provider.label} could not be reached.`)
    return notAccepted(data.payload?.error)
  }

  /** The provider's error code goes on the page when it is a plain token; its description never does. */
  function errorCode (value: unknown): string {
    return typeof value === 'string' && /^[\w.-]{1,64}$/.test(value) ? ` (${value})` : ''
  }

  function notAccepted (code: unknown): UpstreamLoginError {
    return new UpstreamLoginError(502, 'Sign-in failed', `${provider.label} did not accept the sign-in${errorCode(code)}.`)
  }

  /** Every failure of a browser route ends on a page; one of a login offers the way back. */
  function pageErrors (error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
    const pending = consumed.get(request)?.authorizeQuery
    const back: PageLink | undefined = pending ? { href: `${config.paths.authorize}?${pending}`, label: 'Back to sign-in' } : undefined
    if (error instanceof UpstreamLoginError) {
      request.log.info({ provider: provider.name, status: error.statusCode, reason: error.message }, 'fastify-users: upstream sign-in refused')
      return sendPage(reply, error.statusCode, pageContext, errorPage(site, error.title, error.message, back))
    }
    if (error instanceof OAuthError) {
      return sendPage(reply, 400, pageContext, errorPage(site, 'This sign-in request cannot be completed', error.message))
    }
    return sendFailurePage(request, reply, error, pageContext, site, back)
  }

  app.get('/authorize', {
    schema: { hide: true, querystring: StartQuerySchema },
    errorHandler: pageErrors
  }, async (request, reply) => {
    // Each start stores a state for ten minutes: how many one address may leave is bounded.
    await ctx.limits.hit('providerStart', request)
    const carried = parseCarriedQuery(request.query.authorize_query)
    // The pending request is checked now, so that a bad one is not carried through the provider.
    validateAuthorizeRequest(config.clients, ctx.scopes, carried)
    return reply.redirect(await authorizationUri(request, reply, { purpose: 'login', authorizeQuery: canonicalQuery(carried) }), 302)
  })

  app.get('/callback', {
    schema: { hide: true, querystring: CallbackQuerySchema },
    errorHandler: pageErrors
  }, async (request, reply) => {
    const { record, token, profile } = await finish(request, reply)
    const user = await ctx.oauth.login(provider, profile, token)
    await signInBrowser(ctx, request, reply, user.id)
    return reply.redirect(resumeAuthorizeUrl(ctx.config, record.authorizeQuery ?? ''), 302)
  })

  app.get('/associate/authorize', {
    config: { auth: { account: true, recentSignIn: true } },
    schema: {
      tags: ['auth'],
      summary: `Link a ${provider.label} account to the signed-in user`,
      description: 'Needs a token of a first-party client or the account:manage scope, and a recent sign-in (else 401 insufficient_user_authentication with max_age). ' +
        `Answers with the URL to send the browser to. Call it from the browser that will follow the URL (it sets the cookies that bind the flow to that browser); ${provider.label} sends the browser back to ${paths.associateCallback}.`,
      response: {
        200: Type.Object({ authorization_url: Type.String({ format: 'uri' }) }),
        401: Type.Ref(ProblemSchema)
      }
    }
  }, async (request, reply) => {
    const userId = request.auth?.claims.sub as string
    return { authorization_url: await authorizationUri(request, reply, { purpose: 'associate', userId }) }
  })

  app.get('/associate/callback', {
    schema: { hide: true, querystring: CallbackQuerySchema },
    errorHandler: pageErrors
  }, async (request, reply) => {
    const { record, token, profile } = await finish(request, reply)
    const { user, account } = await ctx.oauth.associate(provider, record.userId as string, profile, token)
    return sendPage(reply, 200, pageContext, noticePage(site, 'Account linked',
      `Your ${provider.label} account${account.accountEmail ? ` (${account.accountEmail})` : ''} is now linked to ${user.email}.`))
  })

  ctx.oauth.registerRefresher(provider.name, async (refreshToken) => {
    const token = (await upstream.getNewAccessTokenUsingRefreshToken({ refresh_token: refreshToken } as never, {})).token
    if (!Value.Check(UpstreamTokenSchema, token)) throw new Error(`fastify-users: ${provider.label} answered the refresh in an unexpected form`)
    return token
  })
}

export default providerRoutes
