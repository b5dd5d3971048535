// Performance ratios beside their goals, measured in one run, side by side. Every server
// case runs in a child process of its own (bench/server.ts); autocannon runs here, in the
// parent. Around every run the child is asked for process.cpuUsage(), so each run gives a
// CPU cost per request of the server alone (user + system time of all its threads / requests
// completed) next to its throughput. Runs are short and interleaved round-robin across the
// cases, so that drift on the machine lands on all of them, and the server processes are
// started afresh a few times over the rounds (BENCH_PROCESSES), each with a warm-up run per
// case; per case the medians are reported, and each goal's ratio is computed from them:
//   cost ratio       = reference CPU µs per request / case CPU µs per request (1 = as cheap)
//   throughput ratio = case requests a second / reference requests a second
// Run: npx tsx bench/ratios.ts (a quick look: BENCH_ROUNDS=2 BENCH_DURATION=1 npx tsx bench/ratios.ts)
// Environment (defaults in brackets): BENCH_DURATION seconds per run [2], BENCH_ROUNDS [15],
// BENCH_CONNECTIONS [50], BENCH_PROCESSES server processes per case, one after another [4];
// BENCH_MONGO_ROUNDS [5], BENCH_MONGO_CONNECTIONS [10];
// BENCH_GRANT_ROUNDS [5], BENCH_AMOUNT requests per grant run [sized to BENCH_DURATION];
// BENCH_PASSWORD_ROUNDS [5], BENCH_PASSWORD_CONNECTIONS [8]; BENCH_QUIET_CORES [0.1]: a run
// counts as quiet when other processes on the machine took no more CPU meanwhile (Linux);
// MONGODB_URL: a real MongoDB for the Mongo cases instead of the MongoDB-wire test server
// (started in this process). Progress goes to stderr, the markdown report to stdout.
import { availableParallelism, cpus, loadavg } from 'node:os'
import { ServerProcess } from './lib/child.js'
import { load, type LoadResult } from './lib/load.js'
import { MONGO_URL_ENV, SERVER_CASES, USER_CACHE_TTL, type RawVerifies, type ServerCase } from './lib/protocol.js'
import { machineBusy } from './lib/machine.js'
import { fmt, max, median, min } from './lib/stats.js'
import { startMongoWireServer, type MongoWireServer } from '../test/support/mongo-wire-server.js'

