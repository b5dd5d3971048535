import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import type { Browser, Locator, Page, Response } from 'playwright-core'
import { browserSkip, DEMO_USER, listenDemo, openBrowser } from './support/browser.js'

// Swagger UI in a real browser, against the demo app: the Authorize dialog's OAuth2
// password flow gets a token from our token endpoint, and "Try it out" sends it.

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
 * Signs in through the Authorize dialog's password flow, granting `scopes`; returns the
 * token endpoint's JSON answer.
 */
async function authorizeWithPassword (page: Page, issuer: string, scopes: string[]) {
  await page.locator('.auth-wrapper .btn.authorize').click()
  // The scheme has an authorizationCode flow too: pick the container that asks for a password.
  const flow = page.locator('.auth-container').filter({ has: page.locator('.flow code', { hasText: /^password$/ }) })
  await flow.waitFor()

  assert.equal(await flow.locator('input[data-name="clientId"]').inputValue(), 'swagger-ui', 'client_id is preset')
  await flow.locator('#oauth_username').fill(DEMO_USER.email)
  await flow.locator('#oauth_password').fill(DEMO_USER.password)
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

  const [tokenResponse] = await Promise.all([
    page.waitForResponse((r) => r.url() === `${issuer}/oauth/token` && r.request().method() === 'POST'),
    flow.locator('.btn.modal-btn.auth.authorize').click()
  ])
  const tokenRequest = new URLSearchParams(tokenResponse.request().postData() ?? '')
  assert.equal(tokenRequest.get('grant_type'), 'password')
  assert.equal(tokenRequest.get('username'), DEMO_USER.email)
  assert.equal(tokenRequest.get('scope'), scopes.join(' '))
  // The client authenticates as swagger-ui: by default Swagger UI sends HTTP Basic with an empty secret.
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

  // Swagger UI now shows the flow as authorized, with a Logout button in place of Authorize.
  await flow.getByText('Authorized', { exact: true }).waitFor()
  await flow.locator('button', { hasText: 'Logout' }).waitFor()
  await page.locator('.modal-ux .close-modal').click()
  await page.locator('.modal-ux').waitFor({ state: 'detached' })
  await page.locator('.auth-wrapper .btn.authorize.locked').waitFor()
  return token
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

test('Swagger UI: OAuth2 password flow in the demo', { timeout: 60_000 }, async (t) => {
  const skip = await browserSkip()
  if (skip) {
    t.skip(skip)
    return
  }
  const { issuer } = await listenDemo(t)
  const browser = await openBrowser(t)

  await t.test('without a token, Try it out gets 401', async (t) => {
    const page = await openDocs(t, browser, issuer)
    const { response, authorization } = await tryItOut(page, issuer, 'get', '/users/me')
    assert.equal(authorization, null)
    assert.equal(response.status(), 401)
  })

  await t.test('items:read: may read, may not write', async (t) => {
    const page = await openDocs(t, browser, issuer)
    const token = await authorizeWithPassword(page, issuer, ['items:read'])
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
