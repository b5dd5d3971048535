// One error model for the whole package: every error we throw is a UsersError with a stable
// `code` and the HTTP `statusCode` it answers with; OAuth protocol errors are OAuthErrors,
// which also know whether they may be sent to the client's redirect URI. Services throw
// them; routes decide the page or body (RFC 6749 JSON at /oauth, RFC 9457 problem JSON
// elsewhere, an HTML page in the browser flows). This module imports nothing of ours, so
// that every layer (stores included) may use it.

/** Every code we throw, by class name. The problem body's `code` is it without `FST_USERS_`. */
export const ERROR_CODES = {
  UserAlreadyExistsError: 'FST_USERS_REGISTER_USER_ALREADY_EXISTS',
  RegisterInvalidPasswordError: 'FST_USERS_REGISTER_INVALID_PASSWORD',
  UpdateEmailAlreadyExistsError: 'FST_USERS_UPDATE_USER_EMAIL_ALREADY_EXISTS',
  UpdateInvalidPasswordError: 'FST_USERS_UPDATE_USER_INVALID_PASSWORD',
  UserNotFoundError: 'FST_USERS_USER_NOT_FOUND',
  OAuthAccountNotFoundError: 'FST_USERS_OAUTH_ACCOUNT_NOT_FOUND',
  UnlinkLastLoginMethodError: 'FST_USERS_OAUTH_UNLINK_LAST_LOGIN_METHOD',
  StepUpRequiredError: 'FST_USERS_INSUFFICIENT_USER_AUTHENTICATION',
  CrossOriginRequestError: 'FST_USERS_CROSS_ORIGIN_REQUEST',
  TooManyRequestsError: 'FST_USERS_RATE_LIMITED',
  ServiceBusyError: 'FST_USERS_SERVICE_BUSY',
  InvalidTokenError: 'FST_USERS_INVALID_TOKEN',
  UpstreamLoginError: 'FST_USERS_UPSTREAM_LOGIN_FAILED',
  EmailAlreadyExistsError: 'FST_USERS_STORE_EMAIL_EXISTS',
  OAuthAccountExistsError: 'FST_USERS_STORE_OAUTH_ACCOUNT_EXISTS',
  StoreUnavailableError: 'FST_USERS_STORE_UNAVAILABLE',
  VerifyUserBadTokenError: 'FST_USERS_VERIFY_USER_BAD_TOKEN',
  VerifyUserAlreadyVerifiedError: 'FST_USERS_VERIFY_USER_ALREADY_VERIFIED',
  ResetPasswordBadTokenError: 'FST_USERS_RESET_PASSWORD_BAD_TOKEN',
  ResetPasswordInvalidPasswordError: 'FST_USERS_RESET_PASSWORD_INVALID_PASSWORD',
  InvalidCursorError: 'FST_USERS_INVALID_CURSOR',
  SelfAdministrationError: 'FST_USERS_ADMIN_SELF_CHANGE',
  LastSuperuserError: 'FST_USERS_ADMIN_LAST_SUPERUSER',
  DeleteRefusedError: 'FST_USERS_ADMIN_DELETE_REFUSED',
  ClientAuthorizationNotFoundError: 'FST_USERS_CLIENT_AUTHORIZATION_NOT_FOUND',
  SessionNotFoundError: 'FST_USERS_SESSION_NOT_FOUND'
} as const

export type ErrorCode = typeof ERROR_CODES[keyof typeof ERROR_CODES] | `FST_USERS_OAUTH_${Uppercase<OAuthErrorCode>}`

/** The prefix of our codes, which problem bodies leave out. */
export const ERROR_PREFIX = 'FST_USERS_'

/** The base of every error of ours: a stable `code` and the status it answers with. */
export class UsersError extends Error {
  readonly code: ErrorCode
  readonly statusCode: number
  constructor (code: ErrorCode, statusCode: number, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = new.target.name
    this.code = code
    this.statusCode = statusCode
  }
}

// Each class has a literal code, so that TypeScript tells them apart (instanceof narrowing).

export class UserAlreadyExistsError extends UsersError {
  declare readonly code: typeof ERROR_CODES.UserAlreadyExistsError
  constructor () { super(ERROR_CODES.UserAlreadyExistsError, 400, 'A user with this email already exists') }
}

/** The password policy refused the password; the message says why. */
export class RegisterInvalidPasswordError extends UsersError {
  declare readonly code: typeof ERROR_CODES.RegisterInvalidPasswordError
  constructor (reason: string) { super(ERROR_CODES.RegisterInvalidPasswordError, 400, reason) }
}

export class UpdateEmailAlreadyExistsError extends UsersError {
  declare readonly code: typeof ERROR_CODES.UpdateEmailAlreadyExistsError
  constructor () { super(ERROR_CODES.UpdateEmailAlreadyExistsError, 400, 'A user with this email already exists') }
}

