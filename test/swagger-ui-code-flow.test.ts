import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import type { Browser, Locator, Page, Response } from 'playwright-core'
import { browserSkip, DEMO_USER, listenDemo, openBrowser } from './support/browser.js'

// Swagger UI in a real browser, against the demo app: the Authorize dialog's OAuth2
// authorization code flow (PKCE) opens our login page in a popup, the popup comes back
// through oauth2-redirect.html and closes, Swagger UI redeems the code at our token
// endpoint, and "Try it out" sends the token.

const TIMEOUT = 10_000

interface Sent {
  /** The network response, as the browser saw it. */
  response: Response
  /** The Authorization header the browser sent. */
  authorization: string | null
}

/** Opens the docs in a fresh browser context, closed when the test ends. */
async function openDocs (t: TestContext, browser: Browser, issuer: string): Promise<Page> {
  const context = await browser.newContext()
  t.after(() => context.close())
  context.setDefaultTimeout(TIMEOUT)
  const page = await context.newPage()
  await page.goto(`${issuer}/docs`)
  await page.locator('.opblock').first().waitFor()
  return page
}

/**
 * The Authorize dialog's section for the oauth2 scheme's authorizationCode flow, titled
 * "authorizationCode with PKCE" since Swagger UI is initialised with PKCE on.
 */
function codeFlow (page: Page): Locator {
  return page.locator('.auth-container').filter({ has: page.locator('.flow code', { hasText: /^authorizationCode with PKCE$/ }) })
}

/**
 * Opens the Authorize dialog, ticks `scopes` in the authorizationCode flow and presses
 * its Authorize button; returns the popup with our login page and the authorization request.
 */
async function startCodeFlow (page: Page, issuer: string, scopes: string[]): Promise<{ popup: Page, authorizeUrl: URL }> {
  await page.locator('.auth-wrapper .btn.authorize').click()
  const flow = codeFlow(page)
  await flow.waitFor()

  assert.equal(await flow.locator('input[data-name="clientId"]').inputValue(), 'swagger-ui', 'client_id is preset')
  for (const scope of scopes) {
    const checkbox = flow.locator(`.scopes input[type="checkbox"][data-value="${scope}"]`)
    // Swagger UI styles the label, not the input: click what a user clicks.
    await flow.locator(`.scopes label[for="${await checkbox.getAttribute('id')}"]`).click()
    assert.ok(await checkbox.isChecked(), `scope ${scope} ticked`)
  }
  const checked = await flow.locator('.scopes input[type="checkbox"]:checked').evaluateAll(
    (inputs) => inputs.map((input) => input.getAttribute('data-value'))
  )
  assert.deepEqual(checked.sort(), [...scopes].sort(), 'only the wanted scopes are ticked')

  const [popup] = await Promise.all([
    page.waitForEvent('popup'),
    flow.locator('.btn.modal-btn.auth.authorize').click()
  ])
  // The popup's first URL is the authorization request; wait for our login page to show.
  await popup.locator('#email').waitFor()
  const authorizeUrl = new URL(popup.url())
  assert.equal(authorizeUrl.origin + authorizeUrl.pathname, `${issuer}/oauth/authorize`)
  const query = authorizeUrl.searchParams
  assert.equal(query.get('response_type'), 'code')
  assert.equal(query.get('client_id'), 'swagger-ui')
  assert.equal(query.get('redirect_uri'), `${issuer}/docs/static/oauth2-redirect.html`)
  assert.equal(query.get('code_challenge_method'), 'S256', 'Swagger UI uses PKCE')
  assert.ok(query.get('code_challenge'), 'a code_challenge is sent')
  assert.ok(query.get('state'), 'a state is sent')
  assert.deepEqual(query.get('scope')?.split(' ').sort(), [...scopes].sort())
  return { popup, authorizeUrl }
}

/** Fills our login page in the popup and presses "Sign in". */
async function signIn (popup: Page, email: string, password: string) {
  await popup.locator('#email').fill(email)
  await popup.locator('#password').fill(password)
  await popup.getByRole('button', { name: 'Sign in' }).click()
}

function operation (page: Page, method: 'get' | 'post', path: string): Locator {
  return page.locator(`.opblock.opblock-${method}`).filter({
    has: page.locator(`.opblock-summary-path[data-path="${path}"]`)
  })
}

/**
 * Expands an operation, presses "Try it out" (filling the JSON body, if any), then
 * "Execute"; returns what went over the network and checks that Swagger UI shows the same status.
 */
async function tryItOut (page: Page, issuer: string, method: 'get' | 'post', path: string, body?: unknown): Promise<Sent> {
  const op = operation(page, method, path)
  await op.locator('.opblock-summary').first().click()
  await op.locator('.try-out__btn').click()
  if (body !== undefined) await op.locator('textarea.body-param__text').fill(JSON.stringify(body))

  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url() === `${issuer}${path}` && r.request().method() === method.toUpperCase()),
    op.locator('.execute').click()
  ])
  const shown = op.locator('.live-responses-table .response .response-col_status').first()
  await assert.doesNotReject(
    shown.filter({ hasText: String(response.status()) }).waitFor(),
    `Swagger UI shows status ${response.status()}`
  )
  return { response, authorization: await response.request().headerValue('authorization') }
}

