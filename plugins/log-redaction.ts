import type { FastifyRequest } from 'fastify'

// Query parameters that carry credentials on the routes a browser is redirected to with an
// authorization answer (our provider callbacks, Swagger UI's redirect page).
const SECRET_PARAMS = new Set(['code', 'state', 'id_token', 'access_token', 'refresh_token', 'session_state'])

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
