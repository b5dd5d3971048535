import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import { pkce } from './oauth.js'
import { pageLinks, type Visit, type WebBrowser } from './web-browser.js'

/** The first-party test client 'web' sends the browser here with our code. */
export const CLIENT_REDIRECT = 'https://app.example.com/cb'

/**
 * Our /oauth/authorize for client 'web' (PKCE, state 'client-state'), the login page's
 * "Continue with <label>" button, and the 302 to the provider: the provider's URL.
 */
export async function toProvider (browser: WebBrowser, issuer: string, label: string, scope: string) {
  const { verifier, challenge } = pkce()
  const authorize = new URL(`${issuer}/oauth/authorize`)
  authorize.search = new URLSearchParams({
    response_type: 'code', client_id: 'web', redirect_uri: CLIENT_REDIRECT, code_challenge: challenge, code_challenge_method: 'S256', state: 'client-state', scope
  }).toString()
  const login = await browser.request(authorize)
  assert.equal(login.status, 200)
  const button = pageLinks(login.body, login.url).find((l) => l.text === `Continue with ${label}`)
  assert.ok(button, `the login page has the ${label} button`)
  const start = await browser.request(button.href)
  assert.equal(start.status, 302, start.body)
  return { verifier, upstream: new URL(start.location as string) }
}

/** The browser left for the client (default 'web') with our code: exchanged for our access token. */
export async function exchangeOurCode (app: FastifyInstance, end: Visit, verifier: string, issuer?: string, clientId = 'web'): Promise<string> {
  const location = end.location ?? ''
  assert.ok(location.startsWith(CLIENT_REDIRECT), `expected the client redirect, got ${end.status} ${location} ${end.body.slice(0, 500)}`)
  const params = new URL(location).searchParams
  assert.equal(params.get('state'), 'client-state')
  if (issuer !== undefined) assert.equal(params.get('iss'), issuer)
  const res = await app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ grant_type: 'authorization_code', code: params.get('code') ?? '', redirect_uri: CLIENT_REDIRECT, client_id: clientId, code_verifier: verifier }).toString()
  })
  assert.equal(res.statusCode, 200, res.body)
  return (res.json() as { access_token: string }).access_token
}

/** One of our HTML pages, with this status and text; never a redirect. */
export function assertPage (visit: Visit, status: number, text: RegExp) {
  assert.equal(visit.status, status, visit.body.slice(0, 500))
  assert.match(visit.body, text)
  assert.match(visit.body, /<!doctype html>/)
  assert.equal(visit.location, undefined)
}
