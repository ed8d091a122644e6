/**
 * One open /live socket as the flush sees it: the rooms it joined, the rooms
 * still waiting for their snapshot, and what it is owed while it cannot take
 * more. Backpressure: a socket whose transport has not finished its last write
 * (a client that stops reading, a slow link) is skipped by room flushes; each
 * skipped batch is merged into its owed state, newest per vehicle, so what it
 * costs is bounded by the fleet and not by time. It gets that state in one
 * batch once its transport drains.
 */
import type { BroadcastOperator, Socket } from 'socket.io'
import type { LiveEvents } from '../../schemas/live.v1.js'
import type { Principal } from '../access.js'
import { Pending, type Batch } from './live.pending.js'
import type { Bbox } from './viewport.js'

export interface ViewportSub {
  feed: SocketFeed
  orgId: string
  bbox: Bbox
  /** `<orgId>:<cell>` keys of the covering cells. */
  cells: Set<string>
  /** The vehicles this viewport currently shows (their last fix was in the box). */
  inView: Set<string>
}

/** The engine.io socket's outgoing packet queue (not in its public typings). */
interface EngineInternals {
  writeBuffer: unknown[]
  transport: { writable: boolean; socket?: { bufferedAmount?: number } }
}

export class SocketFeed {
  /** Rooms joined through `join`. */
  readonly rooms = new Set<string>()
  /** Rooms whose snapshot is being read: their updates are owed until the acknowledgement is sent. */
  readonly held = new Set<string>()
  readonly owed = new Map<string, Pending>()
  viewport: ViewportSub | undefined

  /** `owing`: the gateway's set of feeds owed anything, so a flush visits those, not every socket. */
  constructor(
    readonly socket: Socket, public principal: Principal, private readonly alertCap: number,
    private readonly owing: Set<SocketFeed>,
  ) {}

  private get engine(): EngineInternals {
    return this.socket.conn as unknown as EngineInternals
  }

  /** The last write has not drained (WebSocket: its send callback has not fired) or packets wait behind it. */
  backedUp(): boolean {
    const engine = this.engine
    return !engine.transport.writable || engine.writeBuffer.length > 0
  }

  bufferedBytes(): number {
    return this.engine.transport.socket?.bufferedAmount ?? 0
  }

  owe(room: string): Pending {
    let p = this.owed.get(room)
    if (!p) this.owed.set(room, (p = new Pending(this.alertCap)))
    this.owing.add(this)
    return p
  }

  owedSize(): number {
    let n = 0
    for (const p of this.owed.values()) n += p.size
    return n
  }
}

type Target = Pick<BroadcastOperator<Record<string, never>, unknown>, 'emit'> | Pick<Socket, 'emit'>

/** One event per kind of item the batch holds, each tagged with the client's room name. */
export function emitBatch(target: Target, room: string, batch: Batch): void {
  const emit = <E extends keyof LiveEvents>(event: E, payload: LiveEvents[E]) => (target.emit as (e: string, p: unknown) => boolean)(event, payload)
  if (batch.positions.length || batch.gone.length) {
    emit('position', batch.gone.length ? { room, items: batch.positions, gone: batch.gone } : { room, items: batch.positions })
  }
  if (batch.etas.length) emit('eta', { room, items: batch.etas })
  if (batch.alerts.length || batch.droppedAlerts) {
    emit('alert', batch.droppedAlerts ? { room, items: batch.alerts, dropped: batch.droppedAlerts } : { room, items: batch.alerts })
  }
  if (batch.orders.length) emit('order', { room, items: batch.orders })
}
