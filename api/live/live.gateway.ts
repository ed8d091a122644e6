/**
 * Socket.IO namespace /live. The handshake must carry a valid access token
 * (`auth: { token }`). Every socket joins its user's room (notifications); a
 * user holding `live:read` also joins the organization's room (positions), and
 * never another's. Position updates come from the bus (live.positions.v1), read
 * by each API node under its own consumer group so every node sees all of them.
 */
import { randomUUID } from 'node:crypto'
import type { Server as HttpServer } from 'node:http'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { Server, type Namespace } from 'socket.io'
import type { Logger } from 'pino'
import type { Bus, Subscription } from '../../core/bus/bus.js'
import { decodeBatch } from '../../core/bus/decode.js'
import type { Notification } from '../../schemas/notifications.v1.js'
import { LivePositionV1, TOPICS } from '../../schemas/topics.v1.js'
import '../../schemas/formats.js'
import { authenticateToken, type Principal } from '../access.js'
import type { TokenService } from '../auth/tokens.js'
import type { UsersRepository } from '../auth/users.repository.js'

/** Every event the server pushes, with its payload: one map, one `send`. */
export interface LiveEvents {
  position: { vehicleId: string; ts: string; lat: number; lon: number; speed: number | null; heading: number | null }
  notification: Notification
}

export const orgRoom = (orgId: string) => `org:${orgId}`
export const userRoom = (userId: string) => `user:${userId}`

const checkLivePosition = TypeCompiler.Compile(LivePositionV1)

export interface LiveGateway {
  io: Server
  send<E extends keyof LiveEvents>(room: string, event: E, payload: LiveEvents[E]): void
  close(): Promise<void>
}

export interface LiveDeps {
  httpServer: HttpServer
  bus: Bus
  tokens: TokenService
  users: UsersRepository
  logger: Logger
}

export async function startLive(deps: LiveDeps): Promise<LiveGateway> {
  const log = deps.logger.child({ component: 'live' })
  const io = new Server(deps.httpServer, { serveClient: false, cors: { origin: false } })
  const live: Namespace = io.of('/live')

  live.use((socket, next) => {
    const token: unknown = socket.handshake.auth?.token
    if (typeof token !== 'string' || token.length === 0) {
      return next(Object.assign(new Error('unauthorized'), { data: { code: 'unauthorized' } }))
    }
    authenticateToken(token, deps.tokens, deps.users).then(
      (principal) => {
        if (!principal) return next(Object.assign(new Error('invalid token'), { data: { code: 'invalid_token' } }))
        socket.data.principal = principal
        next()
      },
      (err: unknown) => {
        log.error({ err }, 'live handshake failed')
        next(Object.assign(new Error('internal error'), { data: { code: 'internal' } }))
      },
    )
  })
  live.on('connection', (socket) => {
    const principal = socket.data.principal as Principal
    void socket.join(userRoom(principal.userId))
    if (principal.permissions.has('live:read')) void socket.join(orgRoom(principal.orgId))
  })

  const send = <E extends keyof LiveEvents>(room: string, event: E, payload: LiveEvents[E]) => {
    live.to(room).emit(event, payload)
  }

  // Each node reads every live update: a group of its own, starting at the end.
  // The topic may not exist yet when the API starts before any stream process.
  await deps.bus.ensureTopics([TOPICS.livePositions])
  const subscription: Subscription = await deps.bus.subscribe(
    { topic: TOPICS.livePositions, groupId: `api-live-${randomUUID()}`, fromBeginning: false, maxBatchSize: 2000 },
    async (batch) => {
      const updates = decodeBatch(batch, checkLivePosition, (m) =>
        log.error({ offset: m.offset, partition: m.partition }, 'malformed live.positions.v1 message; skipped'),
      )
      for (const value of updates) {
        send(orgRoom(value.orgId), 'position', {
          vehicleId: value.vehicleId, ts: new Date(value.ts).toISOString(), lat: value.lat, lon: value.lon, speed: value.speed, heading: value.heading,
        })
      }
    },
  )

  return {
    io,
    send,
    close: async () => {
      await subscription.close()
      io.disconnectSockets(true)
      // io.close() would also close the HTTP server, which the API owns.
      io.engine.close()
    },
  }
}
