import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Page } from 'playwright-core'
import { browserSkip, DEMO_USER, listenDemo, openBrowser } from './support/browser.js'
import { linkIn, startSmtpServer } from './support/smtp.js'
import {
  authFlow, checkTokenResponse, closeAuthorizedDialog, nextTokenResponse, openDocs,
  popupClosing, startCodeFlow, TIMEOUT, tryItOut
} from './support/swagger-ui.js'

// The account pages in a real browser, from Swagger UI's sign-in popup, against the demo with
// a real SMTP server: create an account and come back to Swagger UI with a token; forget the
// password, follow the mailed link, set a new one and sign in with it. Mail is sent for real.

const SCOPES = ['items:read']
const NEW_PASSWORD = 'a brand new demo password'

/** Swagger UI's "Try it out" of GET /users/me sends `token` and shows `email`'s user. */
async function checkSignedInAs (page: Page, issuer: string, accessToken: string, email: string) {
  const me = await tryItOut(page, issuer, 'get', '/users/me')
  assert.equal(me.authorization, `Bearer ${accessToken}`)
  assert.equal(me.response.status(), 200)
  assert.equal((await me.response.json()).email, email)
}

test('Swagger UI: create an account, and reset a password by mail, from the sign-in popup', { timeout: 60_000 }, async (t) => {
  const skip = await browserSkip()
  if (skip) {
    t.skip(skip)
    return
  }
  const smtp = await startSmtpServer()
  // Hooks run in the order they were added: the browser closes first, then the demo, then the mail server it sends to.
  const browser = await openBrowser(t)
  const { app, issuer } = await listenDemo(t, { smtpUrl: smtp.url })
  t.after(() => smtp.close())

  await t.test('"Create account" in the popup: the popup closes and Swagger UI holds a token of the new user', async (t) => {
    const page = await openDocs(t, browser, issuer)
    const { popup } = await startCodeFlow(page, issuer, SCOPES)
    const closed = popupClosing(popup)
    const tokenResponse = nextTokenResponse(page, issuer)

    await popup.getByRole('link', { name: 'Create account' }).click()
    await popup.getByRole('heading', { name: 'Create account' }).waitFor()
    await popup.locator('#email').fill('grace@example.com')
    await popup.locator('#password').fill('a long enough password')
    await popup.getByRole('button', { name: 'Create account' }).click()

    await assert.doesNotReject(closed, 'the popup closes itself')
    const { token } = await checkTokenResponse(await tokenResponse, SCOPES)
    await closeAuthorizedDialog(page, authFlow(page, 'authorizationCode'))
    await checkSignedInAs(page, issuer, token.access_token, 'grace@example.com')

    // The sign-up mailed a verification link: opened, it shows a button, and the button verifies.
    const mail = await smtp.nextMail((m) => m.envelope.to.includes('grace@example.com'), TIMEOUT)
    const verify = await page.context().newPage()
    await verify.goto(linkIn(mail, /\/account\/verify\?/))
    assert.equal((await app.users.store.getUserByEmail('grace@example.com'))?.isVerified, false, 'opening the link verifies nothing')
    await verify.getByRole('button', { name: 'Verify my email address' }).click()
    await verify.getByText('Your email address grace@example.com is verified.').waitFor()
    assert.equal((await app.users.store.getUserByEmail('grace@example.com'))?.isVerified, true)
  })

  await t.test('"Forgot password?" in the popup, the mailed link in a tab, a new password, then signing in with it in the popup', async (t) => {
    const page = await openDocs(t, browser, issuer)
    const { popup } = await startCodeFlow(page, issuer, SCOPES)

    await popup.getByRole('link', { name: 'Forgot password?' }).click()
    await popup.locator('#email').fill(DEMO_USER.email)
    await popup.getByRole('button', { name: 'Send the link' }).click()
    await popup.getByText(`If an account exists for ${DEMO_USER.email}, we sent it a link`).waitFor()

    // The link, opened from the mail in a tab of the same browser.
    const mail = await smtp.nextMail((m) => m.envelope.to.includes(DEMO_USER.email), TIMEOUT)
    const reset = await page.context().newPage()
    await reset.goto(linkIn(mail, /\/account\/reset-password\?/))
    await reset.locator('#password').fill(NEW_PASSWORD)
    const [post] = await Promise.all([
      reset.waitForRequest((r) => r.method() === 'POST' && r.url() === `${issuer}/account/reset-password`),
      reset.getByRole('button', { name: 'Set password' }).click()
    ])
    await reset.getByText('Your password is set: sign in with it.').waitFor()
    // The page's URL holds the token: the form's Referer is the origin alone, and Origin is ours.
    assert.equal(await post.headerValue('referer'), `${issuer}/`)
    assert.equal(await post.headerValue('origin'), issuer)
    await reset.close()

    // Back in the popup: "Back to sign in" leads to the pending request's login page. The old
    // password is refused there; the new one signs in, the popup closes, Swagger UI has a token.
    await popup.getByRole('link', { name: 'Back to sign in' }).click()
    await popup.locator('#password').fill(DEMO_USER.password)
    await popup.locator('#email').fill(DEMO_USER.email)
    await popup.getByRole('button', { name: 'Sign in' }).click()
    await popup.getByText('Wrong email or password.', { exact: true }).waitFor()

    const closed = popupClosing(popup)
    const tokenResponse = nextTokenResponse(page, issuer)
    await popup.locator('#password').fill(NEW_PASSWORD)
    await popup.getByRole('button', { name: 'Sign in' }).click()
    await assert.doesNotReject(closed, 'the popup closes itself')
    const { token } = await checkTokenResponse(await tokenResponse, SCOPES)
    await closeAuthorizedDialog(page, authFlow(page, 'authorizationCode'))
    await checkSignedInAs(page, issuer, token.access_token, DEMO_USER.email)
  })
})