function setting (name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name}=${raw}: a positive number, please`)
  return value
}

const DURATION = setting('BENCH_DURATION', 2)
const ROUNDS = Math.round(setting('BENCH_ROUNDS', 15))
const CONNECTIONS = Math.round(setting('BENCH_CONNECTIONS', 50))
// The wire test server is pure JavaScript, one command at a time, and runs in this process
// beside autocannon: fewer runs, fewer connections.
const MONGO_ROUNDS = Math.min(ROUNDS, Math.round(setting('BENCH_MONGO_ROUNDS', 5)))
const MONGO_CONNECTIONS = Math.round(setting('BENCH_MONGO_CONNECTIONS', 10))
// Codes and refresh tokens are single use: those runs are a fixed number of requests, made
// ahead in the server, sized from the rate of the run before to last about BENCH_DURATION.
const GRANT_ROUNDS = Math.min(ROUNDS, Math.round(setting('BENCH_GRANT_ROUNDS', 5)))
const GRANT_AMOUNT = process.env.BENCH_AMOUNT ? Math.round(setting('BENCH_AMOUNT', 1)) : undefined
// The first warm-up's size, before any rate is known; later ones last about WARMUP_DURATION.
const GRANT_WARMUP_AMOUNT = 5000
if (GRANT_AMOUNT !== undefined && GRANT_AMOUNT < CONNECTIONS) throw new Error(`BENCH_AMOUNT=${GRANT_AMOUNT}: at least one request per connection (${CONNECTIONS})`)
const GRANT_MAX_AMOUNT = 50_000
// argon2id runs at a few hundred a second: a handful in flight keeps libuv's threads busy.
const PASSWORD_ROUNDS = Math.min(ROUNDS, Math.round(setting('BENCH_PASSWORD_ROUNDS', 5)))
const PASSWORD_CONNECTIONS = Math.round(setting('BENCH_PASSWORD_CONNECTIONS', 8))
// Fresh server processes this many times over the rounds: one process's speed is a draw (JIT
// and heap layout; the same route's CPU time per request differs by 10-15% from one process to
// the next, and stays so for the life of the process), so each case gets several.
const PROCESSES = Math.min(ROUNDS, Math.round(setting('BENCH_PROCESSES', 4)))
const WARMUP_DURATION = Math.min(DURATION, 1)
// A run is quiet when the other processes on the machine took at most this many cores meanwhile.
const QUIET_CORES = setting('BENCH_QUIET_CORES', 0.1)

type CaseKey =
  | 'plain' | 'plugin-bare' | 'guarded-memory' | 'jwt-verify'
  | 'guarded-mongo' | 'guarded-mongo-cached'
  | 'code-exchange' | 'refresh-grant'
  | 'password-grant' | 'argon2-verify' | 'password-floor'

interface CaseInfo { server: ServerCase, what: string, connections: number }

const mongoWhere = process.env.MONGODB_URL ? 'MongoDB at MONGODB_URL' : 'the MongoDB-wire test server'
const CASES: Record<CaseKey, CaseInfo> = {
  plain: { server: 'plain', what: 'Fastify alone, `GET /bare`', connections: CONNECTIONS },
  'plugin-bare': { server: 'plugin-bare', what: 'fastifyUsers (memoryStore) registered, `GET /bare` unguarded', connections: CONNECTIONS },
  'guarded-memory': { server: 'guarded-memory', what: '`GET /guarded`, `config.auth` scope `items:read`, bearer token, memoryStore', connections: CONNECTIONS },
  'jwt-verify': { server: 'jwt-verify', what: '`GET /jwt-verify`, onRequest `request.jwtVerify()`, same token', connections: CONNECTIONS },
  'guarded-mongo': { server: 'guarded-mongo', what: `\`GET /guarded\`, mongoStore on ${mongoWhere}`, connections: MONGO_CONNECTIONS },
  'guarded-mongo-cached': { server: 'guarded-mongo-cached', what: `the same with \`userCacheTtl: ${USER_CACHE_TTL}\` (seconds)`, connections: MONGO_CONNECTIONS },
  'code-exchange': { server: 'grants', what: '`POST /oauth/token` authorization_code + PKCE, a fresh code each, memoryStore', connections: CONNECTIONS },
  'refresh-grant': { server: 'grants', what: '`POST /oauth/token` refresh_token, a fresh token each, memoryStore', connections: CONNECTIONS },
  'password-grant': { server: 'password', what: '`POST /oauth/token` password grant, login limiters on (with room)', connections: PASSWORD_CONNECTIONS },
  'argon2-verify': { server: 'password', what: 'argon2id verifies in the same server process, no HTTP', connections: PASSWORD_CONNECTIONS },
  'password-floor': { server: 'password', what: '`POST /floor` in the same process: the same form parsed and verified with argon2id, nothing of ours', connections: PASSWORD_CONNECTIONS }
}

/** One kept run: req/s, server CPU µs per request, and the CPU other processes on the machine took meanwhile (cores). */
interface Sample { round: number, rps: number, cpu: number, others: number }
const samples = new Map<CaseKey, Sample[]>(Object.keys(CASES).map((key) => [key as CaseKey, []]))
const unavailable = new Map<CaseKey, string>()

const log = (line: string) => process.stderr.write(`${line}\n`)
const started = performance.now()
const loadAtStart = loadavg()
const othersAll: number[] = []