async function liveResponseBody (page: Page, method: 'get' | 'post', path: string): Promise<string> {
  return operation(page, method, path).locator('.live-responses-table .response-col_description .microlight').first().innerText()
}

test('Swagger UI: OAuth2 authorization code flow (PKCE) in the demo', { timeout: 60_000 }, async (t) => {
  const skip = await browserSkip()
  if (skip) {
    t.skip(skip)
    return
  }
  const { issuer } = await listenDemo(t)
  const browser = await openBrowser(t)

  await t.test('sign in through the popup with items:read: may read, may not write', async (t) => {
    const page = await openDocs(t, browser, issuer)
    const scopes = ['items:read']
    const { popup, authorizeUrl } = await startCodeFlow(page, issuer, scopes)
    const popupClosed = popup.waitForEvent('close', { timeout: TIMEOUT })
    // Swallowed here, awaited below: a rejection must not go unhandled meanwhile.
    popupClosed.catch(() => {})

    // A wrong password: the popup shows the login page again, with the error.
    await signIn(popup, DEMO_USER.email, 'not-the-password')
    await popup.getByText('Wrong email or password.', { exact: true }).waitFor()
    assert.equal(await popup.locator('#email').inputValue(), DEMO_USER.email, 'the email is kept')
    assert.equal(popup.isClosed(), false)

    // The right one: 303 to /oauth/authorize, 302 to oauth2-redirect.html with the code,
    // which hands it to Swagger UI and closes the popup. Swagger UI then redeems it.
    const redirected = popup.waitForRequest((r) => r.url().startsWith(`${issuer}/docs/static/oauth2-redirect.html?`))
    const tokenResponsePromise = page.waitForResponse((r) => r.url() === `${issuer}/oauth/token` && r.request().method() === 'POST')
    await signIn(popup, DEMO_USER.email, DEMO_USER.password)

    const callback = new URL((await redirected).url()).searchParams
    assert.equal(callback.get('error'), null, `no error at the redirect URI: ${callback.get('error_description')}`)
    assert.ok(callback.get('code'), 'the redirect URI gets a code')
    assert.equal(callback.get('state'), authorizeUrl.searchParams.get('state'), 'the state comes back')
    assert.equal(callback.get('iss'), issuer, 'the issuer is named (RFC 9207)')
    await assert.doesNotReject(popupClosed, 'the popup closes itself')

    const tokenResponse = await tokenResponsePromise
    const tokenRequest = new URLSearchParams(tokenResponse.request().postData() ?? '')
    assert.equal(tokenRequest.get('grant_type'), 'authorization_code')
    assert.equal(tokenRequest.get('code'), callback.get('code'))
    assert.equal(tokenRequest.get('redirect_uri'), `${issuer}/docs/static/oauth2-redirect.html`)
    assert.ok(tokenRequest.get('code_verifier'), 'the PKCE code_verifier is sent')
    const basic = await tokenResponse.request().headerValue('authorization')
    const clientId = basic === null
      ? tokenRequest.get('client_id')
      : Buffer.from(basic.replace(/^Basic /, ''), 'base64').toString().split(':')[0]
    assert.equal(clientId, 'swagger-ui', 'the token request names the swagger-ui client')
    const body = await tokenResponse.text()
    assert.equal(tokenResponse.status(), 200, `token endpoint answered ${tokenResponse.status()}: ${body}`)
    const token = JSON.parse(body) as { access_token: string, token_type: string, scope: string }
    assert.equal(token.token_type.toLowerCase(), 'bearer')
    assert.deepEqual(token.scope.split(' ').sort(), [...scopes].sort(), 'granted exactly the ticked scopes')

    // Swagger UI shows the flow as authorized, with a Logout button in place of Authorize.
    const flow = codeFlow(page)
    await flow.getByText('Authorized', { exact: true }).waitFor()
    await flow.locator('button', { hasText: 'Logout' }).waitFor()
    await page.locator('.modal-ux .close-modal').click()
    await page.locator('.modal-ux').waitFor({ state: 'detached' })
    await page.locator('.auth-wrapper .btn.authorize.locked').waitFor()

    const bearer = `Bearer ${token.access_token}`
    const me = await tryItOut(page, issuer, 'get', '/users/me')
    assert.equal(me.authorization, bearer)
    assert.equal(me.response.status(), 200)
    assert.equal((await me.response.json()).email, DEMO_USER.email)
    assert.match(await liveResponseBody(page, 'get', '/users/me'), new RegExp(DEMO_USER.email.replaceAll('.', '\\.')))

    const list = await tryItOut(page, issuer, 'get', '/items')
    assert.equal(list.authorization, bearer)
    assert.equal(list.response.status(), 200)
    assert.ok(Array.isArray(await list.response.json()))

    const create = await tryItOut(page, issuer, 'post', '/items', { name: 'from Swagger UI' })
    assert.equal(create.authorization, bearer)
    assert.equal(create.response.status(), 403)
  })
})
