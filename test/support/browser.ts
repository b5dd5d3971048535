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

/**
 * A port that was free a moment ago: the issuer has to be known before the app is built, so
 * the port is chosen, then listened on. Chosen below Linux's ephemeral range (32768–60999),
 * from which the OS hands out ports to every listen(0) and outgoing connection of every test
 * process meanwhile: one of those took a port the OS had just given us, now and then.
 */
export async function freePort (): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 12000)
    if (await bindable(port)) return port
  }
  throw new Error('no free port between 20000 and 32000')
}

function bindable (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.unref()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
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
