// One autocannon run from this (the parent) process, counted by its own clock: responses
// from the start to the last response. autocannon notices the end of a run (the duration's
// timer, the last of a fixed amount) only on its sampling tick, and its per-second figures
// drift with where the tick falls; this counts every response it got and the time they took.
// The tick is made 100 ms (from 1 s), so that a fixed-amount run does not idle until the next
// whole second.
import autocannon from 'autocannon'

export interface LoadOptions {
  url: string
  path: string
  connections: number
  /** Seconds; ignored when `bodies` is given (then the run is one request per body). */
  duration?: number
  headers?: Record<string, string>
  /** POST with one body per request, each used once (single-use codes and tokens). */
  bodies?: readonly string[]
  /** POST with this same body on every request. */
  body?: string
}

export interface LoadResult {
  /** Responses received (all 2xx, else the run throws). */
  requests: number
  /** From the start of the run to its last response. */
  seconds: number
  rps: number
  p50: number
  p99: number
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }

export async function load (name: string, options: LoadOptions): Promise<LoadResult> {
  const { bodies } = options
  if (bodies && bodies.length < options.connections) throw new Error(`${name}: ${bodies.length} bodies for ${options.connections} connections`)
  let next = 0
  let responses = 0
  let start = 0
  let last = 0
  const method = bodies || options.body !== undefined ? 'POST' : 'GET'
  const headers = { ...(method === 'POST' ? FORM : {}), ...options.headers }
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({
      url: options.url,
      connections: options.connections,
      sampleInt: 100,
      ...(bodies ? { amount: bodies.length } : { duration: options.duration ?? 2 }),
      requests: [bodies
        // Every request takes the next body.
        ? { method, path: options.path, headers, setupRequest: (request) => ({ ...request, body: bodies[next++] ?? '' }) }
        : { method, path: options.path, headers, ...(options.body !== undefined ? { body: options.body } : {}) }]
    }, (error, r) => error ? reject(error) : resolve(r))
    instance.on('start', () => { start = performance.now() })
    instance.on('response', () => {
      responses++
      last = performance.now()
    })
  })
  // A 401 is cheaper than a 200: a run that is not all 2xx measures the wrong thing.
  if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0) {
    const codes = Object.entries(result.statusCodeStats ?? {}).map(([code, s]) => `${code}: ${(s as { count: number }).count}`).join(', ')
    throw new Error(`${name}: ${result.non2xx} non-2xx (${codes}), ${result.errors} errors, ${result.timeouts} timeouts`)
  }
  if (responses === 0) throw new Error(`${name}: no responses`)
  const seconds = (last - start) / 1000
  return { requests: responses, seconds, rps: responses / seconds, p50: result.latency.p50, p99: result.latency.p99 }
}
