// Token-endpoint request bodies made ahead of a run, as bench/grants.ts makes them: codes as
// /oauth/authorize issues them (each with its PKCE verifier), and refresh tokens from
// exchanging such codes. Both are single use, so every request of a run needs its own.
import { createHash, randomBytes } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { grantsOf } from '../../test/support/grants.js'

export const GRANT_CLIENT = 'swagger-ui'
export const REDIRECT = 'http://127.0.0.1/docs/static/oauth2-redirect.html'
export const GRANT_USER = 'bench@example.com'

async function inBatches (n: number, make: (i: number) => Promise<string>): Promise<string[]> {
  const out: string[] = []
  while (out.length < n) {
    const start = out.length
    out.push(...await Promise.all(Array.from({ length: Math.min(50, n - start) }, (_, k) => make(start + k))))
  }
  return out
}

/** `n` authorization_code grant bodies, each with a fresh code; codes live 60 s. */
export async function codeBodies (app: FastifyInstance, n: number): Promise<string[]> {
  const user = await app.users.store.getUserByEmail(GRANT_USER)
  const client = app.users.config.clients.get(GRANT_CLIENT)
  if (!user || !client) throw new Error('bench setup: no user or client')
  const grants = await grantsOf(app)
  return inBatches(n, async () => {
    const verifier = randomBytes(32).toString('base64url')
    const code = await grants.issueCode({
      client,
      user,
      scopes: ['items:read'],
      redirectUri: REDIRECT,
      codeChallenge: createHash('sha256').update(verifier).digest('base64url'),
      authTime: new Date()
    })
    return new URLSearchParams({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT, client_id: GRANT_CLIENT }).toString()
  })
}

/** `n` refresh_token grant bodies, each with the refresh token of a fresh code exchange. */
export async function refreshBodies (app: FastifyInstance, n: number): Promise<string[]> {
  const client = app.users.config.clients.get(GRANT_CLIENT)
  if (!client) throw new Error('bench setup: no client')
  const pending = await codeBodies(app, n)
  const grants = await grantsOf(app)
  return inBatches(n, async (i) => {
    const params = new URLSearchParams(pending[i])
    const set = await grants.exchangeCode(client, { code: params.get('code') ?? '', redirectUri: REDIRECT, codeVerifier: params.get('code_verifier') ?? '' })
    if (!set.refresh_token) throw new Error('bench setup: no refresh token')
    return new URLSearchParams({ grant_type: 'refresh_token', refresh_token: set.refresh_token, client_id: GRANT_CLIENT }).toString()
  })
}
