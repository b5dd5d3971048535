import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import type { Browser, Locator, Page, Response } from 'playwright-core'
import { browserSkip, DEMO_USER, listenDemo, openBrowser } from './browser.js'

// Swagger UI in a real browser, against the demo app: the page helpers the Swagger UI tests share.

/** How long a browser step may take. */
export const TIMEOUT = 10_000

export type Method = 'get' | 'post' | 'patch'

export interface Sent {
  /** The network response, as the browser saw it. */
  response: Response
  /** The Authorization header the browser sent. */
  authorization: string | null
}

export interface GrantedToken { access_token: string, token_type: string, scope: string }

export type DemoInBrowser = Awaited<ReturnType<typeof listenDemo>> & { browser: Browser }

/**
 * A test of Swagger UI in Chromium against the demo: `body` gets the demo listening on a
 * socket and a fresh Chromium, both closed when the test ends. Without Chromium the test is
 * skipped, or fails in CI (see browserSkip).
 */
export function swaggerUiTest (name: string, body: (t: TestContext, demo: DemoInBrowser) => Promise<void>) {
  return test(name, { timeout: 60_000 }, async (t) => {
    const skip = await browserSkip()
    if (skip) {
      t.skip(skip)
      return
    }
    // Hooks run in the order they were added: the browser closes before the demo, which
    // would otherwise wait for requests the browser still holds open.
    const browser = await openBrowser(t)
    const { app, issuer } = await listenDemo(t)
    await body(t, { app, issuer, browser })
  })
}

/** Opens the docs in a fresh browser context (no cookies, here or elsewhere), closed when the test ends. */
export async function openDocs (t: TestContext, browser: Browser, issuer: string): Promise<Page> {
  const context = await browser.newContext()
  t.after(() => context.close())
  context.setDefaultTimeout(TIMEOUT)
  const page = await context.newPage()
  await page.goto(`${issuer}/docs`)
  await page.locator('.opblock').first().waitFor()
  return page
}

const FLOW_TITLES = {
  password: /^password$/,
  // Swagger UI is initialised with PKCE on, hence the title.
  authorizationCode: /^authorizationCode with PKCE$/
}

/** The Authorize dialog's section for one of the oauth2 scheme's flows. */
export function authFlow (page: Page, flow: keyof typeof FLOW_TITLES): Locator {
  return page.locator('.auth-container').filter({ has: page.locator('.flow code', { hasText: FLOW_TITLES[flow] }) })
}

/** Opens the Authorize dialog; returns its section for `flow`, once shown, with client_id preset to swagger-ui. */
export async function openAuthorizeDialog (page: Page, flow: keyof typeof FLOW_TITLES): Promise<Locator> {
  await page.locator('.auth-wrapper .btn.authorize').click()
  const section = authFlow(page, flow)
  await section.waitFor()
  assert.equal(await section.locator('input[data-name="clientId"]').inputValue(), 'swagger-ui', 'client_id is preset')
  return section
}

/** Ticks `scopes` in a flow of the Authorize dialog, and checks that only they are ticked. */
export async function tickScopes (flow: Locator, scopes: string[]) {
  for (const scope of scopes) {
    const checkbox = flow.locator(`.scopes input[type="checkbox"][data-value="${scope}"]`)
    // Swagger UI styles the label, not the input: click what a user clicks. After a Logout
    // in the dialog the scopes ticked before are still ticked.
    if (!await checkbox.isChecked()) await flow.locator(`.scopes label[for="${await checkbox.getAttribute('id')}"]`).click()
    assert.ok(await checkbox.isChecked(), `scope ${scope} ticked`)
  }
  const checked = await flow.locator('.scopes input[type="checkbox"]:checked').evaluateAll(
    (inputs) => inputs.map((input) => input.getAttribute('data-value'))
  )
  assert.deepEqual(checked.sort(), [...scopes].sort(), 'only the wanted scopes are ticked')
}

/** Presses the Authorize button of a flow in the dialog. */
export function pressAuthorize (flow: Locator): Promise<void> {
  return flow.locator('.btn.modal-btn.auth.authorize').click()
}

/** The next POST to our token endpoint; a rejection is left for whoever awaits it. */
export function nextTokenResponse (page: Page, issuer: string): Promise<Response> {
  const response = page.waitForResponse((r) => r.url().split('?')[0] === `${issuer}/oauth/token` && r.request().method() === 'POST')
  response.catch(() => {})
  return response
}

/**
 * Checks a token endpoint exchange that Swagger UI made: as the swagger-ui client, answered
 * 200 with a bearer token granting exactly `scopes`. Returns the request's form and the token.
 */
