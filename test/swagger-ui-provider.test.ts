import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import type { Page, Response } from 'playwright-core'
import { DEMO_USER } from './support/browser.js'
import {
  authFlow, checkTokenResponse, closeAuthorizedDialog, liveResponseBody, nextTokenResponse, openDocs,
  popupClosing, redirectPageRequest, startCodeFlow, swaggerUiTest, tryItOut
} from './support/swagger-ui.js'

// Swagger UI in a real browser, against the demo app, signing in through an upstream
// provider: the Authorize dialog's authorization code flow (PKCE) opens our login page in a
// popup, "Continue with Demo IdP" leads to the Demo IdP (a real OpenID Connect provider on
// its own origin), which sends the browser back to our /auth/demo-idp/callback; that signs
// the browser in and resumes the pending /oauth/authorize request, so the popup ends at
// oauth2-redirect.html and closes, and "Try it out" runs as the provider's user.

const PROVIDER = 'demo-idp'
/** What Swagger UI asks for: items:read only. */
const SCOPES = ['items:read']

interface ShownUser { id: string, email: string, isVerified: boolean, createdAt: string }
interface ShownAccount { provider: string, accountId: string, accountEmail: string | null, createdAt: string }

/**
 * On our login page in the popup: "Continue with Demo IdP", which must land on the Demo IdP's
 * own sign-in page, on its own origin (that of the provider's authorization endpoint).
 */
async function continueWithDemoIdp (popup: Page, issuer: string, idpOrigin: string) {
  const link = popup.getByRole('link', { name: 'Continue with Demo IdP' })
  await link.click()
  await popup.locator('#idp-email').waitFor()
  const url = new URL(popup.url())
  assert.notEqual(url.origin, issuer, 'the popup left our origin')
  assert.equal(url.origin, idpOrigin, "the popup is on the Demo IdP's origin")
  assert.equal(await popup.title(), 'Demo IdP')
  await popup.getByRole('button', { name: 'Sign in to Demo IdP' }).waitFor()
  await popup.getByRole('button', { name: 'Cancel' }).waitFor()
}

/** Signs in at the Demo IdP; returns our callback's response (the provider's answer, as our server took it). */
async function signInAtDemoIdp (popup: Page, issuer: string, email: string): Promise<Response> {
  await popup.locator('#idp-email').fill(email)
  await popup.locator('#idp-password').fill('any password at all')
  const [callback] = await Promise.all([
    popup.waitForResponse((r) => r.url().startsWith(`${issuer}/auth/${PROVIDER}/callback?`)),
    popup.getByRole('button', { name: 'Sign in to Demo IdP' }).click()
  ])
  return callback
}

/** Tries out GET `path`; returns the response and the body Swagger UI shows, parsed. */
async function tryGet (page: Page, issuer: string, path: string): Promise<{ response: Response, shown: unknown }> {
  const { response } = await tryItOut(page, issuer, 'get', path)
  return { response, shown: JSON.parse(await liveResponseBody(page, 'get', path)) }
}

/**
 * The whole way through the Demo IdP with `email`: Swagger UI ends authorized (the popup
 * closed itself, the code was redeemed), and /users/me and /users/me/oauth-accounts are
 * tried out; returns what Swagger UI showed for them.
 */
async function authorizeThroughDemoIdp (page: Page, issuer: string, idpOrigin: string, email: string) {
  const { popup } = await startCodeFlow(page, issuer, SCOPES)
  const popupClosed = popupClosing(popup)
  await continueWithDemoIdp(popup, issuer, idpOrigin)

  const redirected = redirectPageRequest(popup, issuer)
  const tokenResponse = nextTokenResponse(page, issuer)
  const callback = await signInAtDemoIdp(popup, issuer, email)
  // Our callback signs the browser in and resumes the pending authorization request.
  assert.equal(callback.status(), 302, `our callback answered ${callback.status()}`)
  const resumed = new URL(callback.headers().location ?? '', issuer)
  assert.equal(resumed.origin + resumed.pathname, `${issuer}/oauth/authorize`, 'the callback resumes /oauth/authorize')

  const answer = (await redirected).searchParams
  assert.equal(answer.get('error'), null, `no error at the redirect URI: ${answer.get('error_description')}`)
  assert.ok(answer.get('code'), 'oauth2-redirect.html gets a code')
  await assert.doesNotReject(popupClosed, 'the popup closes itself')

  const { tokenRequest } = await checkTokenResponse(await tokenResponse, SCOPES)
  assert.equal(tokenRequest.get('code'), answer.get('code'))

  await closeAuthorizedDialog(page, authFlow(page, 'authorizationCode'))

  const me = await tryGet(page, issuer, '/users/me')
  assert.equal(me.response.status(), 200)
  const accounts = await tryGet(page, issuer, '/users/me/oauth-accounts')
  assert.equal(accounts.response.status(), 200)
  return { me: me.shown as ShownUser, accounts: accounts.shown as ShownAccount[] }
}

