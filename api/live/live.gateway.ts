/**
 * Socket.IO namespace /live. The handshake must carry a valid access token
 * (`auth: { token }`); every socket joins its user's room (notifications) and
 * then asks for rooms with `join` (org, vehicle, viewport, geofence), each
 * acknowledged with a snapshot or a coded error (schemas/live.v1.ts).
 *
 * Updates come from the bus (live.positions.v1, live.etas.v1, live.alerts.v1,
 * live.orders.v1), read by each API node under consumer groups of its own, so
 * every node sees all of them and serves its own sockets: no sticky sessions,
 * no Redis. They are routed to rooms and viewports (live.router.ts),
 * coalesced per room (live.pending.ts) and flushed every
 * LIVE_COALESCE_MS as one batch per room and event, encoded once for all the
 * room's sockets; a socket whose transport is backed up is skipped and owed
 * the newest state instead (live.feeds.ts), so nothing queues up behind it.
 */
import { randomUUID } from 'node:crypto'
import type { Server as HttpServer } from 'node:http'
import type { TSchema } from '@sinclair/typebox'
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'
import { Server, type Namespace, type Socket } from 'socket.io'
import type pg from 'pg'
import type { Logger } from 'pino'
import { Counter, Gauge, type Registry } from 'prom-client'
import type { Bus, Subscription } from '../../core/bus/bus.js'
import { decodeBatch } from '../../core/bus/decode.js'
import {
  JoinRequest, LeaveRequest, type JoinAck, type LeaveAck, type LiveAlert, type LiveError, type LiveEvents, type LivePosition, type Snapshot,
  type SnapshotVehicle,
} from '../../schemas/live.v1.js'
import { LiveAlertV1, LiveEtaV1, LiveOrderV1, LivePositionV1, TOPICS } from '../../schemas/topics.v1.js'
import '../../schemas/formats.js'
import { authenticateToken, principalOfUser, samePowers, type Principal } from '../access.js'
import type { TokenService } from '../auth/tokens.js'
import type { UsersRepository } from '../auth/users.repository.js'
import { SocketFeed, emitBatch, type ViewportSub } from './live.feeds.js'
import type { Batch } from './live.pending.js'
import { LiveRouter, VIEWPORT, geofenceRoom, orgRoom, publicRoom, userRoom, vehicleRoom, type OrgState } from './live.router.js'
import { LiveRepository, type VehicleRow } from './live.repository.js'
import { coarseResolution, coverBbox, inBbox, type Bbox } from './viewport.js'

export type { LiveEvents }

export { orgRoom, userRoom, vehicleRoom } from './live.router.js'

export interface LiveSettings {
  h3Resolution: number
  coalesceMs: number
  viewportMaxCells: number
  alertBuffer: number
  maxRoomsPerSocket: number
  /** How often the users of this node's sockets are read again (see recheckUsers). */
  userRecheckMs: number
}

export interface LiveStats {
  sockets: number
  /** Sockets whose transport has not drained its last write. */
  backedUp: number
  /** Items owed to backed-up sockets, over all of them. */
  owedItems: number
  /** Bytes the largest socket has queued in its WebSocket, not yet taken by the kernel. */
  maxBufferedBytes: number
  pendingRooms: number
}

export interface LiveGateway {
  io: Server
  send<E extends keyof LiveEvents>(room: string, event: E, payload: LiveEvents[E]): void
  stats(): LiveStats
  close(): Promise<void>
}

export interface LiveDeps {
  httpServer: HttpServer
  bus: Bus
  pool: pg.Pool
  tokens: TokenService
  users: UsersRepository
  logger: Logger
  registry: Registry
  settings: LiveSettings
}

const checks = {
  position: TypeCompiler.Compile(LivePositionV1),
  eta: TypeCompiler.Compile(LiveEtaV1),
  alert: TypeCompiler.Compile(LiveAlertV1),
  order: TypeCompiler.Compile(LiveOrderV1),
  join: TypeCompiler.Compile(JoinRequest),
  leave: TypeCompiler.Compile(LeaveRequest),
}

const failure = (code: LiveError['code'], message: string, extra: Partial<LiveError> = {}): { ok: false; error: LiveError } =>
  ({ ok: false, error: { code, message, ...extra } })

