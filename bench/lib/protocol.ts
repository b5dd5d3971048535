// The messages between bench/ratios.ts (the parent, which runs autocannon) and
// bench/server.ts (one server per child process), over the child's IPC channel.

/** The servers bench/server.ts can be: `node --import tsx bench/server.ts <case>`. */
export const SERVER_CASES = [
  'plain',
  'plugin-bare',
  'guarded-memory',
  'jwt-verify',
  'guarded-mongo',
  'guarded-mongo-cached',
  'grants',
  'password'
] as const
export type ServerCase = typeof SERVER_CASES[number]

/** The child's first message: listening (with a bearer token where the case needs one), or unable to run the case. */
export type Hello =
  | { type: 'ready', url: string, token?: string }
  | { type: 'unavailable', reason: string }

/** What the parent asks; every command is answered by one Reply with the same id. */
export type Command =
  | { id: number, cmd: 'cpu' }
  | { id: number, cmd: 'codes', n: number }
  | { id: number, cmd: 'refresh', n: number }
  | { id: number, cmd: 'raw', seconds: number, concurrency: number }
  | { id: number, cmd: 'close' }

export type Reply =
  | { id: number, ok: true, value: unknown }
  | { id: number, ok: false, error: string }

/** process.cpuUsage() of the child: microseconds of user and system time, all its threads. */
export interface CpuUsage { user: number, system: number }

/** Argon2id verifies done over `ms` milliseconds (from the first start to the last finish). */
export interface RawVerifies { done: number, ms: number }

/**
 * The plugin option `userCacheTtl` of the cached Mongo case: 5 s. It is in seconds (at most
 * 3600, schemas/options.ts), not milliseconds: 5000 is refused.
 */
export const USER_CACHE_TTL = 5

/** The environment variable the parent hands the Mongo URL to the children in. */
export const MONGO_URL_ENV = 'BENCH_RATIOS_MONGO_URL'
