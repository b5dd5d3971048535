import type { FastifyRequest } from 'fastify'

// Query parameters that carry credentials or personal data in the URLs of our browser routes:
// authorization answers (our provider callbacks, Swagger UI's redirect page), authorization
// requests (state, nonce, login_hint: an email), the pending request a provider-login start
// and the account pages carry whole (authorize_query), and mailed links (token: whoever reads
// it sets the password).
const SECRET_PARAMS = new Set([
  'code', 'state', 'id_token', 'access_token', 'refresh_token', 'session_state',
  'nonce', 'login_hint', 'authorize_query', 'token'
])

export function redactUrl (url: string): string {
  const q = url.indexOf('?')
  if (q < 0) return url
  const params = new URLSearchParams(url.slice(q + 1))
  let changed = false
  for (const key of new Set(params.keys())) {
    if (SECRET_PARAMS.has(key)) {
      params.set(key, '[redacted]')
      changed = true
    }
  }
  return changed ? `${url.slice(0, q)}?${params.toString()}` : url
}

/** Fastify's request serializer, with the answer's credentials taken out of the URL. */
export const redactingLogSerializers = {
  req (req: FastifyRequest) {
    return {
      method: req.method,
      url: redactUrl(req.url),
      version: req.headers?.['accept-version'],
      host: req.host,
      remoteAddress: req.ip,
      remotePort: req.socket?.remotePort
    }
  }
}
