import { STATUS_CODES } from 'node:http'
import { Type, type Static } from '@sinclair/typebox'
import {
  CrossOriginRequestError,
  EmailAlreadyExistsError,
  ERROR_CODES,
  ERROR_PREFIX,
  OAuthAccountExistsError,
  OAuthAccountNotFoundError,
  RegisterInvalidPasswordError,
  ServiceBusyError,
  StepUpRequiredError,
  StoreUnavailableError,
  TooManyRequestsError,
  UnlinkLastLoginMethodError,
  UpdateEmailAlreadyExistsError,
  UpdateInvalidPasswordError,
  UpstreamLoginError,
  UserAlreadyExistsError,
  UserNotFoundError,
  InvalidTokenError,
  ClientAuthorizationNotFoundError,
  DeleteRefusedError,
  InvalidCursorError,
  LastSuperuserError,
  ResetPasswordBadTokenError,
  ResetPasswordInvalidPasswordError,
  SelfAdministrationError,
  SessionNotFoundError,
  VerifyUserAlreadyVerifiedError,
  VerifyUserBadTokenError,
  type UsersError
} from '../errors.js'
import type { OAuthErrorCode } from './oauth.js'

type Stripped<C> = C extends `${typeof ERROR_PREFIX}${infer Rest}` ? Rest : never

/**
 * Problems that are no error of ours but the request's (refused before our code ran) or the
 * guard's (RFC 6750's words, in capitals), with what each looks like.
 */
