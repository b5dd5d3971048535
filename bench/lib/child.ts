// The parent's side of bench/server.ts: a server case in a child process of its own, and
// its commands as promises.
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Command, CpuUsage, Hello, Reply, ServerCase } from './protocol.js'

const SERVER = fileURLToPath(new URL('../server.ts', import.meta.url))
const ROOT = fileURLToPath(new URL('../..', import.meta.url))

type Ask = Command extends infer C ? C extends Command ? Omit<C, 'id'> : never : never

export class ServerProcess {
  readonly url: string
  readonly token: string | undefined
  private readonly child: ChildProcess
  private nextId = 1
  private readonly pending = new Map<number, { resolve (value: unknown): void, reject (error: Error): void }>()

  private constructor (child: ChildProcess, hello: Extract<Hello, { type: 'ready' }>) {
    this.child = child
    this.url = hello.url
    this.token = hello.token
    child.on('message', (message: Reply) => {
      const waiting = this.pending.get(message.id)
      if (!waiting) return
      this.pending.delete(message.id)
      if (message.ok) waiting.resolve(message.value)
      else waiting.reject(new Error(`server child: ${message.error}`))
    })
    child.on('exit', (code, signal) => {
      for (const waiting of this.pending.values()) waiting.reject(new Error(`server child exited (${code ?? signal})`))
      this.pending.clear()
    })
  }

  /** Forks `node --import tsx bench/server.ts <name>` and waits for its hello. */
  static start (name: ServerCase, env: NodeJS.ProcessEnv = {}): Promise<ServerProcess | { unavailable: string }> {
    const child = fork(SERVER, [name], {
      cwd: ROOT,
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, ...env },
      // The child's stdout goes to our stderr: stdout is kept for the report.
      stdio: ['ignore', 2, 'inherit', 'ipc']
    })
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null, signal: string | null) => reject(new Error(`server child ${name} exited before it was ready (${code ?? signal})`))
      child.once('exit', onExit)
      child.once('error', reject)
      child.once('message', (hello: Hello) => {
        child.off('exit', onExit)
        if (hello.type === 'unavailable') {
          resolve({ unavailable: hello.reason })
        } else {
          resolve(new ServerProcess(child, hello))
        }
      })
    })
  }

  ask<T> (command: Ask): Promise<T> {
    const id = this.nextId++
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: (value) => resolve(value as T), reject })
      this.child.send({ ...command, id } satisfies Command)
    })
  }

  /** The child's user + system CPU time so far, in microseconds, all of its threads. */
  async cpu (): Promise<number> {
    const usage = await this.ask<CpuUsage>({ cmd: 'cpu' })
    return usage.user + usage.system
  }

  async close (): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = new Promise((resolve) => this.child.once('exit', resolve))
    await this.ask({ cmd: 'close' })
    await exited
  }

  /** No questions asked: for the way out after an error. */
  kill (): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill()
  }
}