export async function checkTokenResponse (tokenResponse: Response, scopes: string[]) {
  const tokenRequest = new URLSearchParams(tokenResponse.request().postData() ?? '')
  // The client authenticates as swagger-ui: by default Swagger UI sends HTTP Basic with an empty secret.
  const basic = await tokenResponse.request().headerValue('authorization')
  const clientId = basic === null
    ? tokenRequest.get('client_id')
    : Buffer.from(basic.replace(/^Basic /, ''), 'base64').toString().split(':')[0]
  assert.equal(clientId, 'swagger-ui', 'the token request names the swagger-ui client')
  const body = await tokenResponse.text()
  assert.equal(tokenResponse.status(), 200, `token endpoint answered ${tokenResponse.status()}: ${body}`)
  const token = JSON.parse(body) as GrantedToken
  assert.equal(token.token_type.toLowerCase(), 'bearer')
  assert.deepEqual(token.scope.split(' ').sort(), [...scopes].sort(), 'granted exactly the ticked scopes')
  return { tokenRequest, token }
}

/**
 * Checks that Swagger UI shows `flow` as authorized, with a Logout button in place of
 * Authorize, then closes the dialog: the Authorize button now shows a lock.
 */
export async function closeAuthorizedDialog (page: Page, flow: Locator) {
  await flow.getByText('Authorized', { exact: true }).waitFor()
  await flow.locator('button', { hasText: 'Logout' }).waitFor()
  await page.locator('.modal-ux .close-modal').click()
  await page.locator('.modal-ux').waitFor({ state: 'detached' })
  await page.locator('.auth-wrapper .btn.authorize.locked').waitFor()
}

/**
 * Opens the Authorize dialog, ticks `scopes` in the authorizationCode flow and presses its
 * Authorize button; returns the popup, once it shows our login page, and the authorization request.
 */
export async function startCodeFlow (page: Page, issuer: string, scopes: string[]): Promise<{ popup: Page, authorizeUrl: URL }> {
  const flow = await openAuthorizeDialog(page, 'authorizationCode')
  return authorizeInDialog(page, flow, issuer, scopes)
}

/** In an open Authorize dialog: ticks `scopes` and presses Authorize; returns the popup once it shows our login page. */
export async function authorizeInDialog (page: Page, flow: Locator, issuer: string, scopes: string[]): Promise<{ popup: Page, authorizeUrl: URL }> {
  await tickScopes(flow, scopes)

  const [popup] = await Promise.all([
    page.waitForEvent('popup'),
    pressAuthorize(flow)
  ])
  // The popup's first URL is the authorization request; wait for our login page to show.
  await popup.locator('#email').waitFor()
  const authorizeUrl = new URL(popup.url())
  assert.equal(authorizeUrl.origin + authorizeUrl.pathname, `${issuer}/oauth/authorize`, 'the popup shows our login page')
  const query = authorizeUrl.searchParams
  assert.equal(query.get('response_type'), 'code')
  assert.equal(query.get('client_id'), 'swagger-ui')
  assert.equal(query.get('redirect_uri'), `${issuer}/docs/static/oauth2-redirect.html`)
  assert.equal(query.get('code_challenge_method'), 'S256', 'Swagger UI uses PKCE')
  assert.ok(query.get('code_challenge'), 'a code_challenge is sent')
  assert.ok(query.get('state'), 'a state is sent')
  // The recent sign-in comes from the swagger-ui client's default_max_age, not from the URL:
  // Swagger UI would send a max_age parameter to an external scheme's issuer too.
  assert.equal(query.get('max_age'), null)
  assert.deepEqual(query.get('scope')?.split(' ').sort(), [...scopes].sort())
  return { popup, authorizeUrl }
}

/** The popup's closing, waited for from now on; a rejection is left for whoever awaits it. */
export function popupClosing (popup: Page): Promise<Page> {
  const closed = popup.waitForEvent('close', { timeout: TIMEOUT })
  // Swallowed here, awaited by the caller: a rejection must not go unhandled meanwhile.
  closed.catch(() => {})
  return closed
}

/** The popup's next request to oauth2-redirect.html, as a URL; a rejection is left for whoever awaits it. */
export function redirectPageRequest (popup: Page, issuer: string): Promise<URL> {
  const redirected = popup.waitForRequest((r) => r.url().startsWith(`${issuer}/docs/static/oauth2-redirect.html?`))
    .then((r) => new URL(r.url()))
  redirected.catch(() => {})
  return redirected
}

export function operation (page: Page, method: Method, path: string): Locator {
  return page.locator(`.opblock.opblock-${method}`).filter({
    has: page.locator(`.opblock-summary-path[data-path="${path}"]`)
  })
}

/**
 * Expands an operation, presses "Try it out" (filling the JSON body, if any), then
 * "Execute"; returns what went over the network and checks that Swagger UI shows the same status.
 */
export async function tryItOut (page: Page, issuer: string, method: Method, path: string, body?: unknown): Promise<Sent> {
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

/** The response body Swagger UI shows for an operation that was tried out. */
export async function liveResponseBody (page: Page, method: Method, path: string): Promise<string> {
  return operation(page, method, path).locator('.live-responses-table .response .response-col_description .microlight').first().innerText()
}

/**
 * With Swagger UI authorized as the demo user with items:read only (`bearer`): "Try it out"
 * sends the token, /users/me shows the demo user, GET /items answers, POST /items is forbidden.
 */
export async function checkReadOnlyDemoUser (page: Page, issuer: string, bearer: string) {
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
}
