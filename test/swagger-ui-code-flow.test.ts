import assert from 'node:assert/strict'
import type { Page } from 'playwright-core'
import { DEMO_USER } from './support/browser.js'
import {
  authFlow, checkReadOnlyDemoUser, checkTokenResponse, closeAuthorizedDialog, nextTokenResponse, openDocs,
  popupClosing, redirectPageRequest, startCodeFlow, swaggerUiTest
} from './support/swagger-ui.js'

// Swagger UI in a real browser, against the demo app: the Authorize dialog's OAuth2
// authorization code flow (PKCE) opens our login page in a popup, the popup comes back
// through oauth2-redirect.html and closes, Swagger UI redeems the code at our token
// endpoint, and "Try it out" sends the token.

/** Fills our login page in the popup and presses "Sign in". */
async function signIn (popup: Page, email: string, password: string) {
  await popup.locator('#email').fill(email)
  await popup.locator('#password').fill(password)
  await popup.getByRole('button', { name: 'Sign in' }).click()
}

swaggerUiTest('Swagger UI: OAuth2 authorization code flow (PKCE) in the demo', async (t, { issuer, browser }) => {
  await t.test('sign in through the popup with items:read: may read, may not write', async (t) => {
    const page = await openDocs(t, browser, issuer)
    const scopes = ['items:read']
    const { popup, authorizeUrl } = await startCodeFlow(page, issuer, scopes)
    const popupClosed = popupClosing(popup)

    // A wrong password: the popup shows the login page again, with the error.
    await signIn(popup, DEMO_USER.email, 'not-the-password')
    await popup.getByText('Wrong email or password.', { exact: true }).waitFor()
    assert.equal(await popup.locator('#email').inputValue(), DEMO_USER.email, 'the email is kept')
    assert.equal(popup.isClosed(), false)

    // The right one: 303 to /oauth/authorize, 302 to oauth2-redirect.html with the code,
    // which hands it to Swagger UI and closes the popup. Swagger UI then redeems it.
    const redirected = redirectPageRequest(popup, issuer)
    const tokenResponsePromise = nextTokenResponse(page, issuer)
    await signIn(popup, DEMO_USER.email, DEMO_USER.password)

    const callback = (await redirected).searchParams
    assert.equal(callback.get('error'), null, `no error at the redirect URI: ${callback.get('error_description')}`)
    assert.ok(callback.get('code'), 'the redirect URI gets a code')
    assert.equal(callback.get('state'), authorizeUrl.searchParams.get('state'), 'the state comes back')
    assert.equal(callback.get('iss'), issuer, 'the issuer is named (RFC 9207)')
    await assert.doesNotReject(popupClosed, 'the popup closes itself')

    const { tokenRequest, token } = await checkTokenResponse(await tokenResponsePromise, scopes)
    assert.equal(tokenRequest.get('grant_type'), 'authorization_code')
    assert.equal(tokenRequest.get('code'), callback.get('code'))
    assert.equal(tokenRequest.get('redirect_uri'), `${issuer}/docs/static/oauth2-redirect.html`)
    assert.ok(tokenRequest.get('code_verifier'), 'the PKCE code_verifier is sent')

    await closeAuthorizedDialog(page, authFlow(page, 'authorizationCode'))
    await checkReadOnlyDemoUser(page, issuer, `Bearer ${token.access_token}`)
  })
})
