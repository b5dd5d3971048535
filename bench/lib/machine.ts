// How busy the whole machine was, to tell a run that shared the CPUs with other processes
// (tests, builds) from a quiet one. Linux only (/proc/stat); elsewhere undefined.
import { readFileSync } from 'node:fs'

// /proc/stat counts in USER_HZ ticks, 100 a second on every Linux that matters.
const TICK_US = 10_000

/** CPU time spent by every process on the machine so far (all cores), in microseconds. */
export function machineBusy (): number | undefined {
  try {
    const first = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? ''
    if (!first.startsWith('cpu ')) return undefined
    // user nice system idle iowait irq softirq steal (guest time is counted in user already)
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = first.trim().split(/\s+/).slice(1).map(Number)
    return (user + nice + system + irq + softirq + steal) * TICK_US
  } catch {
    return undefined
  }
}