swaggerUiTest('Swagger UI: authorization code flow (PKCE) through the Demo IdP', async (t, { app, issuer, browser }) => {
  const idp = app.users.config.providers.find((p) => p.name === PROVIDER)
  assert.ok(idp?.issuer, 'the demo has the Demo IdP as provider demo-idp')
  const idpOrigin = new URL(idp.issuer).origin
  assert.notEqual(idpOrigin, issuer)

  const email = `idp-user-${randomBytes(6).toString('hex')}@example.org`
  let first: Awaited<ReturnType<typeof authorizeThroughDemoIdp>> | undefined

  await t.test('a new user signs in at the Demo IdP: Swagger UI is authorized as that user', async (t) => {
    const page = await openDocs(t, browser, issuer)
    first = await authorizeThroughDemoIdp(page, issuer, idpOrigin, email)
    const { me, accounts } = first

    assert.equal(me.email, email, '/users/me shows the new email')
    assert.notEqual(me.email, DEMO_USER.email, 'not the demo user')
    assert.equal(me.isVerified, true, 'verified: the provider is trusted')
    assert.ok(me.id)

    assert.equal(accounts.length, 1, `one linked account: ${JSON.stringify(accounts)}`)
    const [account] = accounts as [ShownAccount]
    assert.equal(account.provider, PROVIDER)
    assert.equal(account.accountEmail, email)
    assert.ok(account.accountId)
  })

  await t.test('the same email again, in a fresh browser: the same user, no second account', async (t) => {
    assert.ok(first, 'the first sign-in went through')
    const page = await openDocs(t, browser, issuer)
    const { me, accounts } = await authorizeThroughDemoIdp(page, issuer, idpOrigin, email)

    assert.equal(me.email, email)
    assert.equal(me.id, first.me.id, 'the same user id')
    assert.equal(me.createdAt, first.me.createdAt, 'the same user, not made again')
    assert.deepEqual(accounts, first.accounts, 'the same single linked account')

    // Behind the page: one user for the email, with one account.
    const stored = await app.users.store.getUserByEmail(email)
    assert.equal(stored?.id, first.me.id)
    assert.equal((await app.users.store.listOAuthAccounts(first.me.id)).length, 1)
  })

  await t.test('Cancel at the Demo IdP: "Sign-in cancelled", and the way back to our login page', async (t) => {
    const page = await openDocs(t, browser, issuer)
    const { popup } = await startCodeFlow(page, issuer, SCOPES)
    await continueWithDemoIdp(popup, issuer, idpOrigin)

    const [callback] = await Promise.all([
      popup.waitForResponse((r) => r.url().startsWith(`${issuer}/auth/${PROVIDER}/callback?`)),
      popup.getByRole('button', { name: 'Cancel' }).click()
    ])
    assert.equal(new URL(callback.url()).searchParams.get('error'), 'access_denied')
    assert.equal(callback.status(), 403)
    await popup.getByRole('heading', { name: 'Sign-in cancelled' }).waitFor()
    assert.equal(new URL(popup.url()).origin, issuer, 'our page, on our origin')
    assert.match(await popup.getByRole('alert').innerText(), /Demo IdP/)

    await popup.getByRole('link', { name: 'Back to sign-in' }).click()
    await popup.locator('#email').waitFor()
    const url = new URL(popup.url())
    assert.equal(url.origin + url.pathname, `${issuer}/oauth/authorize`)
    assert.equal(url.searchParams.get('client_id'), 'swagger-ui', 'the same pending request')
    await popup.getByRole('heading', { name: 'Sign in', exact: true }).waitFor()
    await popup.getByRole('link', { name: 'Continue with Demo IdP' }).waitFor()
    assert.equal(popup.isClosed(), false)
    assert.equal(await page.locator('.auth-wrapper .btn.authorize.locked').count(), 0, 'Swagger UI is not authorized')
  })

  await t.test("the demo user's email at the Demo IdP: taken (409), no link made", async (t) => {
    const page = await openDocs(t, browser, issuer)
    const { popup } = await startCodeFlow(page, issuer, SCOPES)
    await continueWithDemoIdp(popup, issuer, idpOrigin)

    const callback = await signInAtDemoIdp(popup, issuer, DEMO_USER.email)
    assert.equal(callback.status(), 409)
    await popup.getByRole('heading', { name: 'This email address is taken' }).waitFor()
    assert.equal(new URL(popup.url()).origin, issuer, 'our page, on our origin')
    assert.match(await popup.getByRole('alert').innerText(), /Sign in with your password/)
    await popup.getByRole('link', { name: 'Back to sign-in' }).waitFor()
    assert.equal(popup.isClosed(), false, 'the popup stays open: nothing to hand to Swagger UI')

    const demoUser = await app.users.store.getUserByEmail(DEMO_USER.email)
    assert.ok(demoUser)
    assert.deepEqual(await app.users.store.listOAuthAccounts(demoUser.id), [], 'the demo user got no Demo IdP account')
  })
})
