/**
 * Stream analytics, keyed per vehicle, in event time. It runs inside the
 * positions sink's handler, after that batch's fixes are in ClickHouse and
 * before its offsets are committed, so:
 * - a vehicle's state can always be rebuilt from its latest checkpoint plus the
 *   stored fixes after it (a restart, a rebalance, a replay);
 * - a fix that arrives after its reorder window ("late") is stored, listed in
 *   late_fixes, and the vehicle is recomputed from the checkpoint before it;
 * - facts are written before the commit, and writing them again replaces them,
 *   so a redelivered batch neither loses nor double-counts.
 *
 * Within the window, fixes wait in a per-vehicle buffer and are applied in `ts`
 * order: once a newer fix is `reorderWindowMs` ahead of them, or once nothing
 * new arrived for that vehicle for that long (a parked vehicle's last fixes).
 */
import type pg from 'pg'
import type { Logger } from 'pino'
import { Counter, type Registry } from 'prom-client'
import type { Bus } from '../../core/bus/bus.js'
import type { PositionV1 } from '../../schemas/topics.v1.js'
import { TOPICS, type LiveAlertV1, type LiveEtaV1 } from '../../schemas/topics.v1.js'
import type { AnalyticsRepository } from './analytics.repository.js'
import { applyFix, emptyFacts, initialState, type DetectorEnv, type DetectorFix, type Facts, type VehicleState } from './detector.js'
import type { Surroundings } from './surroundings.js'

export interface AnalyticsDeps {
  repository: AnalyticsRepository
  surroundings: Surroundings
  pool: pg.Pool
  bus: Bus
  logger: Logger
  registry: Registry
  reorderWindowMs: number
}

interface Buffered { fixes: PositionV1[]; lastArrival: number }

export interface RecomputeProgress { fixes: number }

export class AnalyticsProcessor {
  private readonly states = new Map<string, VehicleState>()
  private readonly buffers = new Map<string, Buffered>()
  /** One thing at a time touches the states: batches, quiet flushes, replays. */
  private chain: Promise<unknown> = Promise.resolve()
  private readonly log: Logger
  private readonly metrics
  private flushTimer: NodeJS.Timeout | undefined
  private epochs = new Map<string, string>()
  private epochStamp = new Date(0)

  constructor(private readonly deps: AnalyticsDeps) {
    this.log = deps.logger.child({ component: 'analytics' })
    const r = deps.registry
    this.metrics = {
      late: new Counter({ name: 'fleetpulse_analytics_late_fixes_total', help: 'Fixes that arrived after their reorder window (their span is recomputed)', registers: [r] }),
      duplicates: new Counter({ name: 'fleetpulse_analytics_duplicate_fixes_total', help: 'Fixes seen again (redelivery) and skipped', registers: [r] }),
      recomputes: new Counter({ name: 'fleetpulse_analytics_recomputes_total', help: 'Vehicles recomputed from a checkpoint', labelNames: ['reason'] as const, registers: [r] }),
      facts: new Counter({ name: 'fleetpulse_analytics_facts_total', help: 'Derived facts written', labelNames: ['kind'] as const, registers: [r] }),
      failures: new Counter({ name: 'fleetpulse_analytics_vehicle_failures_total', help: 'Vehicles whose fixes the detector failed on (state dropped and rebuilt)', registers: [r] }),
    }
  }

  start(): void {
    const every = Math.max(100, Math.floor(this.deps.reorderWindowMs / 2))
    this.flushTimer = setInterval(() => {
      void this.serial(() => this.flushQuiet()).catch((err: unknown) => this.log.error({ err }, 'flushing quiet vehicles failed; retried next time'))
    }, every)
    this.flushTimer.unref()
  }