const OTHER_PROBLEMS = {
  VALIDATION_ERROR: { status: 400, detail: 'body/email must match format "email"' },
  BAD_REQUEST: { status: 400, detail: 'Body is not valid JSON but content-type is set to \'application/json\'' },
  PAYLOAD_TOO_LARGE: { status: 413, detail: 'Request body is too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, detail: 'Unsupported Media Type' },
  AUTHENTICATION_REQUIRED: { status: 401, detail: 'Authentication required' },
  INSUFFICIENT_SCOPE: { status: 403, detail: 'Missing scope: items:write' },
  USER_NOT_VERIFIED: { status: 403, detail: 'The email address is not verified' },
  INSUFFICIENT_PERMISSIONS: { status: 403, detail: 'Missing permission: admin' },
  INTERNAL_ERROR: { status: 500, detail: 'Internal server error' }
} as const

/** Every `code` a problem body of ours carries. */
export type ProblemCode = Stripped<typeof ERROR_CODES[keyof typeof ERROR_CODES]> | keyof typeof OTHER_PROBLEMS

const strip = <C extends string>(code: C) => code.slice(ERROR_PREFIX.length) as Stripped<C>

// One of each of our errors, so that the examples show the messages the server sends.
const SAMPLE_ERRORS: Record<Stripped<typeof ERROR_CODES[keyof typeof ERROR_CODES]>, UsersError> = {
  REGISTER_USER_ALREADY_EXISTS: new UserAlreadyExistsError(),
  REGISTER_INVALID_PASSWORD: new RegisterInvalidPasswordError('Password must be at least 8 characters'),
  UPDATE_USER_EMAIL_ALREADY_EXISTS: new UpdateEmailAlreadyExistsError(),
  UPDATE_USER_INVALID_PASSWORD: new UpdateInvalidPasswordError('The current password is wrong'),
  USER_NOT_FOUND: new UserNotFoundError(),
  OAUTH_ACCOUNT_NOT_FOUND: new OAuthAccountNotFoundError('github'),
  OAUTH_UNLINK_LAST_LOGIN_METHOD: new UnlinkLastLoginMethodError(),
  INSUFFICIENT_USER_AUTHENTICATION: new StepUpRequiredError(300, 'This change needs a recent sign-in: sign in again'),
  CROSS_ORIGIN_REQUEST: new CrossOriginRequestError(),
  RATE_LIMITED: new TooManyRequestsError(60, 'Too many requests; try again later'),
  SERVICE_BUSY: new ServiceBusyError(1, 'Too many sign-ins are being checked; try again shortly'),
  INVALID_TOKEN: new InvalidTokenError('The access token has expired'),
  UPSTREAM_LOGIN_FAILED: new UpstreamLoginError(502, 'Sign-in failed', 'The provider did not answer'),
  STORE_EMAIL_EXISTS: new EmailAlreadyExistsError(),
  STORE_OAUTH_ACCOUNT_EXISTS: new OAuthAccountExistsError(),
  STORE_UNAVAILABLE: new StoreUnavailableError(),
  VERIFY_USER_BAD_TOKEN: new VerifyUserBadTokenError(),
  VERIFY_USER_ALREADY_VERIFIED: new VerifyUserAlreadyVerifiedError(),
  RESET_PASSWORD_BAD_TOKEN: new ResetPasswordBadTokenError(),
  RESET_PASSWORD_INVALID_PASSWORD: new ResetPasswordInvalidPasswordError('Password must be at least 8 characters'),
  INVALID_CURSOR: new InvalidCursorError(),
  ADMIN_SELF_CHANGE: new SelfAdministrationError('You cannot remove your own superuser flag'),
  ADMIN_LAST_SUPERUSER: new LastSuperuserError(),
  ADMIN_DELETE_REFUSED: new DeleteRefusedError('The account has an unpaid invoice'),
  CLIENT_AUTHORIZATION_NOT_FOUND: new ClientAuthorizationNotFoundError(),
  SESSION_NOT_FOUND: new SessionNotFoundError()
}

const PROBLEMS: Record<ProblemCode, { status: number, detail: string }> = {
  ...Object.fromEntries(Object.values(ERROR_CODES).map((code) => {
    const error = SAMPLE_ERRORS[strip(code)]
    return [strip(code), { status: error.statusCode, detail: error.message }]
  })) as Record<Stripped<typeof ERROR_CODES[keyof typeof ERROR_CODES]>, { status: number, detail: string }>,
  ...OTHER_PROBLEMS
}

export const PROBLEM_CODES = Object.keys(PROBLEMS) as ProblemCode[]

/** The status a problem code is answered with. */
export const statusOfProblem = (code: ProblemCode): number => PROBLEMS[code].status

// RFC 9457 problem details, used by every non-OAuth endpoint for errors.
export const ProblemSchema = Type.Object({
  type: Type.String({ description: 'URI reference identifying the problem type; about:blank: the status says it all' }),
  title: Type.String({ description: 'The status\'s reason phrase' }),
  status: Type.Integer({ minimum: 400, maximum: 599 }),
  detail: Type.String({ description: 'What went wrong, for people' }),
  instance: Type.Optional(Type.String({ description: 'The path of the request that failed' })),
  code: Type.Unsafe<ProblemCode>(Type.String({ enum: PROBLEM_CODES, description: 'Stable machine-readable code: what to branch on' })),
  errors: Type.Optional(Type.Array(Type.Object({
    path: Type.String({ description: 'Where in the request, e.g. body/email' }),
    message: Type.String()
  }), { description: 'With VALIDATION_ERROR: each field that was refused' }))
}, { $id: 'fastify-users.Problem', title: 'Problem' })
export type Problem = Static<typeof ProblemSchema>

export const RETRY_AFTER = { 'Retry-After': { type: 'integer', description: 'Seconds to wait before trying again' } }

/**
 * Response headers a status comes with: the challenge on 401, and on a 403 for a missing scope
 * (RFC 6750 §3.1); Retry-After on 429 and 503.
 */
function headersFor (status: number, challenge: string, codes: readonly string[]) {
  if (status === 401 || (status === 403 && codes.includes('INSUFFICIENT_SCOPE'))) return { 'WWW-Authenticate': { type: 'string', description: challenge } }
  if (status === 429 || status === 503) return RETRY_AFTER
  return undefined
}

export const BEARER_CHALLENGE_DOC = 'Bearer challenge (RFC 6750 §3): realm, and error, error_description and scope when a token was sent; ' +
  'max_age with insufficient_user_authentication (RFC 9470)'

/**
 * A problem response as OpenAPI should show it and Fastify serialize it: RFC 9457's media
 * type, application/problem+json, with the Problem schema, an example per code the status
 * comes with, and its headers (WWW-Authenticate, Retry-After).
 */
export function problemResponse (description: string, codes: readonly ProblemCode[]) {
  const status = statusOfProblem(codes[0] as ProblemCode)
  const wrong = codes.filter((code) => PROBLEMS[code].status !== status)
  if (wrong.length > 0) throw new Error(`fastify-users: problem codes of another status in one response: ${wrong.join(', ')}`)
  const headers = headersFor(status, BEARER_CHALLENGE_DOC, codes)
  return {
    description,
    ...(headers && { headers }),
    content: {
      'application/problem+json': {
        // The Problem, with `code` narrowed to this response's codes: a generated client can
        // switch over them exhaustively.
        schema: { allOf: [Type.Ref(ProblemSchema), { type: 'object', properties: { code: { type: 'string', enum: codes } } }] },
        examples: Object.fromEntries(codes.map((code) => [code, { summary: code, value: problemExample(code) }]))
      }
    }
  }
}

function problemExample (code: ProblemCode): Problem {
  const { status, detail } = PROBLEMS[code]
  const body: Problem = { type: 'about:blank', title: STATUS_CODES[status] ?? 'Error', status, detail, code }
  if (code === 'VALIDATION_ERROR') body.errors = [{ path: 'body/email', message: 'must match format "email"' }]
  return body
}

/** What every operation of ours may answer besides its own errors: the unexpected failure. */
export const unexpected = () => ({ default: problemResponse('Unexpected failure (500); nothing was changed', ['INTERNAL_ERROR']) })

/** Errors of a route that takes a JSON body, before it runs. */
export const jsonBodyProblems = () => ({
  413: problemResponse('The body is larger than the server accepts', ['PAYLOAD_TOO_LARGE']),
  415: problemResponse('The body is not JSON', ['UNSUPPORTED_MEDIA_TYPE'])
})

/** The store is out of reach, or too much work is waiting: try again. */
export const unavailable = (codes: readonly ProblemCode[] = ['STORE_UNAVAILABLE']) =>
  ({ 503: problemResponse('Unavailable for a moment; try again after Retry-After seconds', codes) })

/** The 400 codes a request refused by validation or parsing comes with. */
export const REQUEST_400: readonly ProblemCode[] = ['VALIDATION_ERROR', 'BAD_REQUEST']

const OAUTH_STATUS: Partial<Record<OAuthErrorCode, number>> = { invalid_client: 401, slow_down: 429, temporarily_unavailable: 503, server_error: 500 }

/**
 * An RFC 6749 §5.2 error response, JSON with the OAuthError schema, with an example per error
 * code and its headers (a Basic challenge with invalid_client, Retry-After when busy).
 */
export function oauthErrorResponse (description: string, errors: readonly OAuthErrorCode[], schema: object) {
  const status = OAUTH_STATUS[errors[0] as OAuthErrorCode] ?? 400
  const headers = headersFor(status, 'Basic challenge: the client must authenticate (RFC 6749 §5.2)', errors)
  return {
    description,
    ...(headers && { headers }),
    content: {
      'application/json': {
        schema,
        examples: Object.fromEntries(errors.map((error) => [error, { summary: error, value: { error, error_description: OAUTH_EXAMPLES[error] } }]))
      }
    }
  }
}

const OAUTH_EXAMPLES: Record<OAuthErrorCode, string> = {
  invalid_request: 'code_verifier is required',
  invalid_client: 'Client authentication failed',
  invalid_grant: 'Invalid username or password',
  unauthorized_client: 'This client may not use the password grant',
  unsupported_grant_type: 'Unsupported grant_type',
  invalid_scope: 'The refresh may not widen the scope',
  unsupported_token_type: 'Unsupported token_type_hint',
  server_error: 'Internal server error',
  temporarily_unavailable: 'The user store is unavailable for a moment; try again shortly',
  slow_down: 'Too many requests; try again later'
}

/** The answers of deleting one thing by its id: done (204, no body), a bad request, not found. */
export const deletionResponses = (done: string, notFound: ReturnType<typeof problemResponse>) => ({
  204: Type.Null({ description: done }),
  400: problemResponse('An invalid request', REQUEST_400),
  404: notFound,
  ...jsonBodyProblems(),
  ...unexpected()
})
