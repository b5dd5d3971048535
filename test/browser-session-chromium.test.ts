// The first-party browser flow in Chromium, against the demo: /privileged signed out is 401;
// /login?return_to=/privileged, "Continue with Demo IdP", and the browser is back on
// /privileged, signed in by our session cookie; signing out ends it: 401 again.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { browserSkip, listenDemo, openBrowser } from './support/browser.js'

const TIMEOUT = 10_000

test('signed out 401 → /login?return_to=/privileged → Demo IdP → /privileged 200 → sign out → 401', async (t) => {
  const skip = await browserSkip()
  if (skip) return t.skip(skip)
  const { issuer } = await listenDemo(t)
  const browser = await openBrowser(t)
  const page = await browser.newPage()
  page.setDefaultTimeout(TIMEOUT)

  const signedOut = await page.goto(`${issuer}/privileged`)
  assert.equal(signedOut?.status(), 401)

  await page.goto(`${issuer}/login?return_to=/privileged`)
  await page.getByRole('link', { name: 'Continue with Demo IdP' }).click()
  await page.locator('#idp-email').waitFor()
  const email = `session-${randomBytes(4).toString('hex')}@example.org`
  await page.locator('#idp-email').fill(email)
  await page.locator('#idp-password').fill('any password at all')
  await Promise.all([
    page.waitForURL(`${issuer}/privileged`),
    page.getByRole('button', { name: 'Sign in to Demo IdP' }).click()
  ])
  assert.deepEqual(JSON.parse(await page.locator('body').innerText()), { email, via: 'session' })

  // Signing out from a page of the app (here the docs page, on our origin): a POST to /auth/logout.
  await page.goto(`${issuer}/docs`)
  const status = await page.evaluate(async (url) => (await fetch(url, { method: 'POST', credentials: 'same-origin' })).status, `${issuer}/auth/logout`)
  assert.equal(status, 204)
  const after = await page.goto(`${issuer}/privileged`)
  assert.equal(after?.status(), 401)
})