  async close(): Promise<void> {
    if (this.flushTimer) clearInterval(this.flushTimer)
    await this.chain.catch(() => {})
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn)
    this.chain = next.catch(() => {})
    return next
  }

  /** Called by the sink for each batch, once its fixes are stored. Throws only when a write failed (the batch is redelivered). */
  process(positions: PositionV1[]): Promise<void> {
    return this.serial(() => this.processNow(positions))
  }

  private async processNow(positions: PositionV1[]): Promise<void> {
    await this.checkEpochs()
    const env = this.deps.surroundings.env(true)
    const out = emptyFacts()
    const byVehicle = new Map<string, PositionV1[]>()
    for (const p of positions) {
      let list = byVehicle.get(p.vehicleId)
      if (!list) byVehicle.set(p.vehicleId, (list = []))
      list.push(p)
    }
    const late: PositionV1[] = []
    const now = Date.now()
    for (const [vehicleId, fixes] of byVehicle) {
      const orgId = fixes[0]!.orgId
      const state = this.states.get(vehicleId)
      if (!state) {
        // Unknown here (a start, a rebalance): rebuild from the stored fixes, which include this batch's.
        await this.recompute(orgId, vehicleId, Number.MAX_SAFE_INTEGER, env, out, 'restore')
        continue
      }
      const buffer = this.buffers.get(vehicleId) ?? { fixes: [], lastArrival: now }
      const buffered = new Set(buffer.fixes.map((f) => f.ts))
      let lateFrom = Infinity
      for (const f of fixes) {
        if (f.ts <= state.lastTs) {
          if (state.recent.includes(f.ts)) this.metrics.duplicates.inc()
          else {
            late.push(f)
            lateFrom = Math.min(lateFrom, f.ts)
          }
        } else if (buffered.has(f.ts)) {
          this.metrics.duplicates.inc()
        } else {
          buffer.fixes.push(f)
          buffered.add(f.ts)
        }
      }
      buffer.lastArrival = now
      if (lateFrom !== Infinity) {
        this.buffers.delete(vehicleId)
        await this.recompute(orgId, vehicleId, lateFrom, env, out, 'late')
        continue
      }
      this.buffers.set(vehicleId, buffer)
      this.release(vehicleId, state, buffer, env, out, false)
    }
    if (late.length > 0) {
      this.metrics.late.inc(late.length)
      await this.deps.repository.recordLate(late)
    }
    await this.emit(out)
  }

  /** Applies the buffered fixes that are out of the window (all of them when `all`). */
  private release(vehicleId: string, state: VehicleState, buffer: Buffered, env: DetectorEnv, out: Facts, all: boolean): VehicleState {
    buffer.fixes.sort((a, b) => a.ts - b.ts)
    const newest = buffer.fixes[buffer.fixes.length - 1]?.ts ?? -Infinity
    const upTo = all ? Infinity : newest - this.deps.reorderWindowMs
    let n = 0
    try {
      while (n < buffer.fixes.length && buffer.fixes[n]!.ts <= upTo) applyFix(state, toFix(buffer.fixes[n++]!), env, out)
    } catch (err) {
      // A detector bug must not stop the pipeline: drop this vehicle's state; the next batch rebuilds it.
      this.metrics.failures.inc()
      this.log.error({ err, vehicleId }, 'analytics failed on a fix; the vehicle is rebuilt from its checkpoint on its next fix')
      this.states.delete(vehicleId)
      this.buffers.delete(vehicleId)
      return state
    }
    buffer.fixes.splice(0, n)
    if (buffer.fixes.length === 0) this.buffers.delete(vehicleId)
    return state
  }

  private async flushQuiet(): Promise<void> {
    const now = Date.now()
    const env = this.deps.surroundings.env(true)
    const out = emptyFacts()
    for (const [vehicleId, buffer] of this.buffers) {
      if (now - buffer.lastArrival < this.deps.reorderWindowMs) continue
      const state = this.states.get(vehicleId)
      if (!state) {
        this.buffers.delete(vehicleId)
        continue
      }
      this.release(vehicleId, state, buffer, env, out, true)
    }
    await this.emit(out)
  }

  /**
   * Rebuilds a vehicle from the latest checkpoint before `fromTs` (or from its
   * first fix) through every stored fix after it: deletes the facts of that
   * span, writes them again, and keeps the resulting state as the live one.
   */
  private async recompute(orgId: string, vehicleId: string, fromTs: number, env: DetectorEnv, out: Facts, reason: string, progress?: (p: RecomputeProgress) => void): Promise<void> {
    this.metrics.recomputes.inc({ reason })
    const repo = this.deps.repository
    let state = await repo.checkpointBefore(orgId, vehicleId, fromTs)
    const startTs = state ? state.lastTs : -1
    await repo.deleteFrom(orgId, vehicleId, startTs + 1)
    // The facts already collected in this batch for the vehicle are rewritten by the recompute.
    dropVehicle(out, vehicleId)
    let fixes = 0
    const local = emptyFacts()
    for await (const page of repo.positionsAfter(orgId, vehicleId, startTs)) {
      for (const p of page) {
        if (!state) state = initialState(orgId, vehicleId, p)
        else applyFix(state, p, env, local)
      }
      fixes += page.length
      progress?.({ fixes })
      // Large spans are written page by page, so memory stays bounded.
      if (local.trips.length + local.drivingEvents.length + local.geofenceEvents.length > 10_000) {
        await this.write(local)
        Object.assign(local, emptyFacts())
      }
    }
    merge(out, local)
    this.buffers.delete(vehicleId)
    if (state) this.states.set(vehicleId, state)
    else this.states.delete(vehicleId)
  }

  /** Replays vehicles over a span (admin): rewrites their facts from the stored fixes, as the live run would have. */
  replay(orgId: string, vehicleId: string, fromTs: number, progress?: (p: RecomputeProgress) => void): Promise<void> {
    return this.serial(async () => {
      const out = emptyFacts()
      await this.recompute(orgId, vehicleId, fromTs, this.deps.surroundings.env(true), out, 'replay', progress)
      await this.write(out)
    })
  }

  /** Drops in-memory states of vehicles a replay elsewhere rewrote (a bumped epoch). */
  private async checkEpochs(): Promise<void> {
    const { rows } = await this.deps.pool
      .query<{ vehicle_id: string; epoch: string; updated_at: Date }>('SELECT vehicle_id, epoch::text, updated_at FROM vehicle_analytics_epochs WHERE updated_at > $1', [this.epochStamp])
      .catch(() => ({ rows: [] as Array<{ vehicle_id: string; epoch: string; updated_at: Date }> }))
    for (const r of rows) {
      if (this.epochs.get(r.vehicle_id) !== r.epoch) {
        this.epochs.set(r.vehicle_id, r.epoch)
        this.states.delete(r.vehicle_id)
        this.buffers.delete(r.vehicle_id)
      }
      if (r.updated_at > this.epochStamp) this.epochStamp = r.updated_at
    }
  }

  /** Marks this process's own replay, so it keeps the state it just rebuilt. */
  noteEpoch(vehicleId: string, epoch: string): void {
    this.epochs.set(vehicleId, epoch)
  }

  private async write(f: Facts): Promise<void> {
    await this.deps.repository.writeFacts(f, Date.now())
    const touched = [...f.trips, ...f.stops, ...f.idles].map((x) => ({ orgId: x.orgId, vehicleId: x.vehicleId, ts: x.startTs }))
      .concat(f.drivingEvents.map((e) => ({ orgId: e.orgId, vehicleId: e.vehicleId, ts: e.ts })))
    await this.deps.repository.refreshDailyKpis(touched)
    this.metrics.facts.inc({ kind: 'trip' }, f.trips.length)
    this.metrics.facts.inc({ kind: 'stop' }, f.stops.length)
    this.metrics.facts.inc({ kind: 'idle' }, f.idles.length)
    this.metrics.facts.inc({ kind: 'driving_event' }, f.drivingEvents.length)
    this.metrics.facts.inc({ kind: 'geofence_event' }, f.geofenceEvents.length)
  }

  /** Writes the facts, then tells the live feed (alerts and ETAs). */
  private async emit(f: Facts): Promise<void> {
    await this.write(f)
    const alerts = alertsOf(f)
    if (alerts.length > 0) {
      await this.deps.bus.publish(TOPICS.liveAlerts, alerts.map((a) => ({ key: a.vehicleId, value: Buffer.from(JSON.stringify(a)), decoded: a })))
    }
    if (f.etas.length > 0) {
      const etas: LiveEtaV1[] = f.etas.map((e) => ({
        orgId: e.orgId, vehicleId: e.vehicleId, ts: e.ts, destination: { lat: e.destLat, lon: e.destLon }, orderId: e.orderId,
        remainingM: e.remainingM, etaTs: e.etaTs, arrived: e.arrived,
      }))
      await this.deps.bus.publish(TOPICS.liveEtas, etas.map((e) => ({ key: e.vehicleId, value: Buffer.from(JSON.stringify(e)), decoded: e })))
    }
  }

  /** The state in memory (tests, dashboards' "now"). */
  stateOf(vehicleId: string): VehicleState | undefined {
    return this.states.get(vehicleId)
  }
}