/** One run of `key` with the server's CPU time around it; round -1 is a warm-up, not kept. */
async function measure (key: CaseKey, round: number, server: ServerProcess, run: () => Promise<Pick<LoadResult, 'requests' | 'seconds' | 'rps'>>): Promise<Sample> {
  const t0 = performance.now()
  const machine0 = machineBusy()
  const own0 = process.cpuUsage()
  const before = await server.cpu()
  const result = await run()
  const after = await server.cpu()
  const own = process.cpuUsage(own0)
  const machine1 = machineBusy()
  // Everything the machine did beyond this process (autocannon, the wire test server) and
  // the server: other processes, in cores. The idle server children add next to nothing.
  const others = machine0 === undefined || machine1 === undefined
    ? NaN
    : Math.max(0, machine1 - machine0 - own.user - own.system - (after - before)) / ((performance.now() - t0) * 1000)
  const sample = { round, rps: result.rps, cpu: (after - before) / result.requests, others }
  if (round >= 0) {
    samples.get(key)?.push(sample)
    othersAll.push(others)
  }
  const when = round < 0 ? 'warm-up' : `${round + 1}/${ROUNDS}`
  log(`[${when.padStart(7)}] ${key.padEnd(20)} ${fmt(result.rps).padStart(7)} req/s ${fmt(sample.cpu, 1).padStart(7)} µs/req  ` +
    `(${result.requests} in ${result.seconds.toFixed(2)} s; other processes ${fmt(others, 2)} cores)`)
  return sample
}

/** The rounds (of ROUNDS) a case with `n` runs runs in, spread evenly: 5 of 15 → 0, 3, 6, 9, 12. */
function spread (n: number): Set<number> {
  const out = new Set<number>()
  for (let i = 0; i < n; i++) out.add(Math.floor(i * ROUNDS / n))
  return out
}

let wire: MongoWireServer | undefined
const servers = new Map<ServerCase, ServerProcess>()

async function closeServers () {
  await Promise.all([...servers.values()].map((child) => child.close().catch((error: unknown) => {
    log(`closing a server: ${String(error)}`)
    child.kill()
  })))
  servers.clear()
}

