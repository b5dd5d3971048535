import assert from 'node:assert/strict'
import type { Page } from 'playwright-core'
import { DEMO_USER } from './support/browser.js'
import {
  checkReadOnlyDemoUser, checkTokenResponse, closeAuthorizedDialog, liveResponseBody, nextTokenResponse,
  openAuthorizeDialog, openDocs, pressAuthorize, swaggerUiTest, tickScopes, tryItOut
} from './support/swagger-ui.js'

// Swagger UI in a real browser, against the demo app: the Authorize dialog's OAuth2
// password flow gets a token from our token endpoint, and "Try it out" sends it.

/**
 * Signs in through the Authorize dialog's password flow, granting `scopes`; returns the
 * token endpoint's JSON answer.
 */
async function authorizeWithPassword (page: Page, issuer: string, scopes: string[]) {
  // The scheme has an authorizationCode flow too: pick the section that asks for a password.
  const flow = await openAuthorizeDialog(page, 'password')
  await flow.locator('#oauth_username').fill(DEMO_USER.email)
  await flow.locator('#oauth_password').fill(DEMO_USER.password)
  await tickScopes(flow, scopes)

  const [tokenResponse] = await Promise.all([
    nextTokenResponse(page, issuer),
    pressAuthorize(flow)
  ])
  const { tokenRequest, token } = await checkTokenResponse(tokenResponse, scopes)
  assert.equal(tokenRequest.get('grant_type'), 'password')
  assert.equal(tokenRequest.get('username'), DEMO_USER.email)
  assert.equal(tokenRequest.get('scope'), scopes.join(' '))

  await closeAuthorizedDialog(page, flow)
  return token
}

swaggerUiTest('Swagger UI: OAuth2 password flow in the demo', async (t, { issuer, browser }) => {
  await t.test('without a token, Try it out gets 401', async (t) => {
    const page = await openDocs(t, browser, issuer)
    const { response, authorization } = await tryItOut(page, issuer, 'get', '/users/me')
    assert.equal(authorization, null)
    assert.equal(response.status(), 401)
  })

  await t.test('items:read: may read, may not write', async (t) => {
    const page = await openDocs(t, browser, issuer)
    const token = await authorizeWithPassword(page, issuer, ['items:read'])
    await checkReadOnlyDemoUser(page, issuer, `Bearer ${token.access_token}`)
  })

  await t.test('items:read and items:write: may write', async (t) => {
    const page = await openDocs(t, browser, issuer)
    const token = await authorizeWithPassword(page, issuer, ['items:read', 'items:write'])

    const create = await tryItOut(page, issuer, 'post', '/items', { name: 'from Swagger UI' })
    assert.equal(create.authorization, `Bearer ${token.access_token}`)
    assert.equal(create.response.status(), 201)
    assert.equal((await create.response.json()).name, 'from Swagger UI')
    assert.match(await liveResponseBody(page, 'post', '/items'), /from Swagger UI/)
  })
})