/** The new password was refused, or the current one is wrong; the message says which. */
export class UpdateInvalidPasswordError extends UsersError {
  declare readonly code: typeof ERROR_CODES.UpdateInvalidPasswordError
  constructor (reason: string) { super(ERROR_CODES.UpdateInvalidPasswordError, 400, reason) }
}

export class UserNotFoundError extends UsersError {
  declare readonly code: typeof ERROR_CODES.UserNotFoundError
  constructor () { super(ERROR_CODES.UserNotFoundError, 404, 'The user does not exist') }
}

export class OAuthAccountNotFoundError extends UsersError {
  declare readonly code: typeof ERROR_CODES.OAuthAccountNotFoundError
  constructor (provider: string) { super(ERROR_CODES.OAuthAccountNotFoundError, 404, `No ${provider} account is linked to this user`) }
}

export class UnlinkLastLoginMethodError extends UsersError {
  declare readonly code: typeof ERROR_CODES.UnlinkLastLoginMethodError
  constructor () {
    super(ERROR_CODES.UnlinkLastLoginMethodError, 400, 'This is your only way to sign in: set a password or link another provider first')
  }
}

/**
 * The change needs a more recent sign-in than the token's (RFC 9470 §3): the client asks
 * the user to sign in again, with OpenID Connect's max_age set to `maxAge`.
 */
export class StepUpRequiredError extends UsersError {
  declare readonly code: typeof ERROR_CODES.StepUpRequiredError
  constructor (readonly maxAge: number, message: string) { super(ERROR_CODES.StepUpRequiredError, 401, message) }
}

/** A request our cookies would authenticate came from another origin. */
export class CrossOriginRequestError extends UsersError {
  declare readonly code: typeof ERROR_CODES.CrossOriginRequestError
  constructor () { super(ERROR_CODES.CrossOriginRequestError, 403, 'This request must come from a page of this site') }
}

/** A limit was reached; the client may try again after `retryAfter` seconds. */
export class TooManyRequestsError extends UsersError {
  declare readonly code: typeof ERROR_CODES.TooManyRequestsError
  constructor (readonly retryAfter: number, message: string) { super(ERROR_CODES.TooManyRequestsError, 429, message) }
}

/** Too much work is waiting already; the client may try again after `retryAfter` seconds. */
export class ServiceBusyError extends UsersError {
  declare readonly code: typeof ERROR_CODES.ServiceBusyError
  constructor (readonly retryAfter: number, message: string) { super(ERROR_CODES.ServiceBusyError, 503, message) }
}

/** An access token that does not verify: 401, whoever asks (our guard, or @fastify/jwt's jwtVerify). */
export class InvalidTokenError extends UsersError {
  declare readonly code: typeof ERROR_CODES.InvalidTokenError
  constructor (message: string) { super(ERROR_CODES.InvalidTokenError, 401, message) }
}

/**
 * Why an upstream login ended without a user. `statusCode` is what the browser gets; the
 * message is shown on the page as is, so it never carries a secret or a raw provider body.
 */
export class UpstreamLoginError extends UsersError {
  declare readonly code: typeof ERROR_CODES.UpstreamLoginError
  declare readonly statusCode: 400 | 403 | 409 | 502
  constructor (statusCode: 400 | 403 | 409 | 502, readonly title: string, message: string) {
    super(ERROR_CODES.UpstreamLoginError, statusCode, message)
  }
}

/** A store adapter's unique email index refused a second user with this email. */
export class EmailAlreadyExistsError extends UsersError {
  declare readonly code: typeof ERROR_CODES.EmailAlreadyExistsError
  constructor () { super(ERROR_CODES.EmailAlreadyExistsError, 400, 'A user with this email already exists') }
}

/** A store adapter's unique (provider, accountId) index refused a second link. */
export class OAuthAccountExistsError extends UsersError {
  declare readonly code: typeof ERROR_CODES.OAuthAccountExistsError
  constructor () { super(ERROR_CODES.OAuthAccountExistsError, 409, 'This provider account is linked already') }
}

/**
 * The store's backend is out of reach (network, server down, no server to select). Adapters
 * throw it for those failures only, so that the app answers 503 with Retry-After and the
 * client tries again, rather than a 500; whatever the operation was, it did not happen.
 */
export class StoreUnavailableError extends UsersError {
  declare readonly code: typeof ERROR_CODES.StoreUnavailableError
  readonly retryAfter: number = 5
  constructor (options?: ErrorOptions) {
    super(ERROR_CODES.StoreUnavailableError, 503, 'The user store is unavailable for a moment; try again shortly', options)
  }
}

/** The verification link is wrong, expired, or for an address the user no longer has. */
export class VerifyUserBadTokenError extends UsersError {
  declare readonly code: typeof ERROR_CODES.VerifyUserBadTokenError
  constructor () { super(ERROR_CODES.VerifyUserBadTokenError, 400, 'This verification link is invalid or has expired') }
}