try {
  let mongoUrl = process.env.MONGODB_URL
  if (!mongoUrl) {
    wire = await startMongoWireServer()
    mongoUrl = wire.url
  }
  const startServers = () => Promise.all(SERVER_CASES.map(async (name) => {
    const child = await ServerProcess.start(name, { [MONGO_URL_ENV]: mongoUrl })
    if (child instanceof ServerProcess) servers.set(name, child)
    else for (const [key, info] of Object.entries(CASES)) if (info.server === name) unavailable.set(key as CaseKey, child.unavailable)
  }))
  const server = (name: ServerCase) => servers.get(name)
  const duration = (round: number) => round < 0 ? WARMUP_DURATION : DURATION

  const routeRun = (key: CaseKey, path: string, withToken = false) => async (round: number) => {
    const child = server(CASES[key].server)
    if (!child) return
    const headers: Record<string, string> = withToken ? { authorization: `Bearer ${child.token ?? ''}` } : {}
    await measure(key, round, child, () => load(key, { url: child.url, path, connections: CASES[key].connections, duration: duration(round), headers }))
  }
  const cheap = [
    routeRun('plain', '/bare'),
    routeRun('plugin-bare', '/bare'),
    routeRun('guarded-memory', '/guarded', true),
    routeRun('jwt-verify', '/jwt-verify', true)
  ]
  const mongo = [
    routeRun('guarded-mongo', '/guarded', true),
    routeRun('guarded-mongo-cached', '/guarded', true)
  ]

  // The rate of the last kept run of each grant (a warm-up's, cold, is lower: it sizes the first run, half again).
  const rates: Partial<Record<CaseKey, number>> = {}
  const warmRates: Partial<Record<CaseKey, number>> = {}
  const grantRun = (key: 'code-exchange' | 'refresh-grant') => async (round: number) => {
    const child = server('grants')
    if (!child) return
    const rate = rates[key] ?? 1.5 * (warmRates[key] ?? 0)
    const sized = (seconds: number) => Math.min(GRANT_MAX_AMOUNT, Math.max(CONNECTIONS, Math.round(rate * seconds)))
    const n = round < 0 ? (rate ? sized(WARMUP_DURATION) : GRANT_WARMUP_AMOUNT) : (GRANT_AMOUNT ?? sized(DURATION))
    const bodies = await child.ask<string[]>(key === 'code-exchange' ? { cmd: 'codes', n } : { cmd: 'refresh', n })
    const sample = await measure(key, round, child, () => load(key, { url: child.url, path: '/oauth/token', connections: CONNECTIONS, bodies }))
    if (round < 0) warmRates[key] = sample.rps
    else rates[key] = sample.rps
  }
  const grants = [grantRun('code-exchange'), grantRun('refresh-grant')]

  const passwordBody = new URLSearchParams({ grant_type: 'password', client_id: 'bench', username: 'bench@example.com', password: 'correct horse battery', scope: 'items:read' }).toString()
  const password = [
    async (round: number) => {
      const child = server('password')
      if (!child) return
      await measure('password-grant', round, child, () => load('password-grant', { url: child.url, path: '/oauth/token', connections: PASSWORD_CONNECTIONS, duration: duration(round), body: passwordBody }))
    },
    async (round: number) => {
      const child = server('password')
      if (!child) return
      await measure('password-floor', round, child, () => load('password-floor', { url: child.url, path: '/floor', connections: PASSWORD_CONNECTIONS, duration: duration(round), body: passwordBody }))
    },
    async (round: number) => {
      const child = server('password')
      if (!child) return
      await measure('argon2-verify', round, child, async () => {
        const { done, ms } = await child.ask<RawVerifies>({ cmd: 'raw', seconds: duration(round), concurrency: PASSWORD_CONNECTIONS })
        return { requests: done, seconds: ms / 1000, rps: done / (ms / 1000) }
      })
    }
  ]

  const mongoRounds = spread(MONGO_ROUNDS)
  const grantRounds = spread(GRANT_ROUNDS)
  const passwordRounds = spread(PASSWORD_ROUNDS)
  // Within a round the order turns (cheap cases) or flips (pairs), so that no case is always
  // the one after the expensive runs.
  const turn = <T>(list: T[], by: number) => list.map((_, i) => list[(i + by) % list.length] as T)
  for (let generation = 0; generation < PROCESSES; generation++) {
    const first = Math.floor(generation * ROUNDS / PROCESSES)
    const end = Math.floor((generation + 1) * ROUNDS / PROCESSES)
    const has = (rounds: Set<number>) => [...rounds].some((r) => r >= first && r < end)
    log(`server processes ${generation + 1}/${PROCESSES}: starting ${SERVER_CASES.length}, for rounds ${first + 1}–${end}`)
    const t0 = performance.now()
    await startServers()
    log(`  ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
    // A warm-up run of every case that runs on these processes (JIT, connections, caches).
    for (const run of [...cheap, ...(has(mongoRounds) ? mongo : []), ...(has(grantRounds) ? grants : []), ...(has(passwordRounds) ? password : [])]) await run(-1)
    for (let round = first; round < end; round++) {
      for (const run of turn(cheap, round)) await run(round)
      if (mongoRounds.has(round)) for (const run of turn(mongo, round)) await run(round)
      if (grantRounds.has(round)) for (const run of turn(grants, round)) await run(round)
      if (passwordRounds.has(round)) for (const run of turn(password, round)) await run(round)
    }
    await closeServers()
  }
} finally {
  await closeServers()
  await wire?.close()
}

// The report, in markdown on stdout.
interface Comparison { subject: CaseKey, reference: CaseKey, label: string, goal?: number, metric?: 'cpu' | 'rps' }
const comparisons: Comparison[] = [
  { subject: 'plugin-bare', reference: 'plain', label: 'plugin-bare vs plain', goal: 0.98, metric: 'cpu' },
  { subject: 'guarded-memory', reference: 'plain', label: 'guarded-memory vs plain', goal: 0.90, metric: 'cpu' },
  { subject: 'jwt-verify', reference: 'plain', label: 'jwt-verify vs plain' },
  { subject: 'guarded-memory', reference: 'jwt-verify', label: 'guarded-memory vs jwt-verify' },
  { subject: 'guarded-memory', reference: 'plugin-bare', label: 'guarded-memory vs plugin-bare (the guard alone)' },
  { subject: 'guarded-mongo-cached', reference: 'guarded-mongo', label: 'guarded-mongo-cached vs guarded-mongo (the user cache)' },
  { subject: 'code-exchange', reference: 'plain', label: 'code exchange vs plain bare', goal: 0.15, metric: 'rps' },
  { subject: 'refresh-grant', reference: 'plain', label: 'refresh grant vs plain bare', goal: 0.15, metric: 'rps' },
  { subject: 'password-grant', reference: 'argon2-verify', label: 'password grant vs raw argon2id verify', goal: 0.95, metric: 'rps' },
  { subject: 'password-floor', reference: 'argon2-verify', label: 'HTTP floor (form + argon2id, nothing of ours) vs raw argon2id verify', metric: 'rps' },
  { subject: 'password-grant', reference: 'password-floor', label: 'password grant vs that floor (what our code costs)', metric: 'rps' }
]

const cpuOf = (key: CaseKey) => median((samples.get(key) ?? []).map((s) => s.cpu))
const rpsOf = (key: CaseKey) => median((samples.get(key) ?? []).map((s) => s.rps))
/** The ratio of each round in which both ran, on the goal's metric (CPU cost when there is no goal); `quiet`: only rounds where both runs were. */
function perRound (c: Comparison, quiet = false): number[] {
  const isQuiet = (s: Sample) => !quiet || s.others <= QUIET_CORES
  const reference = new Map((samples.get(c.reference) ?? []).filter(isQuiet).map((s) => [s.round, s]))
  const out: number[] = []
  for (const s of (samples.get(c.subject) ?? []).filter(isQuiet)) {
    const r = reference.get(s.round)
    if (r) out.push(c.metric === 'rps' ? s.rps / r.rps : r.cpu / s.cpu)
  }
  return out
}

const shownEnv = Object.keys(process.env).filter((k) => k.startsWith('BENCH_') && k !== MONGO_URL_ENV).sort().map((k) => `${k}=${process.env[k]}`)
const cpuList = cpus()
const lines: string[] = []
lines.push('## Ratios against their goals (bench/ratios.ts)', '')
lines.push(`\`${[...shownEnv, 'npx tsx bench/ratios.ts'].join(' ')}\`${process.env.MONGODB_URL ? ' (with MONGODB_URL set)' : ''}`, '')
lines.push(`Node ${process.version}, ${process.platform} ${process.arch}, ${availableParallelism()} CPUs (${cpuList[0]?.model.trim() ?? 'unknown model'}), ` +
  `${new Date().toISOString().slice(0, 10)}; took ${Math.round((performance.now() - started) / 1000)} s. ` +
  `Load average ${loadAtStart.map((l) => l.toFixed(2)).join(' ')} at the start, ${loadavg().map((l) => l.toFixed(2)).join(' ')} at the end; ` +
  `other processes on the machine took ${fmt(median(othersAll), 2)} cores during the median run (${fmt(max(othersAll), 2)} at most).`, '')
lines.push(`Each server in a child process of its own, autocannon in the parent; ${DURATION} s runs, interleaved round-robin; ` +
  `${PROCESSES} server processes per case one after another (fresh ones every ${fmt(ROUNDS / PROCESSES, 1)} rounds), each warmed up by a ${WARMUP_DURATION} s run: ` +
  `${ROUNDS} rounds of the route cases (${CONNECTIONS} connections), ${MONGO_ROUNDS} of the Mongo cases (${MONGO_CONNECTIONS} connections, ${mongoWhere}${process.env.MONGODB_URL ? '' : ' in the parent process'}), ` +
  `${GRANT_ROUNDS} of the grants (${CONNECTIONS} connections, ${GRANT_AMOUNT ? `${GRANT_AMOUNT} requests` : `as many requests as the previous run's rate fits in ${DURATION} s`}), ` +
  `${PASSWORD_ROUNDS} of the password grant, its HTTP floor and the raw verifies (${PASSWORD_CONNECTIONS} in flight). ` +
  'CPU µs/request: the server process\'s user + system time over the run (all its threads) / responses; ' +
  '"others": CPU time of the other processes on the machine during the run, median, in cores (not the server, not autocannon). All runs all 2xx.', '')

lines.push('| case | what | conn. | runs | req/s | req/s min–max | CPU µs/req | CPU µs/req min–max | others, cores | quiet runs |')
lines.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
for (const [key, info] of Object.entries(CASES) as [CaseKey, CaseInfo][]) {
  const s = samples.get(key) ?? []
  const why = unavailable.get(key)
  if (why) {
    lines.push(`| ${key} | ${info.what} | ${info.connections} | 0 | n/a | | n/a | | | |`)
    continue
  }
  const rps = s.map((x) => x.rps)
  const cpu = s.map((x) => x.cpu)
  lines.push(`| ${key} | ${info.what} | ${info.connections} | ${s.length} | ${fmt(median(rps))} | ${fmt(min(rps))}–${fmt(max(rps))} | ${fmt(median(cpu), 1)} | ${fmt(min(cpu), 1)}–${fmt(max(cpu), 1)} | ${fmt(median(s.map((x) => x.others)), 2)} | ${s.filter((x) => x.others <= QUIET_CORES).length} |`)
}
lines.push('')
lines.push('Ratios from the medians above. Cost ratio = reference CPU µs/request / case CPU µs/request (1 = as cheap as the reference, higher is better); ' +
  'throughput ratio = case req/s / reference req/s. The goal is checked on the metric in **bold**; "per round" is the same ratio within each round (min / median / max), ' +
  `on the goal's metric, else on the cost; "quiet rounds" its median over the rounds where both runs were quiet (other processes ≤ ${QUIET_CORES} cores), and how many.`, '')
lines.push('| comparison | goal | cost ratio | throughput ratio | per round | quiet rounds | result |')
lines.push('| --- | --- | ---: | ---: | --- | ---: | --- |')
for (const c of comparisons) {
  const missing = [c.subject, c.reference].filter((k) => unavailable.has(k) || (samples.get(k)?.length ?? 0) === 0)
  const goal = c.goal === undefined ? '–' : `≥ ${c.goal.toFixed(2)} (${c.metric === 'cpu' ? 'cost' : 'throughput'})`
  if (missing.length > 0) {
    const why = missing.map((k) => `${k}: ${unavailable.get(k) ?? 'no runs'}`).join('; ')
    lines.push(`| ${c.label} | ${goal} | n/a | n/a | | | not measured (${why.replaceAll('|', '\\|')}) |`)
    continue
  }
  const cost = cpuOf(c.reference) / cpuOf(c.subject)
  const throughput = rpsOf(c.subject) / rpsOf(c.reference)
  const rounds = perRound(c)
  const quiet = perRound(c, true)
  const bold = (text: string, metric: 'cpu' | 'rps') => c.metric === metric ? `**${text}**` : text
  const value = c.metric === 'cpu' ? cost : throughput
  const result = c.goal === undefined ? 'shown' : value >= c.goal ? 'PASS' : 'FAIL'
  lines.push(`| ${c.label} | ${goal} | ${bold(fmt(cost, 3), 'cpu')} | ${bold(fmt(throughput, 3), 'rps')} | ${fmt(min(rounds), 3)} / ${fmt(median(rounds), 3)} / ${fmt(max(rounds), 3)} | ${quiet.length ? `${fmt(median(quiet), 3)} (${quiet.length})` : '– (0)'} | ${result} |`)
}
console.log(lines.join('\n'))
