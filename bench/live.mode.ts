/**
 * The live section: `fleetpulse all` (embedded), the simulator's vehicles
 * driving over MQTT at `--live-hz` fixes/s each, and `--live-clients`
 * Socket.IO clients each watching the whole organization (a helper process of
 * their own). Measured over `--duration` after `--warmup`: position items
 * delivered per second over all clients (each client gets at most one per
 * vehicle per LIVE_COALESCE_MS), fix → client latency (p50/p99, coalescing
 * wait included), and the platform's CPU and memory.
 */
import path from 'node:path'
import { existsSync } from 'node:fs'
import { ApiClient, provisionFleet, type ProvisionedDevice } from '../sim/fleet.js'
import { scrape, total } from './metrics.js'
import { benchSelf, closeHelper, newRun, startLoadgen, watch, type ModeContext, type ModeRun } from './mode.js'
import { ADMIN_EMAIL, ADMIN_PASSWORD, FLEETPULSE_BIN, fleetpulseEnv, startFleetpulse, type Fleetpulse } from './platform.mode.js'
import { cpuMeter, readProc } from './procstat.js'
import { makeTempDir, removeTempDir, stopChild } from './processes.js'
import type { LatencyStats, LiveClientsApi, LoadgenApi } from './protocol.js'
import { forkHelper, type RpcChild } from './rpc.js'

/** Clients whose every item is timed; the others are counted only. */
const SAMPLED_CLIENTS = 10

