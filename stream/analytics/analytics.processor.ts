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
import { publishAlerts } from '../alerts.js'
import type { PositionV1 } from '../../schemas/topics.v1.js'
import { TOPICS, type LiveAlertV1, type LiveEtaV1 } from '../../schemas/topics.v1.js'
import type { AnalyticsRepository } from './analytics.repository.js'
import { applyFix, emptyFacts, initialState, type DetectorEnv, type Facts, type VehicleState } from './detector.js'
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

/** A restore looks this far back for late fixes its predecessor may not have recomputed for. */
const RESTORE_LATE_LOOKBACK_MS = 86_400_000
/** Daily rollups are refreshed at most this often (a batch only marks what it touched). */
const KPI_REFRESH_MS = 2000
/** How often replays run elsewhere are looked for. */
const EPOCH_CHECK_MS = 1000

export interface RecomputeProgress { fixes: number }

export class AnalyticsProcessor {
  private readonly states = new Map<string, VehicleState>()
  private readonly buffers = new Map<string, Buffered>()
  /** One thing at a time touches the states: batches, quiet flushes, replays. */
  private chain: Promise<unknown> = Promise.resolve()
  private readonly log: Logger
  private readonly metrics
  private timers: NodeJS.Timeout[] = []
  /** Vehicle-days whose facts changed since the last rollup refresh. */
  private readonly kpisPending = new Map<string, { orgId: string; vehicleId: string; ts: number }>()
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
    // `serial`: the task touches the states, so it takes its turn with the batches.
    const every = (ms: number, what: string, fn: () => Promise<void>, serial = true) => {
      let running = false
      const t = setInterval(() => {
        if (running) return
        running = true
        void (serial ? this.serial(fn) : fn())
          .catch((err: unknown) => this.log.error({ err }, `${what} failed; retried next time`))
          .finally(() => (running = false))
      }, ms)
      t.unref()
      this.timers.push(t)
    }
    every(Math.max(100, Math.floor(this.deps.reorderWindowMs / 2)), 'flushing quiet vehicles', () => this.flushQuiet())
    // Reads Postgres outside the turn, so a slow query never holds up the sink's batches.
    every(EPOCH_CHECK_MS, 'checking replay epochs', () => this.checkEpochs(), false)
    // Reads only facts already written; the pending marks are taken in one synchronous step.
    every(KPI_REFRESH_MS, 'refreshing daily KPIs', () => this.refreshKpis(), false)
    // The previous owner may have stopped between writing facts and refreshing their rollups.
    void this.serial(async () => {
      for (const t of await this.deps.repository.touchedSince(Date.now() - RESTORE_LATE_LOOKBACK_MS)) this.markKpis(t)
    }).catch((err: unknown) => this.log.warn({ err }, 'could not list the rollups to refresh at start'))
  }

  private markKpis(t: { orgId: string; vehicleId: string; ts: number }): void {
    this.kpisPending.set(`${t.vehicleId}/${new Date(t.ts).toISOString().slice(0, 10)}`, t)
  }

  private async refreshKpis(): Promise<void> {
    if (this.kpisPending.size === 0) return
    const touched = [...this.kpisPending.values()]
    this.kpisPending.clear()
    try {
      await this.deps.repository.refreshDailyKpis(touched)
    } catch (err) {
      for (const t of touched) this.markKpis(t)
      throw err
    }
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t)
    await this.serial(() => this.refreshKpis()).catch((err: unknown) => this.log.warn({ err }, 'daily KPIs not refreshed at close; the next start does'))
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
    const env = this.deps.surroundings.env(true)
    const out = emptyFacts()
    const byVehicle = new Map<string, PositionV1[]>()
    for (const p of positions) {
      let list = byVehicle.get(p.vehicleId)
      if (!list) byVehicle.set(p.vehicleId, (list = []))
      list.push(p)
    }
    const late: PositionV1[] = []
    const lateFrom = new Map<string, { orgId: string; ts: number }>()
    const restore: Array<{ orgId: string; vehicleId: string }> = []
    const now = Date.now()
    for (const [vehicleId, fixes] of byVehicle) {
      const orgId = fixes[0]!.orgId
      const state = this.states.get(vehicleId)
      if (!state) {
        // Unknown here (a start, a rebalance): rebuilt below from the stored fixes, which include this batch's.
        restore.push({ orgId, vehicleId })
        continue
      }
      const buffer = this.buffers.get(vehicleId) ?? { fixes: [], lastArrival: now }
      const buffered = new Set(buffer.fixes.map((f) => f.ts))
      let earliestLate = Infinity
      for (const f of fixes) {
        if (f.ts <= state.lastTs) {
          if (state.recent.includes(f.ts)) this.metrics.duplicates.inc()
          else {
            late.push(f)
            earliestLate = Math.min(earliestLate, f.ts)
          }
        } else if (buffered.has(f.ts)) {
          this.metrics.duplicates.inc()
        } else {
          buffer.fixes.push(f)
          buffered.add(f.ts)
        }
      }
      buffer.lastArrival = now
      if (earliestLate !== Infinity) {
        this.buffers.delete(vehicleId)
        lateFrom.set(vehicleId, { orgId, ts: earliestLate })
        continue
      }
      this.buffers.set(vehicleId, buffer)
      this.release(vehicleId, state, buffer, env, out, false)
    }
    // Listed before the recompute: a crash in between leaves the mark a restore looks for.
    if (late.length > 0) {
      this.metrics.late.inc(late.length)
      await this.deps.repository.recordLate(late)
    }
    await this.rebuild([...lateFrom].map(([vehicleId, { orgId, ts }]) => ({ orgId, vehicleId, fromTs: ts })), env, out, 'late', true)
    if (restore.length > 0) {
      // A restore rewrites the facts the previous owner wrote from the same fixes: same keys, nothing to delete,
      // unless late fixes arrived that it may not have recomputed for (then the span is deleted first).
      const lateSince = await this.deps.repository.lateFixesSince(restore.map((r) => r.vehicleId), now - RESTORE_LATE_LOOKBACK_MS)
      const withLate = restore.filter((r) => lateSince.has(r.vehicleId)).map((r) => ({ ...r, fromTs: lateSince.get(r.vehicleId)! }))
      await this.rebuild(withLate, env, out, 'restore', true)
      await this.rebuild(restore.filter((r) => !lateSince.has(r.vehicleId)).map((r) => ({ ...r, fromTs: Number.MAX_SAFE_INTEGER })), env, out, 'restore', false)
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
      while (n < buffer.fixes.length && buffer.fixes[n]!.ts <= upTo) applyFix(state, buffer.fixes[n++]!, env, out)
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
   * Rebuilds vehicles, each from its latest checkpoint before its `fromTs` (or
   * from its first fix) through every stored fix after it, with two queries for
   * all of them (a start or a rebalance restores hundreds, so never two per
   * vehicle): with `deleteStale`, deletes the facts of those spans first; writes
   * them again (same keys), and keeps the resulting states as the live ones.
   */
  private async rebuild(
    vehicles: Array<{ orgId: string; vehicleId: string; fromTs: number }>, env: DetectorEnv, out: Facts, reason: string, deleteStale: boolean,
    progress?: (p: RecomputeProgress) => void,
  ): Promise<void> {
    if (vehicles.length === 0) return
    this.metrics.recomputes.inc({ reason }, vehicles.length)
    const repo = this.deps.repository
    const states = new Map<string, VehicleState>(await repo.checkpointsBefore(vehicles.map((v) => ({ ...v, beforeTs: v.fromTs }))))
    const from = vehicles.map((v) => ({ ...v, afterTs: states.get(v.vehicleId)?.lastTs ?? -1 }))
    if (deleteStale) await repo.deleteFrom(from.map((v) => ({ orgId: v.orgId, vehicleId: v.vehicleId, fromTs: v.afterTs + 1 })))
    // The facts already collected in this batch for these vehicles are rewritten by the rebuild.
    for (const v of from) dropVehicle(out, v.vehicleId)
    let fixes = 0
    const local = emptyFacts()
    for await (const page of repo.positionsAfterMany(from)) {
      for (const p of page) {
        const state = states.get(p.vehicleId)
        if (!state) states.set(p.vehicleId, initialState(p.orgId, p.vehicleId, p))
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
    for (const { vehicleId } of vehicles) {
      this.buffers.delete(vehicleId)
      const state = states.get(vehicleId)
      if (state) this.states.set(vehicleId, state)
      else this.states.delete(vehicleId)
    }
  }

  /** Replays vehicles over a span (admin): rewrites their facts from the stored fixes, as the live run would have. */
  replay(orgId: string, vehicleId: string, fromTs: number, progress?: (p: RecomputeProgress) => void): Promise<void> {
    return this.serial(async () => {
      const out = emptyFacts()
      await this.rebuild([{ orgId, vehicleId, fromTs }], this.deps.surroundings.env(true), out, 'replay', true, progress)
      await this.write(out)
    })
  }

  /** Drops in-memory states of vehicles a replay elsewhere rewrote (a bumped epoch). */
  private async checkEpochs(): Promise<void> {
    const { rows } = await this.deps.pool
      .query<{ vehicle_id: string; epoch: string; updated_at: Date }>('SELECT vehicle_id, epoch::text, updated_at FROM vehicle_analytics_epochs WHERE updated_at > $1', [this.epochStamp])
      .catch(() => ({ rows: [] as Array<{ vehicle_id: string; epoch: string; updated_at: Date }> }))
    if (rows.length === 0) return
    await this.serial(async () => {
      for (const r of rows) {
        if (this.epochs.get(r.vehicle_id) !== r.epoch) {
          this.epochs.set(r.vehicle_id, r.epoch)
          this.states.delete(r.vehicle_id)
          this.buffers.delete(r.vehicle_id)
        }
        if (r.updated_at > this.epochStamp) this.epochStamp = r.updated_at
      }
    })
  }

  /** Marks this process's own replay, so it keeps the state it just rebuilt. */
  noteEpoch(vehicleId: string, epoch: string): void {
    this.epochs.set(vehicleId, epoch)
  }

  private async write(f: Facts): Promise<void> {
    await this.deps.repository.writeFacts(f, Date.now())
    const touched = [...f.trips, ...f.stops, ...f.idles].map((x) => ({ orgId: x.orgId, vehicleId: x.vehicleId, ts: x.startTs }))
      .concat(f.drivingEvents.map((e) => ({ orgId: e.orgId, vehicleId: e.vehicleId, ts: e.ts })))
    for (const t of touched) this.markKpis(t)
    this.metrics.facts.inc({ kind: 'trip' }, f.trips.length)
    this.metrics.facts.inc({ kind: 'stop' }, f.stops.length)
    this.metrics.facts.inc({ kind: 'idle' }, f.idles.length)
    this.metrics.facts.inc({ kind: 'driving_event' }, f.drivingEvents.length)
    this.metrics.facts.inc({ kind: 'geofence_event' }, f.geofenceEvents.length)
  }

  /** Writes the facts, then tells the live feed (alerts and ETAs). */
  private async emit(f: Facts): Promise<void> {
    await this.write(f)
    await publishAlerts(this.deps.bus, alertsOf(f))
    if (f.etas.length > 0) {
      const etas: LiveEtaV1[] = f.etas.map((e) => ({
        orgId: e.orgId, vehicleId: e.vehicleId, ts: e.ts, destination: { lat: e.destLat, lon: e.destLon }, orderId: e.orderId,
        remainingM: e.remainingM, etaTs: e.etaTs, arrived: e.arrived,
      }))
      await this.deps.bus.publish(TOPICS.liveEtas, etas.map((e) => ({ key: e.vehicleId, decoded: e })))
    }
  }

  /** The state in memory (tests, dashboards' "now"). */
  stateOf(vehicleId: string): VehicleState | undefined {
    return this.states.get(vehicleId)
  }
}

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
