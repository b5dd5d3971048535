import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Page } from 'playwright-core'
import { browserSkip, DEMO_USER, listenDemo, openBrowser } from './support/browser.js'
import {
  authFlow, authorizeInDialog, closeAuthorizedDialog, nextTokenResponse, openDocs,
  operation, popupClosing, startCodeFlow, tryItOut
} from './support/swagger-ui.js'

// Swagger UI answering a step-up challenge (RFC 9470) in a real browser: a change of email
// with a sign-in grown old gets 401 insufficient_user_authentication; Logout and Authorize
// again in the dialog signs in anew (the swagger-ui client's default max_age), and the change passes.

const MAX_AGE = 2
const SCOPES = ['items:read']

async function signInInPopup (page: Page, popup: Page, issuer: string) {
  const closed = popupClosing(popup)
  const tokenResponse = nextTokenResponse(page, issuer)
  await popup.locator('#email').fill(DEMO_USER.email)
  await popup.locator('#password').fill(DEMO_USER.password)
  await popup.getByRole('button', { name: 'Sign in' }).click()
  await assert.doesNotReject(closed, 'the popup closes itself')
  assert.equal((await tokenResponse).status(), 200)
}

test('Swagger UI answers a step-up challenge: Logout, Authorize, sign in again, and the change passes', { timeout: 60_000 }, async (t) => {
  const skip = await browserSkip()
  if (skip) {
    t.skip(skip)
    return
  }
  const browser = await openBrowser(t)
  const { issuer } = await listenDemo(t, { recentSignInMaxAge: MAX_AGE })
  const page = await openDocs(t, browser, issuer)

  const first = await startCodeFlow(page, issuer, SCOPES)
  await signInInPopup(page, first.popup, issuer)
  await closeAuthorizedDialog(page, authFlow(page, 'authorizationCode'))

  // The sign-in grows old; a change of email without the current password needs a recent one.
  await sleep((MAX_AGE + 1) * 1000 + 100)
  const newEmail = { email: 'demo.renamed@example.com' }
  const refused = await tryItOut(page, issuer, 'patch', '/users/me', newEmail)
  assert.equal(refused.response.status(), 401)
  assert.match(refused.response.headers()['www-authenticate'] ?? '', new RegExp(`error="insufficient_user_authentication".*max_age="${MAX_AGE}"`))

  // Logout and Authorize again: the browser session is older than max_age, so our login page asks.
  await page.locator('.auth-wrapper .btn.authorize').click()
  const flow = authFlow(page, 'authorizationCode')
  await flow.locator('button', { hasText: 'Logout' }).click()
  assert.equal(await flow.locator('input[data-name="clientId"]').inputValue(), 'swagger-ui', 'the form is back, client_id preset')
  const second = await authorizeInDialog(page, flow, issuer, SCOPES)
  await signInInPopup(page, second.popup, issuer)
  await closeAuthorizedDialog(page, flow)

  // The same request again, from the operation as it is left open.
  const [accepted] = await Promise.all([
    page.waitForResponse((r) => r.url() === `${issuer}/users/me` && r.request().method() === 'PATCH'),
    operation(page, 'patch', '/users/me').locator('.execute').click()
  ])
  assert.equal(accepted.status(), 200, await accepted.text())
  assert.equal((await accepted.json()).email, newEmail.email)
})
