import { STATUS_CODES } from 'node:http'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import type { OAuthError } from '../schemas/oauth.js'
import type { Problem } from '../schemas/problem.js'
import { ERROR_PREFIX, OAuthProtocolError } from '../services/errors.js'

/** An RFC 9457 problem body; `code` is our stable machine-readable code. */
export function problem (status: number, detail: string, code?: string, errors?: Problem['errors']): Problem {
  return { type: 'about:blank', title: STATUS_CODES[status] ?? 'Error', status, detail, code, errors }
}

function statusOf (error: FastifyError): number {
  const status = error.statusCode
  return typeof status === 'number' && status >= 400 && status < 600 ? status : 500
}

function logIfServerError (error: FastifyError, request: FastifyRequest, status: number) {
  // 4xx are the client's business and are answered in full; 5xx are ours, logged and hidden.
  if (status >= 500) request.log.error({ err: error }, 'fastify-users: request failed')
}

function codeOf (error: FastifyError): string | undefined {
  if (error.validation) return 'VALIDATION_ERROR'
  if (typeof error.code !== 'string') return undefined
  return error.code.startsWith(ERROR_PREFIX) ? error.code.slice(ERROR_PREFIX.length) : error.code
}

/** RFC 9457 problem JSON for every non-OAuth route of ours. */
export function problemErrorHandler (error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const status = statusOf(error)
  logIfServerError(error, request, status)
  const errors = error.validation?.map((v) => ({
    path: `${error.validationContext ?? ''}${v.instancePath}`,
    message: v.message ?? 'is invalid'
  }))
  const detail = status >= 500 ? 'Internal server error' : error.message
  return reply.code(status).type('application/problem+json').send(problem(status, detail, status >= 500 ? undefined : codeOf(error), errors))
}

/** RFC 6749 §5.2 error bodies for /oauth routes: whatever went wrong, the client gets that shape. */
export function oauthErrorHandler (error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  let status = statusOf(error)
  logIfServerError(error, request, status)
  let body: OAuthError
  if (error instanceof OAuthProtocolError) {
    body = { error: error.error, error_description: error.message }
  } else if (status >= 500) {
    body = { error: 'server_error', error_description: 'Internal server error' }
  } else {
    // Validation, content type, size and parse failures: all a malformed request (RFC 6749 §5.2).
    status = 400
    body = { error: 'invalid_request', error_description: error.message }
  }
  if (body.error === 'invalid_client') reply.header('www-authenticate', 'Basic realm="oauth", charset="UTF-8"')
  return reply.code(status).header('cache-control', 'no-store').header('pragma', 'no-cache').send(body)
}
