/**
 * One measured phase, the same for every mode: start the load, warm up,
 * measure a fixed window (accepted = PUBACKs at the load generator,
 * delivered = whatever the mode counts as "made it through"), stop the load,
 * then wait (bounded) until delivered catches up with accepted.
 */
import type { CpuReport, cpuMeter } from './procstat.js'
import { sleep } from './processes.js'
import type { LatencyStats, LiveProbeApi, LoadCounters, LoadgenApi } from './protocol.js'
import type { RpcChild } from './rpc.js'

export interface PhaseSpec {
  name: 'max' | 'latency'
  /** Fixes/s; 0 = closed loop, as fast as PUBACKs come back. */
  rate: number
  window: number
  warmupS: number
  durationS: number
  catchUpTimeoutS: number
}

export interface PhaseDeps {
  loadgen: RpcChild<LoadgenApi>
  /** Cumulative fixes that made it through (written to ClickHouse, delivered to a subscriber, ...). */
  delivered: () => Promise<number>
  probe?: RpcChild<LiveProbeApi>
  cpu: ReturnType<typeof cpuMeter>
  /** Gauges worth keeping in the timeline (consumer lag, ...), read right after `delivered`. */
  gauges?: () => Promise<Record<string, number>>
}

/** About once a second: `acked` and `delivered` since the phase began; gauges as read. */
export interface TimelinePoint {
  t: number
  acked: number
  delivered: number
  [gauge: string]: number
}

export interface PhaseResult {
  name: PhaseSpec['name']
  targetRate: number
  windowS: number
  /** PUBACKed fixes per second over the window. */
  acceptedPerS: number
  /** Fixes per second that made it through, over the same window. */
  deliveredPerS: number
  /** Whole phase (warm-up and drain included). */
  accepted: number
  delivered: number
  published: number
  errors: number
  skipped: number
  reconnects: number
  meanPayloadBytes: number
  /** Seconds from the end of the load until delivered == accepted; null if it did not within the timeout. */
  catchUpS: number | null
  /** accepted − delivered once caught up (or at the timeout): > 0 lost, < 0 delivered more than once. */
  missing: number
  /** Publish → Socket.IO arrival (fleetpulse modes). */
  latency: LatencyStats | undefined
  /** Publish → PUBACK at the load generator. */
  puback: LatencyStats
  /** Highest value of each gauge over the window (event-loop p99, consumer lag, ...). */
  gaugeMax: Record<string, number>
  cpu: CpuReport
  timeline: TimelinePoint[]
}

const TIMELINE_STEP_MS = 1000
const CATCHUP_POLL_MS = 200

async function sample(deps: PhaseDeps): Promise<{ at: number; load: LoadCounters; delivered: number }> {
  const at = performance.now()
  const [load, delivered] = await Promise.all([deps.loadgen.call('snapshot'), deps.delivered()])
  return { at, load, delivered }
}

/** Polls until `accepted` fixes were delivered since `base`; `doneAt` is undefined on timeout. */
async function waitForCatchUp(deps: PhaseDeps, base: number, accepted: number, timeoutS: number) {
  const deadline = performance.now() + timeoutS * 1000
  for (;;) {
    const delivered = (await deps.delivered()) - base
    const now = performance.now()
    if (delivered >= accepted) return { delivered, doneAt: now }
    if (now >= deadline) return { delivered, doneAt: undefined }
    await sleep(CATCHUP_POLL_MS)
  }
}

function gaugeMax(timeline: TimelinePoint[]): Record<string, number> {
  const max: Record<string, number> = {}
  for (const { t: _t, acked: _a, delivered: _d, ...gauges } of timeline) {
    for (const [name, value] of Object.entries(gauges)) max[name] = Math.max(max[name] ?? -Infinity, value)
  }
  return max
}

export async function runPhase(spec: PhaseSpec, deps: PhaseDeps): Promise<PhaseResult> {
  const base = await sample(deps)
  await deps.loadgen.call('start', { rate: spec.rate, window: spec.window })
  await sleep(spec.warmupS * 1000)

  await Promise.all([deps.probe?.call('reset'), deps.loadgen.call('resetAckLatency')])
  deps.cpu.start()
  const first = await sample(deps)
  const timeline: TimelinePoint[] = []
  const endAt = first.at + spec.durationS * 1000
  while (performance.now() < endAt - 50) {
    await sleep(Math.min(TIMELINE_STEP_MS, endAt - performance.now()))
    const s = await sample(deps)
    const gauges = (await deps.gauges?.()) ?? {}
    timeline.push({ ...gauges, t: (s.at - first.at) / 1000, acked: s.load.acked - base.load.acked, delivered: s.delivered - base.delivered })
  }
  const last = await sample(deps)
  const cpu = deps.cpu.stop()
  const [latency, puback] = await Promise.all([deps.probe?.call('stats'), deps.loadgen.call('ackLatency')])
  const windowS = (last.at - first.at) / 1000

  // From here on the clock runs for catch-up: the PUBACK drain counts too.
  const stopAt = performance.now()
  const final = await deps.loadgen.call('stop', { ackTimeoutMs: 10_000 })
  const accepted = final.acked - base.load.acked
  const caught = await waitForCatchUp(deps, base.delivered, accepted, spec.catchUpTimeoutS)
  const published = final.published - base.load.published

  return {
    name: spec.name,
    targetRate: spec.rate,
    windowS,
    acceptedPerS: (last.load.acked - first.load.acked) / windowS,
    deliveredPerS: (last.delivered - first.delivered) / windowS,
    accepted,
    delivered: caught.delivered,
    published,
    errors: final.errors - base.load.errors,
    skipped: final.skipped - base.load.skipped,
    reconnects: final.reconnects - base.load.reconnects,
    meanPayloadBytes: published > 0 ? (final.payloadBytes - base.load.payloadBytes) / published : 0,
    catchUpS: caught.doneAt === undefined ? null : (caught.doneAt - stopAt) / 1000,
    missing: accepted - caught.delivered,
    latency,
    puback,
    gaugeMax: gaugeMax(timeline),
    cpu,
    timeline,
  }
}
