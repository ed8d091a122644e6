/**
 * Where each live update goes on this node: into the pending batch of every
 * room that shows it (organization, vehicle, geofence; only rooms with sockets
 * here), and into the owed state of each viewport subscription whose box holds
 * it, found through an index of coarse H3 cells. It also keeps, per
 * organization, the newest state it relayed (positions, ETAs, recent alerts)
 * for join snapshots: bounded by the fleet, not by time.
 */
import type { LiveAlert, LiveEta, LiveOrder, LivePosition } from '../../schemas/live.v1.js'
import type { LiveAlertV1, LiveEtaV1, LiveOrderV1, LivePositionV1 } from '../../schemas/topics.v1.js'
import type { ViewportSub } from './live.feeds.js'
import { Pending } from './live.pending.js'
import { cellOf, inBbox } from './viewport.js'

export const orgRoom = (orgId: string) => `org:${orgId}`
export const userRoom = (userId: string) => `user:${userId}`
export const vehicleRoom = (vehicleId: string) => `vehicle:${vehicleId}`
/** Geofence ids are matched within the organization only. */
export const geofenceRoom = (orgId: string, geofenceId: string) => `geofence:${orgId}:${geofenceId}`
/** A socket's viewport: not a Socket.IO room but a subscription of its own (one per socket). */
export const VIEWPORT = 'viewport'

/** The room name a client sees (acks, event payloads, leave) for a server room. */
export function publicRoom(room: string): string {
  if (room.startsWith('org:')) return 'org'
  if (room.startsWith('geofence:')) return `geofence:${room.split(':')[2]}`
  return room
}

/** What this node knows of one organization: the newest state it relayed, for snapshots. */
export interface OrgState {
  positions: Map<string, LivePosition>
  etas: Map<string, LiveEta>
  /** The most recent alerts, oldest first, at most LIVE_ALERT_BUFFER. */
  alerts: LiveAlert[]
  viewports: Set<ViewportSub>
}

const iso = (ms: number) => new Date(ms).toISOString()

export class LiveRouter {
  private readonly orgs = new Map<string, OrgState>()
  /** Per room with sockets on this node: what its next flush sends. */
  readonly pending = new Map<string, Pending>()
  /** `<orgId>:<coarse cell>` -> the viewport subscriptions covering that cell. */
  private readonly cellSubs = new Map<string, Set<ViewportSub>>()
  /** The coarse cell key each vehicle was last seen in (while its organization has viewports). */
  private readonly vehicleCell = new Map<string, string>()

  constructor(
    /** True when the room has sockets on this node. */
    private readonly hasMembers: (room: string) => boolean,
    private readonly coarseResolution: number,
    private readonly alertBuffer: number,
  ) {}

  org(orgId: string): OrgState {
    let s = this.orgs.get(orgId)
    if (!s) this.orgs.set(orgId, (s = { positions: new Map(), etas: new Map(), alerts: [], viewports: new Set() }))
    return s
  }

  addViewport(sub: ViewportSub): void {
    for (const key of sub.cells) {
      let set = this.cellSubs.get(key)
      if (!set) this.cellSubs.set(key, (set = new Set()))
      set.add(sub)
    }
    this.org(sub.orgId).viewports.add(sub)
  }

  removeViewport(sub: ViewportSub): void {
    for (const key of sub.cells) {
      const set = this.cellSubs.get(key)
      set?.delete(sub)
      if (set?.size === 0) this.cellSubs.delete(key)
    }
    this.orgs.get(sub.orgId)?.viewports.delete(sub)
  }

  /** Adds to a room's next flush, only when the room has sockets on this node (bounded by active rooms). */
  private toRoom(room: string, add: (p: Pending) => void): void {
    if (!this.hasMembers(room)) return
    let pending = this.pending.get(room)
    if (!pending) this.pending.set(room, (pending = new Pending(this.alertBuffer)))
    add(pending)
  }

  private cellKey(orgId: string, lat: number, lon: number): string {
    return `${orgId}:${cellOf(lat, lon, this.coarseResolution)}`
  }

