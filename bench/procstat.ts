/**
 * CPU time and memory of processes, read from /proc (Linux). CPU is
 * utime + stime of the process itself (all its threads: chDB's and libuv's
 * workers included); peak RSS is the kernel's high-water mark (VmHWM).
 */
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'

export interface ProcSample {
  cpuS: number
  rssMiB: number
  peakRssMiB: number
}

/** A process to account, by a stable label ("loadgen", "fleetpulse ingest"). */
export interface WatchedProcess {
  name: string
  pids: () => number[]
}

let clockTicks: number | undefined
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    } catch {
      clockTicks = 100
    }
  }
  return clockTicks
}

function statusKiB(status: string, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)
  return m ? Number(m[1]) : 0
}

/** Busy CPU seconds of the whole machine (all cores), from /proc/stat: what else ran shows up here. */
export function machineBusyS(): number {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number)
  // user nice system idle iowait irq softirq steal: idle and iowait are not busy.
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = cpu
  return (user + nice + system + irq + softirq + steal) / ticksPerSecond()
}

export function readProc(pid: number): ProcSample | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name is in parentheses and may contain spaces: count fields after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // Fields 14 and 15 of proc(5) (utime, stime) are at 11 and 12 after the name.
    const ticks = Number(fields[11]) + Number(fields[12])
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    return {
      cpuS: ticks / ticksPerSecond(),
      rssMiB: statusKiB(status, 'VmRSS') / 1024,
      peakRssMiB: statusKiB(status, 'VmHWM') / 1024,
    }
  } catch {
    return undefined // exited meanwhile
  }
}

/** Sum over several pids (PostgreSQL's backends); peak is the sum of the peaks, an upper bound. */
export function readGroup(pids: number[]): ProcSample & { byPid: Map<number, number> } {
  const total = { cpuS: 0, rssMiB: 0, peakRssMiB: 0, byPid: new Map<number, number>() }
  for (const pid of pids) {
    const s = readProc(pid)
    if (!s) continue
    total.cpuS += s.cpuS
    total.rssMiB += s.rssMiB
    total.peakRssMiB += s.peakRssMiB
    total.byPid.set(pid, s.cpuS)
  }
  return total
}

/** Pid of the process listening on a local TCP port, for servers the bench did not start (Kafka, PostgreSQL). */
export function listenerPid(port: number): number | undefined {
  try {
    const out = execFileSync('ss', ['-ltnpH', `sport = :${port}`], { encoding: 'utf8' })
    const m = /pid=(\d+)/.exec(out)
    return m ? Number(m[1]) : undefined
  } catch {
    return undefined
  }
}

/** The kernel's name of a process (/proc/PID/comm); '' once it has exited. */
export function commandName(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim()
  } catch {
    return ''
  }
}

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
  } catch {
    return undefined
  }
}

/**
 * `pid` and all its descendants as they are now: PostgreSQL's postmaster and
 * its backends, Chromium's browser process and its zygote's renderers.
 */
export function withDescendants(pid: number): number[] {
  const children = new Map<number, number[]>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const parent = parentOf(Number(entry))
    if (parent === undefined) continue
    const siblings = children.get(parent)
    if (siblings) siblings.push(Number(entry))
    else children.set(parent, [Number(entry)])
  }
  const pids = [pid]
  for (let i = 0; i < pids.length; i++) pids.push(...(children.get(pids[i]!) ?? []))
  return pids
}

export interface CpuWindow {
  name: string
  /** CPU seconds spent during the window. */
  cpuS: number
  /** cpuS / window length: 1.0 = one core busy. */
  cores: number
  peakRssMiB: number
}

export interface CpuReport {
  procs: CpuWindow[]
  /** Busy cores of the whole machine over the window. */
  machineCores: number
  /** Busy cores not accounted to any watched process: other work on the machine, i.e. noise. */
  otherCores: number
}

/** CPU of each watched process between `start()` and `stop()`; pids that appear mid-window count from zero. */
export function cpuMeter(procs: WatchedProcess[]) {
  const read = () => procs.map((p) => readGroup(p.pids()))
  let before = read()
  let machineBefore = machineBusyS()
  let startedAt = performance.now()
  return {
    start() {
      before = read()
      machineBefore = machineBusyS()
      startedAt = performance.now()
    },
    stop(): CpuReport {
      const windowS = Math.max((performance.now() - startedAt) / 1000, 1e-3)
      const machineCores = (machineBusyS() - machineBefore) / windowS
      const windows = read().map((sample, i): CpuWindow => {
        const prev = before[i]?.byPid ?? new Map<number, number>()
        let cpuS = 0
        for (const [pid, cpu] of sample.byPid) cpuS += cpu - (prev.get(pid) ?? 0)
        return { name: procs[i]!.name, cpuS, cores: cpuS / windowS, peakRssMiB: sample.peakRssMiB }
      })
      const ours = windows.reduce((sum, w) => sum + w.cores, 0)
      return { procs: windows, machineCores, otherCores: Math.max(0, machineCores - ours) }
    },
  }
}
