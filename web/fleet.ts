/**
 * The console's state of the fleet: one entry per vehicle, filled by the join
 * snapshot and kept current by the feed's batches. Views never redraw per
 * message: they read this store on the next animation frame when `version`
 * moved.
 */
import type { LiveEta, LivePosition, SnapshotVehicle } from '../schemas/live.v1.js'

export type Status = 'moving' | 'stopped' | 'offline' | 'no-fix'

export interface Vehicle {
  id: string
  name: string
  plate: string | null
  driverName: string | null
  position: LivePosition | null
  /** Parsed position.ts, epoch ms. */
  seenAt: number
  eta: LiveEta | null
  /** Lower-cased name, plate and driver, for search. */
  haystack: string
}

const OFFLINE_AFTER_MS = 10 * 60_000
const MOVING_KMH = 3

export function statusOf(v: Vehicle, now: number): Status {
  if (!v.position) return 'no-fix'
  if (now - v.seenAt > OFFLINE_AFTER_MS) return 'offline'
  return (v.position.speed ?? 0) > MOVING_KMH ? 'moving' : 'stopped'
}

const byName = new Intl.Collator(undefined, { numeric: true }).compare

export class Fleet {
  readonly vehicles = new Map<string, Vehicle>()
  /** Every vehicle in name order, re-sorted only when the set changes (names do not move). */
  private sorted: Vehicle[] = []
  private sortedAt = -1
  /** Bumped on every change; views compare it with what they drew. */
  version = 0
  /** Bumped when the set of vehicles (not just their state) changed. */
  membership = 0

  reset(snapshot: SnapshotVehicle[]): void {
    this.vehicles.clear()
    for (const s of snapshot) {
      this.vehicles.set(s.vehicleId, {
        id: s.vehicleId, name: s.name, plate: s.plate, driverName: s.driverName, position: s.position, eta: s.eta,
        seenAt: s.position ? Date.parse(s.position.ts) : 0,
        haystack: [s.name, s.plate, s.driverName].filter(Boolean).join(' ').toLowerCase(),
      })
    }
    this.version++
    this.membership++
  }

  /** Newest wins: an item not newer than what is shown changes nothing. */
  applyPositions(items: LivePosition[]): void {
    for (const p of items) {
      let v = this.vehicles.get(p.vehicleId)
      if (!v) {
        // Created after the snapshot: shown by id until the next snapshot names it.
        v = { id: p.vehicleId, name: p.vehicleId.slice(0, 8), plate: null, driverName: null, position: null, eta: null, seenAt: 0, haystack: p.vehicleId }
        this.vehicles.set(p.vehicleId, v)
        this.membership++
      }
      if (v.position && v.position.ts >= p.ts) continue
      v.position = p
      v.seenAt = Date.parse(p.ts)
    }
    this.version++
  }

  applyEtas(items: LiveEta[]): void {
    for (const e of items) {
      const v = this.vehicles.get(e.vehicleId)
      if (v && (!v.eta || v.eta.ts <= e.ts)) v.eta = e
    }
    this.version++
  }

  /** The vehicles passing the search text and status filter, in name order. */
  filter(query: string, status: string, now: number): Vehicle[] {
    if (this.sortedAt !== this.membership) {
      this.sorted = [...this.vehicles.values()].sort((a, b) => byName(a.name, b.name))
      this.sortedAt = this.membership
    }
    const q = query.trim().toLowerCase()
    if (!q && !status) return this.sorted
    return this.sorted.filter((v) => (!q || v.haystack.includes(q)) && (!status || statusOf(v, now) === status))
  }
}

export function ago(ms: number, now: number): string {
  if (!ms) return '—'
  const s = Math.max(0, Math.round((now - ms) / 1000))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m`
  if (s < 86_400) return `${Math.floor(s / 3600)}h`
  return `${Math.floor(s / 86_400)}d`
}

export function etaText(eta: LiveEta | null): string {
  if (!eta) return '—'
  if (eta.arrived) return 'arrived'
  return new Date(eta.eta).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
}
