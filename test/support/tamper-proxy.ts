import { createServer, request as httpRequest, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * A transparent HTTP proxy in front of an upstream provider that may rewrite the id_token
 * of token responses: what a network attacker, or a broken provider, would hand us.
 */
export interface TamperProxy {
  url: string
  /** Where requests go; set once the provider behind it listens. */
  target: string
  /** Rewrites the id_token of a token response; undefined passes it through. */
  rewriteIdToken?: (idToken: string) => Promise<string>
  close (): Promise<void>
}

export async function startTamperProxy (): Promise<TamperProxy> {
  const proxy: TamperProxy = { url: '', target: '', close: async () => {} }
  const server: Server = createServer((req, res) => {
    const target = new URL(req.url ?? '/', proxy.target)
    // The Host header stays the proxy's: the provider builds its URLs from it.
    const upstream = httpRequest(target, { method: req.method, headers: req.headers }, (up) => {
      const rewrite = proxy.rewriteIdToken
      if (!rewrite || !(up.headers['content-type'] ?? '').includes('application/json')) {
        res.writeHead(up.statusCode ?? 502, up.headers)
        up.pipe(res)
        return
      }
      const chunks: Buffer[] = []
      up.on('data', (c: Buffer) => chunks.push(c))
      up.on('end', () => {
        (async () => {
          let body = Buffer.concat(chunks).toString()
          const json = JSON.parse(body) as { id_token?: string }
          if (typeof json.id_token === 'string') {
            json.id_token = await rewrite(json.id_token)
            body = JSON.stringify(json)
          }
          const headers = { ...up.headers, 'content-length': String(Buffer.byteLength(body)) }
          delete headers['transfer-encoding']
          res.writeHead(up.statusCode ?? 502, headers)
          res.end(body)
        })().catch(() => { res.writeHead(502).end() })
      })
    })
    upstream.on('error', () => { res.writeHead(502).end() })
    req.pipe(upstream)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  proxy.close = () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()) })
  return proxy
}
