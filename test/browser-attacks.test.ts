import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { BrowserContext, Page } from 'playwright-core'
import { browserSkip, DEMO_USER, listenDemo, openBrowser } from './support/browser.js'
import { pkce } from './support/oauth.js'

// Attacks that need a real browser: a page on another port of the same host (same site, so
// our SameSite=Lax cookies go along) acting on the signed-in user of the demo.

const TIMEOUT = 10_000

/** A page of the attacker's, served from another loopback port, closed when the test ends. */
async function attackerSite (t: TestContext, html: string): Promise<string> {
  const server = createServer((_req, res) => { res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  // Chromium keeps connections alive: they are cut, not waited for.
  t.after(() => {
    server.close()
    server.closeAllConnections()
  })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
}

function authorizeUrl (issuer: string, extra: Record<string, string> = {}): string {
  const url = new URL(`${issuer}/oauth/authorize`)
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: 'swagger-ui',
    redirect_uri: `${issuer}/docs/static/oauth2-redirect.html`,
    code_challenge: pkce().challenge,
    code_challenge_method: 'S256',
    state: 'st',
    ...extra
  }).toString()
  return url.toString()
}

/** Signs the demo user in on our login page, in this browser context. */
async function signIn (context: BrowserContext, issuer: string): Promise<Page> {
  const page = await context.newPage()
  await page.goto(authorizeUrl(issuer))
  await page.locator('#email').fill(DEMO_USER.email)
  await page.locator('#password').fill(DEMO_USER.password)
  await Promise.all([
    page.waitForURL((url) => url.pathname.endsWith('/oauth2-redirect.html') && url.searchParams.has('code')),
    page.getByRole('button', { name: 'Sign in' }).click()
  ])
  return page
}

/** Whether the browser's session still signs it in without a page (prompt=none). */
async function signedIn (context: BrowserContext, issuer: string): Promise<boolean> {
  const res = await context.request.get(authorizeUrl(issuer, { prompt: 'none' }), { maxRedirects: 0 })
  assert.equal(res.status(), 302)
  const answer = new URL(res.headers().location ?? '').searchParams
  return answer.has('code') && !answer.has('error')
}

async function browserTest (name: string, body: (t: TestContext) => Promise<void>) {
  return test(name, { timeout: 60_000 }, async (t) => {
    const skip = await browserSkip()
    if (skip) {
      t.skip(skip)
      return
    }
    await body(t)
  })
}

browserTest('logout CSRF: a page on another port of the same host cannot end the session; our own origin can', async (t) => {
  // Hooks run in the order they were added: the browser closes first, so that none of its
  // requests is still open when the demo closes (which waits for open requests).
  const browser = await openBrowser(t)
  const { issuer } = await listenDemo(t)
  const context = await browser.newContext()
  context.setDefaultTimeout(TIMEOUT)
  await signIn(context, issuer)
  assert.equal(await signedIn(context, issuer), true)

  const attacker = await attackerSite(t, `<!doctype html><title>cute cats</title><script>
fetch(${JSON.stringify(`${issuer}/auth/logout`)}, { method: 'POST', mode: 'no-cors', credentials: 'include' })
  .then(() => { document.title = 'sent' }, () => { document.title = 'failed' })
</script>`)
  const page = await context.newPage()
  const [logout] = await Promise.all([
    page.waitForResponse(`${issuer}/auth/logout`),
    page.goto(attacker)
  ])
  await page.waitForFunction('document.title === "sent"')
  assert.equal(logout.status(), 403)
  assert.equal(await signedIn(context, issuer), true, 'still signed in')

  // The same request from a page of our own origin ends the session.
  const own = await context.newPage()
  await own.goto(`${issuer}/health`)
  const status = await own.evaluate(async () => (await fetch('/auth/logout', { method: 'POST' })).status)
  assert.equal(status, 204)
  assert.equal(await signedIn(context, issuer), false)
})

browserTest('framing: another site cannot frame Swagger UI or our sign-in page', async (t) => {
  // Hooks run in the order they were added: the browser closes first, so that none of its
  // requests is still open when the demo closes (which waits for open requests).
  const browser = await openBrowser(t)
  const { issuer } = await listenDemo(t)
  const context = await browser.newContext()
  context.setDefaultTimeout(TIMEOUT)
  const frames = { docs: `${issuer}/docs`, login: authorizeUrl(issuer), health: `${issuer}/health` }
  const attacker = await attackerSite(t, `<!doctype html><title>click the cat</title>
${Object.entries(frames).map(([id, src]) => `<iframe id="${id}" src="${src.replace(/&/g, '&amp;')}"></iframe>`).join('\n')}`)
  const page = await context.newPage()
  await page.goto(attacker, { waitUntil: 'load' })

  const shown = async (id: string) => {
    const frame = await (await page.locator(`#${id}`).elementHandle())?.contentFrame()
    assert.ok(frame, `frame ${id}`)
    return frame.url()
  }
  // A route of the app's own that sets no framing policy loads: the frames themselves work.
  assert.equal(await shown('health'), frames.health)
  for (const id of ['docs', 'login'] as const) {
    assert.doesNotMatch(await shown(id), new RegExp(`^${issuer}`), `${id} is not shown in the frame`)
  }
})