const toFix = (p: PositionV1): DetectorFix => p

function dropVehicle(f: Facts, vehicleId: string): void {
  for (const key of Object.keys(f) as Array<keyof Facts>) {
    const list = f[key] as Array<{ vehicleId: string }>
    for (let i = list.length - 1; i >= 0; i--) if (list[i]!.vehicleId === vehicleId) list.splice(i, 1)
  }
}

function merge(into: Facts, from: Facts): void {
  for (const key of Object.keys(from) as Array<keyof Facts>) (into[key] as unknown[]).push(...(from[key] as unknown[]))
}

const fmt = (n: number) => Math.round(n)

/** The alerts a dispatcher sees; ids are stable, so a recompute publishes the same ids again. */
export function alertsOf(f: Facts): LiveAlertV1[] {
  const alerts: LiveAlertV1[] = []
  for (const e of f.drivingEvents) {
    alerts.push({
      id: `${e.vehicleId}:${e.kind}:${e.ts}`, orgId: e.orgId, vehicleId: e.vehicleId, kind: e.kind,
      severity: e.kind === 'overspeed' && e.value > e.threshold * 1.2 ? 'critical' : 'warning', ts: e.ts, lat: e.lat, lon: e.lon,
      message: e.kind === 'overspeed'
        ? `Overspeed ${fmt(e.value)} km/h where the limit is ${fmt(e.threshold)} km/h, for ${fmt((e.endTs - e.ts) / 1000)} s`
        : `${e.kind.replace('_', ' ').replace(/^./, (c) => c.toUpperCase())}: ${e.value.toFixed(1)} m/s² at ${fmt(e.speedKmh)} km/h`,
      geofenceId: e.geofenceId, driverId: e.driverId,
    })
  }
  for (const i of f.idles) {
    alerts.push({
      id: `${i.vehicleId}:idling:${i.startTs}`, orgId: i.orgId, vehicleId: i.vehicleId, kind: 'idling', severity: 'info', ts: i.startTs,
      lat: i.lat, lon: i.lon, message: `Idled ${fmt((i.endTs - i.startTs) / 60_000)} min with the engine on`, geofenceId: null, driverId: i.driverId,
    })
  }
  for (const g of f.geofenceEvents) {
    alerts.push({
      id: `${g.vehicleId}:geofence_${g.kind}:${g.geofenceId}:${g.ts}`, orgId: g.orgId, vehicleId: g.vehicleId, kind: `geofence_${g.kind}` as const,
      severity: g.kind === 'dwell' ? 'warning' : 'info', ts: g.ts, lat: g.lat, lon: g.lon,
      message: g.kind === 'enter' ? 'Entered a geofence' : g.kind === 'exit' ? `Left a geofence after ${fmt((g.ts - g.enterTs) / 60_000)} min` : `In a geofence for ${fmt((g.ts - g.enterTs) / 60_000)} min`,
      geofenceId: g.geofenceId, driverId: g.driverId,
    })
  }
  return alerts
}