export async function startLive(deps: LiveDeps): Promise<LiveGateway> {
  const log = deps.logger.child({ component: 'live' })
  const { settings } = deps
  const coarse = coarseResolution(settings.h3Resolution)
  const repo = new LiveRepository(deps.pool)
  const io = new Server(deps.httpServer, { serveClient: false, cors: { origin: false } })
  const live: Namespace = io.of('/live')

  const feeds = new Map<string, SocketFeed>()
  /** Feeds owed updates (held, backed up, or a viewport's items): the flush visits only these. */
  const owing = new Set<SocketFeed>()
  const router = new LiveRouter((room) => live.adapter.rooms.has(room), coarse, settings.alertBuffer)
  const roomPending = router.pending

  const metrics = {
    sockets: new Gauge({ name: 'fleetpulse_live_sockets', help: 'Open /live sockets on this node', registers: [deps.registry], collect() { this.set(feeds.size) } }),
    owed: new Gauge({
      name: 'fleetpulse_live_owed_items', help: 'Updates held for backed-up sockets (newest per vehicle, bounded)', registers: [deps.registry],
      collect() { let n = 0; for (const f of feeds.values()) n += f.owedSize(); this.set(n) },
    }),
    delivered: new Counter({ name: 'fleetpulse_live_items_delivered_total', help: 'Feed items written to sockets (items x recipients)', labelNames: ['event'] as const, registers: [deps.registry] }),
    skipped: new Counter({ name: 'fleetpulse_live_backpressure_skips_total', help: 'Flushes a backed-up socket was skipped (its newest state is kept for it)', registers: [deps.registry] }),
    userDisconnects: new Counter({
      name: 'fleetpulse_live_user_disconnects_total', help: 'Sockets disconnected because their user was deactivated, deleted or changed', registers: [deps.registry],
    }),
  }
  const countDelivered = (batch: Batch, recipients: number) => {
    if (recipients <= 0) return
    if (batch.positions.length || batch.gone.length) metrics.delivered.inc({ event: 'position' }, (batch.positions.length + batch.gone.length) * recipients)
    if (batch.etas.length) metrics.delivered.inc({ event: 'eta' }, batch.etas.length * recipients)
    if (batch.alerts.length) metrics.delivered.inc({ event: 'alert' }, batch.alerts.length * recipients)
    if (batch.orders.length) metrics.delivered.inc({ event: 'order' }, batch.orders.length * recipients)
  }

  // ---- handshake and the join / leave protocol -------------------------------------------------------------
  live.use((socket, next) => {
    const token: unknown = socket.handshake.auth?.token
    if (typeof token !== 'string' || token.length === 0) {
      return next(Object.assign(new Error('unauthorized'), { data: { code: 'unauthorized' } }))
    }
    authenticateToken(token, deps.tokens, deps.users).then(
      (principal) => {
        if (!principal) return next(Object.assign(new Error('invalid token'), { data: { code: 'invalid_token' } }))
        socket.data.principal = principal
        socket.data.token = token
        next()
      },
      (err: unknown) => {
        log.error({ err }, 'live handshake failed')
        next(Object.assign(new Error('internal error'), { data: { code: 'internal' } }))
      },
    )
  })

  live.on('connection', (socket: Socket) => {
    const principal = socket.data.principal as Principal
    const feed = new SocketFeed(socket, principal, settings.alertBuffer, owing)
    feeds.set(socket.id, feed)
    void socket.join(userRoom(principal.userId))
    // The access token's lifetime is the socket's: at its expiry the client reconnects with a fresh one.
    // A user deactivated or changed before then is caught by recheckUsers.
    const expiresAt = (socket.data.principal as Principal).tokenExpiresAt
    const expiry = expiresAt ? setTimeout(() => socket.disconnect(true), Math.max(0, expiresAt * 1000 - Date.now())) : undefined
    expiry?.unref()
    socket.on('join', (req: unknown, ack: unknown) => {
      const reply = typeof ack === 'function' ? (ack as (a: JoinAck) => void) : () => {}
      join(feed, req).then(reply, (err: unknown) => {
        log.error({ err, userId: principal.userId }, 'live join failed')
        reply(failure('internal', 'the join failed; try again'))
      })
    })
    socket.on('leave', (req: unknown, ack: unknown) => {
      const reply = typeof ack === 'function' ? (ack as (a: LeaveAck) => void) : () => {}
      reply(leave(feed, req))
    })
    socket.on('disconnect', () => {
      if (expiry) clearTimeout(expiry)
      dropViewport(feed)
      feeds.delete(socket.id)
      owing.delete(feed)
    })
  })

  const valid = <T extends TSchema>(check: TypeCheck<T>, value: unknown): string | undefined => {
    if (check.Check(value)) return undefined
    const first = check.Errors(value).First()
    return first ? `${first.path || '/'} ${first.message}` : 'malformed request'
  }

  // Consoles of one organization joining together (a reconnect storm after a deploy) share one read:
  // a row a moment old is fine, snapshotVehicle puts this node's newer position on top.
  const snapshotReads = new Map<string, Promise<VehicleRow[]>>()
  function orgSnapshot(orgId: string): Promise<VehicleRow[]> {
    let read = snapshotReads.get(orgId)
    if (!read) {
      read = repo.orgVehicles(orgId).finally(() => snapshotReads.delete(orgId))
      snapshotReads.set(orgId, read)
    }
    return read
  }

  async function join(feed: SocketFeed, req: unknown): Promise<JoinAck> {
    const problem = valid(checks.join, req)
    if (problem) return failure('invalid_request', `join: ${problem}`)
    const r = req as JoinRequest
    // Each join is judged on the user as they are now (deactivated, or another role since the handshake).
    const current = await authenticateToken(feed.socket.data.token as string, deps.tokens, deps.users)
    if (!current || current.userId !== feed.principal.userId) {
      setImmediate(() => feed.socket.disconnect(true))
      return failure('invalid_token', 'the access token or its user is no longer valid; reconnect with a fresh token')
    }
    feed.principal = current
    const p = feed.principal
    const canRead = p.permissions.has('live:read')
    if (r.room === 'viewport') {
      if (!canRead) return failure('forbidden', 'a viewport needs the permission live:read')
      return joinViewport(feed, r.bbox)
    }
    let room: string
    let rows: () => Promise<VehicleRow[]>
    let alerts: (a: LiveAlert) => boolean
    if (r.room === 'org') {
      if (!canRead) return failure('forbidden', 'the organization feed needs the permission live:read')
      room = orgRoom(p.orgId)
      rows = () => orgSnapshot(p.orgId)
      alerts = () => true
    } else if (r.room === 'geofence') {
      if (!canRead) return failure('forbidden', 'a geofence feed needs the permission live:read')
      if (!(await repo.geofenceExists(p.orgId, r.geofenceId))) return failure('not_found', 'no such geofence')
      room = geofenceRoom(p.orgId, r.geofenceId)
      rows = async () => []
      alerts = (a) => a.geofenceId === r.geofenceId
    } else {
      // A vehicle: any of the organization's with live:read, a driver's own with own:vehicle; anything else looks missing.
      if (!canRead && !p.permissions.has('own:vehicle')) return failure('forbidden', 'a vehicle feed needs the permission live:read or own:vehicle')
      if (!canRead && !(await repo.driverVehicleIds(p.orgId, p.userId)).includes(r.vehicleId)) {
        return failure('not_found', 'no such vehicle')
      }
      const found = await repo.vehicles(p.orgId, [r.vehicleId])
      if (found.length === 0) return failure('not_found', 'no such vehicle')
      room = vehicleRoom(r.vehicleId)
      rows = async () => found
      alerts = (a) => a.vehicleId === r.vehicleId
    }
    if (!feed.rooms.has(room) && feed.rooms.size >= settings.maxRoomsPerSocket) {
      return failure('too_many_rooms', `a socket holds at most ${settings.maxRoomsPerSocket} rooms; leave one first`)
    }
    // Joined before the snapshot is read, and held back until it is sent: an update arriving
    // meanwhile is either in the snapshot (this node's newest state) or comes after it.
    feed.held.add(room)
    feed.rooms.add(room)
    await feed.socket.join(room)
    try {
      const org = router.org(p.orgId)
      const snapshot: Snapshot = { vehicles: (await rows()).map((row) => snapshotVehicle(org, row)), alerts: org.alerts.filter(alerts) }
      feed.owed.get(room)?.clearState(snapshot.alerts)
      return { ok: true, room: publicRoom(room), snapshot }
    } catch (err) {
      feed.rooms.delete(room)
      feed.owed.delete(room)
      await feed.socket.leave(room)
      throw err
    } finally {
      feed.held.delete(room)
    }
  }

  async function joinViewport(feed: SocketFeed, bbox: Bbox): Promise<JoinAck> {
    const cover = coverBbox(bbox, coarse, settings.viewportMaxCells)
    if (!cover.ok) {
      return cover.reason === 'empty'
        ? failure('invalid_request', 'join: the viewport is empty (south must be below north, west differ from east)')
        : failure('viewport_too_large', `the viewport needs more than ${settings.viewportMaxCells} H3 cells of resolution ${coarse}; zoom in, or join the org room`,
          { maxCells: settings.viewportMaxCells, fallback: 'org' })
    }
    const orgId = feed.principal.orgId
    const org = router.org(orgId)
    dropViewport(feed)
    const sub: ViewportSub = { feed, orgId, bbox, cells: new Set(cover.cells.map((c) => `${orgId}:${c}`)), inView: new Set() }
    router.addViewport(sub)
    feed.viewport = sub
    feed.held.add(VIEWPORT)
    try {
      const inMemory = [...org.positions.values()].filter((pos) => inBbox(bbox, pos.lat, pos.lon)).map((pos) => pos.vehicleId)
      const rows = await repo.vehiclesInBbox(orgId, bbox, inMemory)
      if (feed.viewport !== sub) return failure('invalid_request', 'replaced by a newer viewport')
      const vehicles = rows.map((row) => snapshotVehicle(org, row)).filter((v) => v.position && inBbox(bbox, v.position.lat, v.position.lon))
      sub.inView = new Set(vehicles.map((v) => v.vehicleId))
      const alerts = org.alerts.filter((a) => a.lat !== null && a.lon !== null && inBbox(bbox, a.lat, a.lon))
      feed.owed.get(VIEWPORT)?.clearState(alerts)
      return { ok: true, room: VIEWPORT, snapshot: { vehicles, alerts } }
    } catch (err) {
      if (feed.viewport === sub) dropViewport(feed)
      throw err
    } finally {
      feed.held.delete(VIEWPORT)
    }
  }

  function dropViewport(feed: SocketFeed): void {
    const sub = feed.viewport
    if (!sub) return
    router.removeViewport(sub)
    feed.viewport = undefined
    feed.owed.delete(VIEWPORT)
  }

  function leave(feed: SocketFeed, req: unknown): LeaveAck {
    const problem = valid(checks.leave, req)
    if (problem) return failure('invalid_request', `leave: ${problem}`)
    const name = (req as LeaveRequest).room
    if (name === VIEWPORT) {
      dropViewport(feed)
      return { ok: true, room: name }
    }
    const room = [...feed.rooms].find((r) => publicRoom(r) === name)
    if (room) {
      feed.rooms.delete(room)
      feed.owed.delete(room)
      void feed.socket.leave(room)
    }
    return { ok: true, room: name }
  }

  function snapshotVehicle(org: OrgState, row: VehicleRow): SnapshotVehicle {
    const stored: LivePosition | null = row.ts !== null && row.lat !== null && row.lon !== null
      ? { vehicleId: row.vehicleId, ts: row.ts, lat: row.lat, lon: row.lon, speed: row.speed, heading: row.heading }
      : null
    const relayed = org.positions.get(row.vehicleId)
    const position = relayed && (!stored || relayed.ts >= stored.ts) ? relayed : stored
    return {
      vehicleId: row.vehicleId, name: row.name, plate: row.plate, state: row.state, driverId: row.driverId, driverName: row.driverName,
      position, eta: org.etas.get(row.vehicleId) ?? null,
    }
  }

  const withoutOrders = (batch: Batch): Batch => ({ ...batch, orders: [] })

  // ---- the flush: one batch per room and event, encoded once; backed-up sockets are owed instead ----------
  function flush(): void {
    for (const [room, pending] of roomPending) {
      roomPending.delete(room)
      const members = live.adapter.rooms.get(room)
      if (!members || pending.isEmpty()) continue
      const batch = pending.take()
      const skip = new Set<string>()
      for (const id of members) {
        const feed = feeds.get(id)
        if (!feed) continue
        // Held for its snapshot, backed up, or owed older updates of this room (which must go first): owed the batch.
        if (feed.held.has(room) || feed.owed.has(room) || feed.backedUp()) {
          feed.owe(room).merge(batch)
          skip.add(id)
        }
      }
      // Order changes go only to sockets whose user may read orders (REST's orders:read); the others get the rest.
      const blind = batch.orders.length
        ? [...members].filter((id) => !skip.has(id) && !feeds.get(id)?.principal.permissions.has('orders:read'))
        : []
      const except = [...skip, ...blind]
      emitBatch(except.length ? live.to(room).except(except) : live.to(room), publicRoom(room), batch)
      countDelivered(batch, members.size - except.length)
      if (blind.length) {
        const rest = withoutOrders(batch)
        emitBatch(live.to(blind), publicRoom(room), rest)
        countDelivered(rest, blind.length)
      }
    }
    for (const feed of owing) {
      if (feed.owed.size === 0) {
        owing.delete(feed)
        continue
      }
      if (feed.backedUp()) {
        metrics.skipped.inc()
        continue
      }
      for (const [room, owed] of feed.owed) {
        if (feed.held.has(room)) continue
        feed.owed.delete(room)
        if (owed.isEmpty()) continue
        const taken = owed.take()
        const batch = feed.principal.permissions.has('orders:read') ? taken : withoutOrders(taken)
        emitBatch(feed.socket, publicRoom(room), batch)
        countDelivered(batch, 1)
      }
    }
  }
  const timer = setInterval(() => {
    try {
      flush()
    } catch (err) {
      log.error({ err }, 'live flush failed')
    }
  }, settings.coalesceMs)
  timer.unref()

  /**
   * The users of this node's sockets, read again in one query: a socket whose
   * user was deactivated, deleted, moved to another organization, or may now
   * do other things (role, platform admin) than when it joined is disconnected
   * (the client reconnects and joins as the user is now). Rooms were granted on
   * the old permissions, so they are not patched in place. Each node checks its
   * own sockets, so it works whichever node made the change. The rule is the
   * one authenticateToken applies (principalOfUser).
   */
  async function recheckUsers(): Promise<void> {
    // Only the sockets there now: one that connects while the query runs is not in it, and was just authenticated anyway.
    const checked = [...feeds.values()]
    if (checked.length === 0) return
    const now = new Map((await deps.users.findByIds([...new Set(checked.map((f) => f.principal.userId))])).map((u) => [u.id, u]))
    for (const feed of checked) {
      if (!feeds.has(feed.socket.id)) continue
      const was = feed.principal
      const is = principalOfUser(now.get(was.userId), was.orgId)
      if (is && samePowers(is, was)) continue
      log.info({ userId: was.userId, reason: is ? 'changed' : 'deleted, deactivated or moved' }, 'live socket of a changed user disconnected')
      metrics.userDisconnects.inc()
      feed.socket.disconnect(true)
    }
  }
  let rechecking = false
  const recheckTimer = setInterval(() => {
    if (rechecking) return
    rechecking = true
    recheckUsers().catch((err: unknown) => log.warn({ err }, 'live user recheck failed')).finally(() => (rechecking = false))
  }, settings.userRecheckMs)
  recheckTimer.unref()

  // Each node reads every live update: groups of its own, starting at the end.
  // The topics may not exist yet when the API starts before any stream process.
  const node = randomUUID()
  await deps.bus.ensureTopics([TOPICS.livePositions, TOPICS.liveEtas, TOPICS.liveAlerts, TOPICS.liveOrders])
  const consume = <T extends TSchema>(topic: string, name: string, check: TypeCheck<T>, handle: (v: import('@sinclair/typebox').Static<T>) => void) =>
    deps.bus.subscribe({ topic, groupId: `api-live-${node}-${name}`, fromBeginning: false, maxBatchSize: 2000, commitIntervalMs: 1000, ephemeral: true }, async (batch) => {
      const values = decodeBatch(batch, check, (m) => log.error({ topic, offset: m.offset, partition: m.partition }, `malformed ${topic} message; skipped`))
      for (const value of values) handle(value)
    })
  const subscriptions: Subscription[] = await Promise.all([
    consume(TOPICS.livePositions, 'positions', checks.position, (v) => router.onPosition(v)),
    consume(TOPICS.liveEtas, 'etas', checks.eta, (v) => router.onEta(v)),
    consume(TOPICS.liveAlerts, 'alerts', checks.alert, (v) => router.onAlert(v)),
    consume(TOPICS.liveOrders, 'orders', checks.order, (v) => router.onOrder(v)),
  ])

  return {
    io,
    send: (room, event, payload) => {
      live.to(room).emit(event, payload)
    },
    stats: () => {
      let backedUp = 0
      let owedItems = 0
      let maxBufferedBytes = 0
      for (const feed of feeds.values()) {
        if (feed.backedUp()) backedUp++
        owedItems += feed.owedSize()
        maxBufferedBytes = Math.max(maxBufferedBytes, feed.bufferedBytes())
      }
      return { sockets: feeds.size, backedUp, owedItems, maxBufferedBytes, pendingRooms: roomPending.size }
    },
    close: async () => {
      clearInterval(timer)
      clearInterval(recheckTimer)
      await Promise.all(subscriptions.map((s) => s.close()))
      io.disconnectSockets(true)
      // io.close() would also close the HTTP server, which the API owns.
      io.engine.close()
    },
  }
}