  onPosition(v: LivePositionV1): void {
    const org = this.org(v.orgId)
    const item: LivePosition = { vehicleId: v.vehicleId, ts: iso(v.ts), lat: v.lat, lon: v.lon, speed: v.speed, heading: v.heading }
    const had = org.positions.get(v.vehicleId)
    // A replay or a late fix never moves a map back, and is never sent twice.
    if (had && had.ts >= item.ts) return
    org.positions.set(v.vehicleId, item)
    this.toRoom(orgRoom(v.orgId), (p) => p.addPosition(item))
    this.toRoom(vehicleRoom(v.vehicleId), (p) => p.addPosition(item))
    if (org.viewports.size === 0) return
    const key = this.cellKey(v.orgId, v.lat, v.lon)
    const before = this.vehicleCell.get(v.vehicleId)
    this.vehicleCell.set(v.vehicleId, key)
    for (const sub of this.cellSubs.get(key) ?? []) {
      if (inBbox(sub.bbox, v.lat, v.lon)) {
        sub.inView.add(v.vehicleId)
        sub.feed.owe(VIEWPORT).addPosition(item)
      } else if (sub.inView.delete(v.vehicleId)) {
        sub.feed.owe(VIEWPORT).addGone(v.vehicleId)
      }
    }
    if (before === undefined || before === key) return
    // Left a cell: the viewports of that cell that do not cover the new one lose the vehicle.
    for (const sub of this.cellSubs.get(before) ?? []) {
      if (!sub.cells.has(key) && sub.inView.delete(v.vehicleId)) sub.feed.owe(VIEWPORT).addGone(v.vehicleId)
    }
  }

  /** The viewport subscriptions currently showing the vehicle. */
  private viewportsShowing(orgId: string, vehicleId: string): ViewportSub[] {
    if ((this.orgs.get(orgId)?.viewports.size ?? 0) === 0) return []
    const key = this.vehicleCell.get(vehicleId)
    return [...(key ? this.cellSubs.get(key) ?? [] : [])].filter((sub) => sub.inView.has(vehicleId))
  }

  onEta(v: LiveEtaV1): void {
    const item: LiveEta = {
      vehicleId: v.vehicleId, orderId: v.orderId, destination: v.destination, remainingM: v.remainingM, eta: iso(v.etaTs), arrived: v.arrived, ts: iso(v.ts),
    }
    const org = this.org(v.orgId)
    const had = org.etas.get(v.vehicleId)
    if (had && had.ts > item.ts) return
    org.etas.set(v.vehicleId, item)
    this.toRoom(orgRoom(v.orgId), (p) => p.addEta(item))
    this.toRoom(vehicleRoom(v.vehicleId), (p) => p.addEta(item))
    for (const sub of this.viewportsShowing(v.orgId, v.vehicleId)) sub.feed.owe(VIEWPORT).addEta(item)
  }

  onAlert(v: LiveAlertV1): void {
    const item: LiveAlert = {
      id: v.id, vehicleId: v.vehicleId, kind: v.kind, severity: v.severity, ts: iso(v.ts), lat: v.lat, lon: v.lon, message: v.message,
      geofenceId: v.geofenceId, driverId: v.driverId,
    }
    const org = this.org(v.orgId)
    // A replay publishes the same id again: the feed shows each alert once.
    if (org.alerts.some((a) => a.id === item.id)) return
    org.alerts.push(item)
    if (org.alerts.length > this.alertBuffer) org.alerts.shift()
    this.toRoom(orgRoom(v.orgId), (p) => p.addAlert(item))
    this.toRoom(vehicleRoom(v.vehicleId), (p) => p.addAlert(item))
    if (v.geofenceId) this.toRoom(geofenceRoom(v.orgId, v.geofenceId), (p) => p.addAlert(item))
    if (v.lat === null || v.lon === null || org.viewports.size === 0) return
    for (const sub of this.cellSubs.get(this.cellKey(v.orgId, v.lat, v.lon)) ?? []) {
      if (inBbox(sub.bbox, v.lat, v.lon)) sub.feed.owe(VIEWPORT).addAlert(item)
    }
  }

  onOrder(v: LiveOrderV1): void {
    const item: LiveOrder = { orderId: v.orderId, number: v.number, status: v.status, vehicleId: v.vehicleId, driverId: v.driverId, at: iso(v.at) }
    this.toRoom(orgRoom(v.orgId), (p) => p.addOrder(item))
    if (v.vehicleId) this.toRoom(vehicleRoom(v.vehicleId), (p) => p.addOrder(item))
  }
}
