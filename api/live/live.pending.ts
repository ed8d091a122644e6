/**
 * What a room (or one backed-up socket) still owes its clients until the next
 * flush: the newest position, ETA and order state per key (latest wins), and
 * alerts in a bounded ring (alerts are never coalesced away, but a client that
 * stops reading cannot make it grow past `alertCap`). Its size is bounded by
 * the number of vehicles and orders of one organization, whatever the rate.
 */
import type { LiveAlert, LiveEta, LiveOrder, LivePosition } from '../../schemas/live.v1.js'

export interface Batch {
  positions: LivePosition[]
  gone: string[]
  etas: LiveEta[]
  orders: LiveOrder[]
  alerts: LiveAlert[]
  droppedAlerts: number
}

export class Pending {
  private positions = new Map<string, LivePosition>()
  private gone = new Set<string>()
  private etas = new Map<string, LiveEta>()
  private orders = new Map<string, LiveOrder>()
  private alerts: LiveAlert[] = []
  private droppedAlerts = 0

  constructor(private readonly alertCap: number) {}

  get size(): number {
    return this.positions.size + this.gone.size + this.etas.size + this.orders.size + this.alerts.length
  }

  isEmpty(): boolean {
    return this.size === 0 && this.droppedAlerts === 0
  }

  /** Keeps the newer fix: ISO-8601 UTC strings of one format compare in time order. */
  addPosition(p: LivePosition): void {
    const had = this.positions.get(p.vehicleId)
    if (had && had.ts >= p.ts) return
    this.positions.set(p.vehicleId, p)
    this.gone.delete(p.vehicleId)
  }

  addGone(vehicleId: string): void {
    this.positions.delete(vehicleId)
    this.etas.delete(vehicleId)
    this.gone.add(vehicleId)
  }

  addEta(e: LiveEta): void {
    const had = this.etas.get(e.vehicleId)
    if (had && had.ts > e.ts) return
    this.etas.set(e.vehicleId, e)
  }

  addOrder(o: LiveOrder): void {
    const had = this.orders.get(o.orderId)
    if (had && had.at > o.at) return
    this.orders.set(o.orderId, o)
  }

  addAlert(a: LiveAlert): void {
    this.alerts.push(a)
    if (this.alerts.length > this.alertCap) {
      this.alerts.shift()
      this.droppedAlerts++
    }
  }

  /**
   * Drops what a snapshot already carries: the state (the snapshot is newer
   * than anything held back), and the alerts it lists, so none arrives twice.
   */
  clearState(snapshotAlerts: ReadonlyArray<{ id: string }>): void {
    this.positions.clear()
    this.gone.clear()
    this.etas.clear()
    if (snapshotAlerts.length && this.alerts.length) {
      const sent = new Set(snapshotAlerts.map((a) => a.id))
      this.alerts = this.alerts.filter((a) => !sent.has(a.id))
    }
  }

  merge(batch: Batch): void {
    for (const p of batch.positions) this.addPosition(p)
    for (const g of batch.gone) this.addGone(g)
    for (const e of batch.etas) this.addEta(e)
    for (const o of batch.orders) this.addOrder(o)
    for (const a of batch.alerts) this.addAlert(a)
    this.droppedAlerts += batch.droppedAlerts
  }

  /** Everything owed, and empty again. */
  take(): Batch {
    const batch: Batch = {
      positions: [...this.positions.values()],
      gone: [...this.gone],
      etas: [...this.etas.values()],
      orders: [...this.orders.values()],
      alerts: this.alerts,
      droppedAlerts: this.droppedAlerts,
    }
    this.positions.clear()
    this.gone.clear()
    this.etas.clear()
    this.orders.clear()
    this.alerts = []
    this.droppedAlerts = 0
    return batch
  }
}