export interface LiveFigures {
  clients: number
  vehicles: number
  /** Fixes/s offered over MQTT and accepted (PUBACKed). */
  offeredPerS: number
  acceptedPerS: number
  /** Position items received per second, all clients together; and what one client got per second at least. */
  deliveredPerS: number
  minClientPerS: number
  latency: LatencyStats
  /** The server's own count (fleetpulse_live_items_delivered_total) per second, and its backpressure skips. */
  serverItemsPerS: number
  backpressureSkips: number
  serverCores: number
  serverRssMiB: number | null
  serverPeakRssMiB: number
  clientsCores: number
  loopP99Ms: number
  disconnects: number
  otherCores: number
  coalesceMs: number
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** What the live and console sections drive: `fleetpulse all` (embedded) and its provisioned vehicles, connected over MQTT. */
export interface DrivenPlatform {
  fp: Fleetpulse
  accessToken: string
  devices: ProvisionedDevice[]
  loadgen: RpcChild<LoadgenApi>
  /** Fixes/s the vehicles send together at --live-hz. */
  rate: number
}

/**
 * Starts `fleetpulse all` with LIVE_COALESCE_MS, provisions `vehicles`
 * vehicles and connects them (not yet sending), runs `use`, and tears it all
 * down; setup times go to `run.setup`, a failure to `run.error`.
 */
export async function withDrivenPlatform(
  ctx: ModeContext,
  run: ModeRun,
  vehicles: number,
  use: (p: DrivenPlatform) => Promise<void>,
): Promise<ModeRun> {
  const { opts } = ctx
  if (!existsSync(FLEETPULSE_BIN)) return { ...run, skipped: `${FLEETPULSE_BIN} missing: run npm run build` }
  const dataDir = makeTempDir(`fleetpulse-bench-${run.mode}-`)
  let fp: Fleetpulse | undefined
  let loadgen: RpcChild<LoadgenApi> | undefined
  try {
    const t0 = performance.now()
    fp = await startFleetpulse('fleetpulse all', ['all'], fleetpulseEnv({ DATA_DIR: path.join(dataDir, 'data'), LIVE_COALESCE_MS: String(opts.liveCoalesceMs) }))
    run.setup.startS = (performance.now() - t0) / 1000
    const api = new ApiClient(fp.httpUrl, ADMIN_EMAIL, ADMIN_PASSWORD)
    const { accessToken } = await api.login()
    const t1 = performance.now()
    const devices = await provisionFleet({ client: api, count: vehicles, concurrency: 16 })
    run.setup.provisionS = (performance.now() - t1) / 1000
    ctx.log(`${run.mode}: provisioned ${devices.length} vehicles in ${run.setup.provisionS.toFixed(1)}s`)
    const started = await startLoadgen(fp.mqttUrl!, devices)
    loadgen = started.loadgen
    run.setup.connectS = started.connectS
    await use({ fp, accessToken, devices, loadgen, rate: Math.round(devices.length * opts.liveHz) })
  } catch (err) {
    run.error = (err as Error).message
  } finally {
    await closeHelper(loadgen)
    if (fp) await stopChild(fp.child)
    removeTempDir(dataDir)
  }
  return run
}

export async function runLive(ctx: ModeContext): Promise<ModeRun> {
  const { opts } = ctx
  const run = newRun(ctx, 'live')
  return withDrivenPlatform(ctx, run, opts.liveVehicles, async ({ fp, accessToken, devices, loadgen, rate }) => {
    let clients: RpcChild<LiveClientsApi> | undefined
    try {
      clients = forkHelper<LiveClientsApi>('live clients', 'live-clients.child.ts')
      const joined = await clients.call('connect', { url: `${fp.httpUrl}/live`, token: accessToken, clients: opts.liveClients, sampled: SAMPLED_CLIENTS })
      run.setup.clientsS = joined.seconds
      ctx.log(`live: ${opts.liveClients} clients joined the org room in ${joined.seconds.toFixed(1)}s`)
      loadgen.call('start', { rate, window: opts.window })
      ctx.log(`live: ${rate} fixes/s from ${devices.length} vehicles, ${opts.warmupS}s warm-up + ${opts.durationS}s`)
      await sleep(opts.warmupS * 1000)

      const platform = watch('fleetpulse all', fp.child.pid)
      const cpu = cpuMeter([platform, watch('live clients', clients.pid), watch('loadgen', loadgen.pid), benchSelf()])
      const before = await scrape(fp.httpUrl)
      const acked0 = (await loadgen.call('snapshot')).acked
      clients.call('reset')
      cpu.start()
      const w0 = performance.now()
      let loopP99Ms = 0
      let rssMiB: number | null = null
      // Scraped every 2 s: prom-client's event-loop p99 covers the time since the previous scrape.
      while (performance.now() - w0 < opts.durationS * 1000) {
        await sleep(Math.min(2000, opts.durationS * 1000 - (performance.now() - w0)))
        const s = await scrape(fp.httpUrl)
        loopP99Ms = Math.max(loopP99Ms, total(s, 'fleetpulse_nodejs_eventloop_lag_p99_seconds') * 1000)
        rssMiB = Math.max(rssMiB ?? 0, (readProc(fp.child.pid!)?.rssMiB ?? 0))
      }
      const windowS = (performance.now() - w0) / 1000
      const stats = await clients.call('stats')
      const usage = cpu.stop()
      const after = await scrape(fp.httpUrl)
      const acked = (await loadgen.call('snapshot')).acked - acked0
      await loadgen.call('stop', { ackTimeoutMs: 10_000 })

      const byName = (name: string) => usage.procs.find((p) => p.name === name)
      const delta = (name: string) => total(after, name) - total(before, name)
      const figures: LiveFigures = {
        clients: opts.liveClients,
        vehicles: devices.length,
        offeredPerS: rate,
        acceptedPerS: acked / windowS,
        deliveredPerS: stats.items / windowS,
        minClientPerS: stats.minClientItems / windowS,
        latency: stats.latency,
        serverItemsPerS: delta('fleetpulse_live_items_delivered_total') / windowS,
        backpressureSkips: delta('fleetpulse_live_backpressure_skips_total'),
        serverCores: byName('fleetpulse all')?.cores ?? 0,
        serverRssMiB: rssMiB,
        serverPeakRssMiB: byName('fleetpulse all')?.peakRssMiB ?? 0,
        clientsCores: byName('live clients')?.cores ?? 0,
        loopP99Ms,
        disconnects: stats.disconnects,
        otherCores: usage.otherCores,
        coalesceMs: opts.liveCoalesceMs,
      }
      run.live = figures
      ctx.log(`live: ${liveLine(figures)}`)
    } finally {
      await closeHelper(clients)
    }
  })
}

const f0 = (n: number | null) => (n === null ? '–' : Math.round(n).toLocaleString('en-US'))

export function liveLine(l: LiveFigures): string {
  return [
    `${f0(l.clients)} clients x ${f0(l.vehicles)} vehicles`,
    `accepted ${f0(l.acceptedPerS)}/s of ${f0(l.offeredPerS)}/s`,
    `delivered ${f0(l.deliveredPerS)} items/s (least-served client ${f0(l.minClientPerS)}/s)`,
    `fix → client p50 ${f0(l.latency.p50Ms)} ms p99 ${f0(l.latency.p99Ms)} ms`,
    `server ${l.serverCores.toFixed(2)} cores, RSS ${f0(l.serverRssMiB)} MiB (peak ${f0(l.serverPeakRssMiB)})`,
    `event loop p99 up to ${f0(l.loopP99Ms)} ms`,
    `backpressure skips ${f0(l.backpressureSkips)}`,
    `other load ${l.otherCores.toFixed(2)} cores`,
  ].join(', ')
}