export class VerifyUserAlreadyVerifiedError extends UsersError {
  declare readonly code: typeof ERROR_CODES.VerifyUserAlreadyVerifiedError
  constructor () { super(ERROR_CODES.VerifyUserAlreadyVerifiedError, 400, 'This email address is verified already') }
}

/** The reset link is wrong, expired, used, or outdated by a change of password or email. */
export class ResetPasswordBadTokenError extends UsersError {
  declare readonly code: typeof ERROR_CODES.ResetPasswordBadTokenError
  constructor () { super(ERROR_CODES.ResetPasswordBadTokenError, 400, 'This password reset link is invalid, used or expired: ask for a new one') }
}

/** The password policy refused the new password; the message says why. */
export class ResetPasswordInvalidPasswordError extends UsersError {
  declare readonly code: typeof ERROR_CODES.ResetPasswordInvalidPasswordError
  constructor (reason: string) { super(ERROR_CODES.ResetPasswordInvalidPasswordError, 400, reason) }
}

/** The cursor given to list users is not one the store gave: altered, truncated, or from another store. */
export class InvalidCursorError extends UsersError {
  declare readonly code: typeof ERROR_CODES.InvalidCursorError
  constructor () { super(ERROR_CODES.InvalidCursorError, 400, 'Invalid cursor: pass the next value of the previous page as it was') }
}

/** An administrator may not take their own superuser flag, or deactivate themselves (a lock-out). */
export class SelfAdministrationError extends UsersError {
  declare readonly code: typeof ERROR_CODES.SelfAdministrationError
  constructor (message: string) { super(ERROR_CODES.SelfAdministrationError, 403, message) }
}

/** The change would leave no superuser to administer the users. */
export class LastSuperuserError extends UsersError {
  declare readonly code: typeof ERROR_CODES.LastSuperuserError
  constructor () { super(ERROR_CODES.LastSuperuserError, 409, 'This is the last superuser: make another one first') }
}

/** A beforeUserDelete listener of the app refused the deletion; nothing was deleted. */
export class DeleteRefusedError extends UsersError {
  declare readonly code: typeof ERROR_CODES.DeleteRefusedError
  constructor (message: string, options?: ErrorOptions) { super(ERROR_CODES.DeleteRefusedError, 409, message, options) }
}

/** The user has not authorized this client (or revoked it already). */
export class ClientAuthorizationNotFoundError extends UsersError {
  declare readonly code: typeof ERROR_CODES.ClientAuthorizationNotFoundError
  constructor () { super(ERROR_CODES.ClientAuthorizationNotFoundError, 404, 'You have not authorized this client') }
}

/** No live session of this user has this id. */
export class SessionNotFoundError extends UsersError {
  declare readonly code: typeof ERROR_CODES.SessionNotFoundError
  constructor () { super(ERROR_CODES.SessionNotFoundError, 404, 'No session of yours has this id') }
}

/** RFC 6749 §5.2 error codes (token endpoint, and their use at the others). */
export type OAuthErrorCode =
  | 'invalid_request' | 'invalid_client' | 'invalid_grant' | 'unauthorized_client' | 'unsupported_grant_type'
  | 'invalid_scope' | 'unsupported_token_type' | 'server_error' | 'temporarily_unavailable' | 'slow_down'
  // RFC 6749 §4.1.2.1 and OpenID Connect Core §3.1.2.6: the authorization endpoint's own.
  | 'access_denied' | 'unsupported_response_type' | 'login_required' | 'consent_required' | 'request_not_supported'

/**
 * An OAuth protocol error. With `redirect`, the authorization endpoint sends it to the
 * client's verified redirect URI (RFC 6749 §4.1.2.1); without, it is never redirected: the
 * token endpoint answers it as JSON, the authorization endpoint shows it on a page (the
 * client or its redirect URI cannot be trusted).
 */
export class OAuthError extends UsersError {
  declare readonly code: `FST_USERS_OAUTH_${Uppercase<OAuthErrorCode>}`
  readonly redirect?: { readonly uri: string, readonly state?: string }
  constructor (readonly error: OAuthErrorCode, description: string, redirect?: { uri: string, state?: string }) {
    // RFC 6749 §5.2: 400, except invalid_client which is 401 when the client tried to authenticate.
    const status = error === 'invalid_client' ? 401 : error === 'server_error' ? 500 : 400
    super(`FST_USERS_OAUTH_${error.toUpperCase() as Uppercase<OAuthErrorCode>}`, status, description)
    if (redirect) this.redirect = redirect
  }

  /** Whether it may go to the client's redirect URI. */
  get redirectable (): boolean {
    return this.redirect !== undefined
  }
}

export const oauthError = (error: OAuthErrorCode, description: string) => new OAuthError(error, description)
