import { access, constants } from 'node:fs/promises'
import { createServer } from 'node:net'
import type { TestContext } from 'node:test'
import { chromium, type Browser } from 'playwright-core'
import { buildDemo, DEMO_USER, type DemoOptions } from '../../demo/app.js'

export { DEMO_USER }

/** The system Chromium that playwright-core drives: it never downloads a browser of its own. */
export const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium'

export async function hasChromium (): Promise<boolean> {
  try {
    await access(chromiumPath, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/**
 * Whether a browser test must be skipped: with no Chromium, a developer's machine skips
 * (the message says why), while CI fails, so that a lost browser cannot go unnoticed.
 * Returns the skip message, or false when the test should run.
 */
export async function browserSkip (): Promise<string | false> {
  if (await hasChromium()) return false
  const message = `Chromium not found at ${chromiumPath} (set CHROMIUM_PATH)`
  if (process.env.CI) throw new Error(`${message}: browser tests cannot be skipped in CI`)
  return `${message}; skipped outside CI`
}

export function launchChromium (): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync'
    ]
  })
}

/** A port that was free a moment ago, from the OS: the issuer has to be known before the demo is built. */
export function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port)
        else reject(new Error('no port from the OS'))
      })
    })
  })
}

/** The demo app listening on 127.0.0.1 with an issuer that matches its own origin, closed when the test ends. */
export async function listenDemo (t: TestContext, options: Omit<DemoOptions, 'issuer'> = {}) {
  // Another process may take the port between our probe and the listen: try a few times.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort()
    const issuer = `http://127.0.0.1:${port}`
    const app = await buildDemo({ ...options, issuer })
    try {
      await app.listen({ port, host: '127.0.0.1' })
    } catch (err) {
      await app.close()
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < 5) continue
      throw err
    }
    t.after(() => app.close())
    return { app, issuer }
  }
}

/** A fresh Chromium for one test, closed when the test ends. */
export async function openBrowser (t: TestContext): Promise<Browser> {
  const browser = await launchChromium()
  t.after(() => browser.close())
  return browser
}
