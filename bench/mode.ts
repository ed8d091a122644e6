/**
 * What every mode shares: its result shape, the load generator and live probe
 * helpers, and the two phases run against whatever broker the mode started.
 */
import { randomUUID } from 'node:crypto'
import type { ProvisionedDevice } from '../sim/fleet.js'
import type { ConsoleFigures } from './console.mode.js'
import type { LiveFigures } from './live.mode.js'
import type { BenchOptions, ModeName } from './options.js'
import { runPhase, type PhaseDeps, type PhaseResult, type PhaseSpec } from './phase.js'
import { cpuMeter, type WatchedProcess } from './procstat.js'
import type { LiveProbeApi, LoadgenApi } from './protocol.js'
import { stopChild } from './processes.js'
import type { QuerySection } from './query.mode.js'
import { forkHelper, type RpcChild } from './rpc.js'

export interface ModeRun {
  mode: ModeName
  repeat: number
  /** Why the mode did not run (services down, binary missing). */
  skipped?: string
  /** Why it failed part-way; the phases that finished are kept. */
  error?: string
  /** Seconds spent starting servers, provisioning, connecting. */
  setup: Record<string, number>
  phases: PhaseResult[]
  /** The live mode's figures (it has no phases). */
  live?: LiveFigures
  /** The console mode's figures (it has no phases either). */
  console?: ConsoleFigures
  /** The query section's figures (mode `query`, which has no phases). */
  query?: QuerySection
  notes: string[]
}

export interface ModeContext {
  opts: BenchOptions
  repeat: number
  log: (line: string) => void
}

export const newRun = (ctx: ModeContext, mode: ModeName): ModeRun => ({ mode, repeat: ctx.repeat, setup: {}, phases: [], notes: [] })

/** Asks a helper to close its connections, then stops its process. */
export async function closeHelper(helper: RpcChild<{ close(): Promise<void> }> | undefined): Promise<void> {
  if (!helper) return
  await helper.call('close').catch(() => undefined)
  await stopChild(helper.child)
}

export const watch = (name: string, pid: number | undefined): WatchedProcess => ({ name, pids: () => (pid ? [pid] : []) })
export const benchSelf = (): WatchedProcess => watch('bench (orchestrator)', process.pid)

/** Stand-ins for provisioned devices where the broker does no authentication: same ids, topics and CONNECTs. */
export function anonymousDevices(count: number): ProvisionedDevice[] {
  return Array.from({ length: count }, () => {
    const id = randomUUID()
    return { vehicleId: id, deviceId: id, secret: randomUUID(), topic: `devices/${id}/telemetry` }
  })
}

export async function startLoadgen(mqttUrl: string, devices: ProvisionedDevice[]) {
  const loadgen = forkHelper<LoadgenApi>('loadgen', 'loadgen.child.ts')
  const { seconds } = await loadgen.call('connect', { mqttUrl, devices, concurrency: 100 })
  return { loadgen, connectS: seconds }
}

export async function startProbe(apiUrl: string, token: string): Promise<RpcChild<LiveProbeApi>> {
  const probe = forkHelper<LiveProbeApi>('live probe', 'live-probe.child.ts')
  await probe.call('connect', { url: `${apiUrl}/live`, token })
  return probe
}

/**
 * The max-throughput phase (closed loop), then, where there is a live path to
 * time, the latency phase at the fixed rate.
 */
export async function runPhases(
  ctx: ModeContext,
  deps: Omit<PhaseDeps, 'cpu'> & { procs: WatchedProcess[]; withLatency: boolean },
  run: ModeRun,
): Promise<void> {
  const { opts } = ctx
  const cpu = cpuMeter(deps.procs)
  const common = { window: opts.window, warmupS: opts.warmupS, durationS: opts.durationS, catchUpTimeoutS: opts.catchUpTimeoutS }
  const specs: PhaseSpec[] = [{ ...common, name: 'max', rate: 0 }]
  if (deps.withLatency && opts.latencyRate > 0) specs.push({ ...common, name: 'latency', rate: opts.latencyRate })
  for (const spec of specs) {
    ctx.log(`${run.mode}: ${spec.name} phase (${spec.rate ? `${spec.rate} fixes/s` : 'closed loop'}, ${spec.warmupS}s warm-up + ${spec.durationS}s)`)
    const result = await runPhase(spec, { ...deps, cpu })
    run.phases.push(result)
    ctx.log(`${run.mode}: ${phaseLine(result)}`)
  }
}

const f0 = (n: number) => Math.round(n).toLocaleString('en-US')

export function phaseLine(p: PhaseResult): string {
  const parts = [`accepted ${f0(p.acceptedPerS)}/s`, `delivered ${f0(p.deliveredPerS)}/s`]
  parts.push(p.catchUpS === null ? `NOT caught up (${f0(p.missing)} missing)` : `caught up in ${p.catchUpS.toFixed(1)}s, missing ${f0(p.missing)}`)
  if (p.puback.count) parts.push(`PUBACK p50 ${f0(p.puback.p50Ms ?? 0)} ms p99 ${f0(p.puback.p99Ms ?? 0)} ms`)
  if (p.latency?.count) parts.push(`live p50 ${f0(p.latency.p50Ms ?? 0)} ms p99 ${f0(p.latency.p99Ms ?? 0)} ms (${f0(p.latency.count)} events)`)
  if (p.errors || p.reconnects) parts.push(`publish errors ${p.errors}, reconnects ${p.reconnects}`)
  if (p.skipped) parts.push(`skipped ${f0(p.skipped)} (windows full)`)
  const loops = Object.entries(p.gaugeMax).filter(([name]) => name.endsWith('LoopP99Ms') || name === 'loopP99Ms')
  if (loops.length) parts.push(`event-loop p99 up to ${loops.map(([name, ms]) => `${f0(ms)} ms${loops.length > 1 ? ` (${name.replace(/LoopP99Ms$/, '')})` : ''}`).join(', ')}`)
  parts.push(`other load on the machine ${p.cpu.otherCores.toFixed(2)} cores`)
  return parts.join(', ')
}
