import { spawn } from 'node:child_process'
import { access, constants } from 'node:fs/promises'
import type { TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { freePort } from './browser.js'

/** Debian's redis-server, which .ci/run installs. */
export const redisServerPath = process.env.REDIS_SERVER_PATH || '/usr/bin/redis-server'

/**
 * Whether a Redis test must be skipped: without redis-server a developer's machine skips
 * (the message says why), while CI fails, so that a lost server cannot go unnoticed.
 */
export async function redisSkip (): Promise<string | false> {
  try {
    await access(redisServerPath, constants.X_OK)
    return false
  } catch {
    const message = `redis-server not found at ${redisServerPath} (apt-get install redis-server, or set REDIS_SERVER_PATH)`
    if (process.env.CI) throw new Error(`${message}: Redis tests cannot be skipped in CI`)
    return `${message}; skipped outside CI`
  }
}

/** A real Redis on a free loopback port, nothing kept on disk, stopped when the test ends. */
export async function startRedis (t: TestContext): Promise<{ port: number, client: () => Redis, stop: () => void }> {
  const port = await freePort()
  const server = spawn(redisServerPath, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  t.after(() => { server.kill('SIGKILL') })
  const clients: Redis[] = []
  t.after(() => { for (const c of clients) c.disconnect() })
  const client = () => {
    const c = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1, lazyConnect: false })
    // The tests stop the server on purpose; without a listener ioredis logs each failed reconnect.
    c.on('error', () => {})
    clients.push(c)
    return c
  }
  // Ready when it answers PING.
  for (let i = 0; ; i++) {
    const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 })
    // Refused until the server listens; connect() rejects anyway.
    probe.on('error', () => {})
    try {
      await probe.connect()
      await probe.ping()
      return { port, client, stop: () => { server.kill('SIGKILL') } }
    } catch {
      if (i > 100) throw new Error('redis-server did not start')
      await sleep(50)
    } finally {
      probe.disconnect()
    }
  }
}
