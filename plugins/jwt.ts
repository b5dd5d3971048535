import fastifyJwt from '@fastify/jwt'
import type { FastifyInstance } from 'fastify'
import { accessTokenRules, type JwtHeader, type TokenService } from '../services/tokens.js'
import { InvalidTokenError } from '../errors.js'
import type { UsersConfig } from './config.js'

/** Where @fastify/jwt put our verifier: the app's own names, or ours beside the app's @fastify/jwt. */
export interface JwtPlacement {
  /** undefined: app.jwt and request.jwtVerify() are ours; 'users': app.jwt.users and request.usersJwtVerify(). */
  namespace?: 'users'
  /** The request property jwtVerify() fills with the claims. */
  decoratorName: string
}

/**
 * @fastify/jwt with our key set, verify only: `request.jwtVerify()` and `app.jwt.verify()`
 * accept our access tokens under the same rules as our guard (pinned asymmetric algorithms,
 * key by kid with rotation, issuer, audience, typ at+jwt, required claims).
 *
 * An app that registered its own @fastify/jwt first keeps it: ours goes under the namespace
 * `users` (app.jwt.users.verify(), request.usersJwtVerify()). request.user, which
 * @fastify/passport also claims, is left alone when taken: jwtVerify() then fills
 * request.usersToken. Nothing of @fastify/jwt reaches our type declarations, so that an app
 * compiling with @fastify/passport's declarations does not meet @fastify/jwt's.
 */
export async function setupJwt (app: FastifyInstance, config: Pick<UsersConfig, 'issuer' | 'audience'>, tokens: TokenService): Promise<JwtPlacement> {
  // request.jwtVerify() calls this as (request, decoded); app.jwt.verify() as (decoded, callback).
  async function publicKey (first: unknown, second?: unknown): Promise<string> {
    const decoded = (typeof second === 'object' && second !== null && 'header' in second ? second : first) as { header?: JwtHeader }
    const header = decoded.header ?? {}
    // Checked here, before fast-jwt: its own typ and alg errors would reach the client as 500.
    if (typeof header.typ !== 'string' || header.typ.toLowerCase().replace(/^application\//, '') !== 'at+jwt') {
      throw new InvalidTokenError('Not an access token (typ must be at+jwt)')
    }
    return tokens.publicKeyFor(header)
  }
  const placement: JwtPlacement = app.hasDecorator('jwt')
    ? { namespace: 'users', decoratorName: 'usersToken' }
    : { decoratorName: app.hasRequestDecorator('user') ? 'usersToken' : 'user' }
  await app.register(fastifyJwt, {
    secret: { public: publicKey as never },
    decode: { complete: true },
    // fast-jwt's cache (keyed by a hash of the token) spares the signature check of a token
    // seen before. request.jwtVerify() asks for the key first, so a retired key is refused at
    // once there; app.jwt.verify() looks in the cache first, so for up to a minute there.
    verify: { ...accessTokenRules(config.issuer, config.audience), cache: true, cacheTTL: 60_000 },
    decoratorName: placement.decoratorName,
    ...(placement.namespace ? { namespace: placement.namespace } : {})
  })
  return placement
}
