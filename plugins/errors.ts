import { STATUS_CODES } from 'node:http'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import type { OAuthErrorBody } from '../schemas/oauth.js'
import type { Problem, ProblemCode } from '../schemas/problem.js'
import { StoreUnavailableError } from '../stores/types.js'
import { ERROR_PREFIX, OAuthError, UsersError, ServiceBusyError, StepUpRequiredError, TooManyRequestsError } from '../errors.js'

/**
 * An RFC 9457 problem body; `code` is our stable machine-readable code, `instance` the path
 * of the request (without its query, which may hold secrets).
 */
export function problem (request: FastifyRequest, status: number, detail: string, code: ProblemCode, errors?: Problem['errors']): Problem {
  const instance = request.url.split('?', 1)[0]
  return { type: 'about:blank', title: STATUS_CODES[status] ?? 'Error', status, detail, instance, code, errors }
}

function statusOf (error: FastifyError): number {
  const status = error.statusCode
  return typeof status === 'number' && status >= 400 && status < 600 ? status : 500
}

/** 503 errors of ours: we are busy, or the store is out of reach. */
export const isUnavailable = (error: unknown): error is ServiceBusyError | StoreUnavailableError =>
  error instanceof ServiceBusyError || error instanceof StoreUnavailableError

/** Errors that tell the client to come back later: 429, and our 503s. */
export function retryLater (error: unknown): TooManyRequestsError | ServiceBusyError | StoreUnavailableError | undefined {
  return error instanceof TooManyRequestsError || isUnavailable(error) ? error : undefined
}

function logIfServerError (error: FastifyError, request: FastifyRequest, status: number) {
  // 4xx are the client's business and are answered in full; 5xx are ours, logged and hidden,
  // except "busy", which is no fault and says only that.
  if (status >= 500 && !(error instanceof ServiceBusyError)) request.log.error({ err: error }, 'fastify-users: request failed')
}

/**
 * The problem code of an error: ours without the prefix; Fastify's own (body parsing, content
 * type, size) and validation mapped onto the few codes the document lists, so that a client
 * can branch on every code it may get.
 */
function codeOf (error: FastifyError, status: number): ProblemCode {
  if (error instanceof UsersError && !(error instanceof OAuthError)) return error.code.slice(ERROR_PREFIX.length) as ProblemCode
  if (error.validation) return 'VALIDATION_ERROR'
  if (status === 413) return 'PAYLOAD_TOO_LARGE'
  if (status === 415) return 'UNSUPPORTED_MEDIA_TYPE'
  return status < 500 ? 'BAD_REQUEST' : 'INTERNAL_ERROR'
}

export interface BearerChallenge {
  /** RFC 6750 §3.1 error code, or insufficient_user_authentication (RFC 9470 §3). */
  error?: string
  description?: string
  scopes?: string[]
  /** RFC 9470: the sign-in must be at most this many seconds old. */
  maxAge?: number
}

// RFC 6750 §3: quoted-string values; our descriptions never contain quotes or backslashes,
// but scope names and messages go through this anyway.
const quote = (value: string) => `"${value.replace(/["\\]/g, '')}"`

/** The WWW-Authenticate value of a Bearer challenge (RFC 6750 §3, RFC 9470 §3). */
export function bearerChallenge (realm: string, challenge: BearerChallenge = {}): string {
  const parts = [`Bearer realm=${quote(realm)}`]
  if (challenge.error) parts.push(`error=${quote(challenge.error)}`, `error_description=${quote(challenge.description ?? '')}`)
  if (challenge.scopes !== undefined && challenge.scopes.length > 0) parts.push(`scope=${quote(challenge.scopes.join(' '))}`)
  if (challenge.maxAge !== undefined) parts.push(`max_age=${quote(String(challenge.maxAge))}`)
  return parts.join(', ')
}

/** RFC 9457 problem JSON for every non-OAuth route of ours. */
export function problemErrorHandler (error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const status = statusOf(error)
  logIfServerError(error, request, status)
  const later = retryLater(error)
  if (later) reply.header('retry-after', String(later.retryAfter))
  if (error instanceof StepUpRequiredError) {
    reply.header('www-authenticate', bearerChallenge(request.server.users.config.issuer, {
      error: 'insufficient_user_authentication', description: error.message, maxAge: error.maxAge
    }))
  }
  const errors = error.validation?.map((v) => ({
    path: `${error.validationContext ?? ''}${v.instancePath}`,
    message: v.message ?? 'is invalid'
  }))
  const hidden = status >= 500 && !later
  const detail = hidden ? 'Internal server error' : error.message
  return reply.code(hidden ? 500 : status).type('application/problem+json').send(problem(request, hidden ? 500 : status, detail, hidden ? 'INTERNAL_ERROR' : codeOf(error, status), errors))
}

/** A grant type's name or URN (RFC 6749 §4.5), as a form sends one. */
const isGrantTypeName = (value: unknown): boolean => typeof value === 'string' && /^[A-Za-z0-9_.:/+-]{1,256}$/.test(value)

/** RFC 6749 §5.2 error bodies for /oauth routes: whatever went wrong, the client gets that shape. */
export function oauthErrorHandler (error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  let status = statusOf(error)
  logIfServerError(error, request, status)
  let body: OAuthErrorBody
  if (error instanceof OAuthError) {
    // The token endpoint's own codes; the authorization endpoint's never reach this handler.
    body = { error: error.error as OAuthErrorBody['error'], error_description: error.message }
  } else if (error instanceof TooManyRequestsError) {
    // RFC 6749 has no error for this; slow_down is the token endpoint's registered word for it (RFC 8628 §3.5).
    reply.header('retry-after', String(error.retryAfter))
    body = { error: 'slow_down', error_description: error.message }
  } else if (isUnavailable(error)) {
    reply.header('retry-after', String(error.retryAfter))
    body = { error: 'temporarily_unavailable', error_description: error.message }
  } else if (status >= 500) {
    status = 500
    body = { error: 'server_error', error_description: 'Internal server error' }
  } else if (error.validation?.some((v) => v.instancePath === '/grant_type') && isGrantTypeName((request.body as { grant_type?: unknown } | undefined)?.grant_type)) {
    // A well-formed grant_type, but not one of ours (RFC 6749 §5.2); repeated or garbled, a malformed request.
    status = 400
    body = { error: 'unsupported_grant_type', error_description: 'Unsupported grant_type' }
  } else {
    // Validation, content type, size and parse failures: all a malformed request (RFC 6749 §5.2).
    status = 400
    body = { error: 'invalid_request', error_description: error.message }
  }
  if (body.error === 'invalid_client') reply.header('www-authenticate', 'Basic realm="oauth", charset="UTF-8"')
  return reply.code(status).header('cache-control', 'no-store').header('pragma', 'no-cache').send(body)
}
