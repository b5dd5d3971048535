import createError from '@fastify/error'
import type { OAuthErrorCode } from '../schemas/oauth.js'

// Codes follow fastapi-users' (REGISTER_USER_ALREADY_EXISTS, ...) behind our FST_USERS_
// prefix; the problem body carries the code without the prefix.
export const ERROR_PREFIX = 'FST_USERS_'

export const UserAlreadyExistsError = createError(`${ERROR_PREFIX}REGISTER_USER_ALREADY_EXISTS`, 'A user with this email already exists', 400)
export const RegisterInvalidPasswordError = createError<[string]>(`${ERROR_PREFIX}REGISTER_INVALID_PASSWORD`, '%s', 400)
export const UpdateEmailAlreadyExistsError = createError(`${ERROR_PREFIX}UPDATE_USER_EMAIL_ALREADY_EXISTS`, 'A user with this email already exists', 400)
export const UpdateInvalidPasswordError = createError<[string]>(`${ERROR_PREFIX}UPDATE_USER_INVALID_PASSWORD`, '%s', 400)

export const CrossOriginRequestError = createError(`${ERROR_PREFIX}CROSS_ORIGIN_REQUEST`,
  'This request must come from a page of this site', 403)

const TooManyRequestsBase = createError<[string]>(`${ERROR_PREFIX}RATE_LIMITED`, '%s', 429)

/** A limit was reached; the client may try again after `retryAfter` seconds. */
export class TooManyRequestsError extends TooManyRequestsBase {
  constructor (readonly retryAfter: number, message: string) {
    super(message)
  }
}

const ServiceBusyBase = createError<[string]>(`${ERROR_PREFIX}SERVICE_BUSY`, '%s', 503)

/** Too much work is waiting already; the client may try again after `retryAfter` seconds. */
export class ServiceBusyError extends ServiceBusyBase {
  constructor (readonly retryAfter: number, message: string) {
    super(message)
  }
}

export const UserNotFoundError = createError(`${ERROR_PREFIX}USER_NOT_FOUND`, 'The user does not exist', 404)

export const OAuthAccountNotFoundError = createError<[string]>(`${ERROR_PREFIX}OAUTH_ACCOUNT_NOT_FOUND`, 'No %s account is linked to this user', 404)
export const UnlinkLastLoginMethodError = createError(`${ERROR_PREFIX}OAUTH_UNLINK_LAST_LOGIN_METHOD`,
  'This is your only way to sign in: set a password or link another provider first', 400)

const StepUpRequiredBase = createError<[string]>(`${ERROR_PREFIX}INSUFFICIENT_USER_AUTHENTICATION`, '%s', 401)

/**
 * The change needs a more recent sign-in than the token's (RFC 9470 §3): the client asks
 * the user to sign in again, with OpenID Connect's max_age set to `maxAge`.
 */
export class StepUpRequiredError extends StepUpRequiredBase {
  constructor (readonly maxAge: number, message: string) {
    super(message)
  }
}

const OAUTH_PREFIX = `${ERROR_PREFIX}OAUTH_`

/** An RFC 6749 §5.2 error; the error handler turns it into { error, error_description }. */
export class OAuthProtocolError extends Error {
  readonly code: string
  readonly statusCode: number
  constructor (readonly error: OAuthErrorCode, description: string) {
    super(description)
    this.name = 'OAuthProtocolError'
    this.code = OAUTH_PREFIX + error.toUpperCase()
    // RFC 6749 §5.2: 400, except invalid_client which is 401 when the client tried to authenticate.
    this.statusCode = error === 'invalid_client' ? 401 : error === 'server_error' ? 500 : 400
  }
}

export const oauthError = (error: OAuthErrorCode, description: string) => new OAuthProtocolError(error, description)
