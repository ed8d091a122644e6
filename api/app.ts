/**
 * Builds the API from explicit dependencies: Fastify with every route, the
 * access hook, problem+json errors and OpenAPI. Reads no environment and opens
 * no port (server.ts does both, and attaches Socket.IO).
 */
import { randomUUID } from 'node:crypto'
import cors from '@fastify/cors'
import helmet from '@fastify/helmet'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { ClickHouseClient } from '@clickhouse/client'
import type pg from 'pg'
import type { Bus } from '../core/bus/bus.js'
import { TOPICS } from '../schemas/topics.v1.js'
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import '../schemas/formats.js'
import { registerAccessControl, type RouteAccess } from './access.js'
import { AuditReader, AuditRepository } from './audit/audit.repository.js'
import { auditRoutes } from './audit/audit.routes.js'
import { AuditService } from './audit/audit.service.js'
import { authRoutes } from './auth/auth.routes.js'
import { AuthService } from './auth/auth.service.js'
import { TokenService } from './auth/tokens.js'
import { RefreshTokensRepository, UsersRepository } from './auth/users.repository.js'
import { registerErrorHandling } from './errors.js'
import { healthRoutes, type ReadinessCheck } from '../core/health.js'
import { registerOpenApi } from './openapi.js'
import { OrganizationsRepository } from './organizations/organizations.repository.js'
import { organizationsRoutes } from './organizations/organizations.routes.js'
import { OrganizationsService } from './organizations/organizations.service.js'
import { registerRateLimits, type RateLimitSettings } from './rate-limits.js'
import type { Notifications } from './notifications/notifications.module.js'
import { notificationsRoutes } from './notifications/notifications.routes.js'
import { usersRoutes } from './users/users.routes.js'
import { registerValidation } from './validation.js'
import { UsersService } from './users/users.service.js'
import { TrackRepository } from './vehicles/track.repository.js'
import { vehiclesRoutes } from './vehicles/vehicles.routes.js'
import { VehiclesService } from './vehicles/vehicles.service.js'
import { VehiclesRepository } from './vehicles/vehicles.repository.js'
import { DevicesRepository } from './devices/devices.repository.js'
import type { DocumentStore } from '../core/documents-store.js'
import { DocumentsRepository } from './documents/documents.repository.js'
import { documentsRoutes } from './documents/documents.routes.js'
import { DocumentsService } from './documents/documents.service.js'
import { WebhookBackgroundCheckProvider } from './drivers/background-check.js'
import { DriversRepository } from './drivers/drivers.repository.js'
import { BACKGROUND_CHECK_CALLBACK_PATH, driversRoutes } from './drivers/drivers.routes.js'
import { DriversService } from './drivers/drivers.service.js'
import { devicesRoutes } from './devices/devices.routes.js'
import { AnalyticsReader } from './analytics/analytics.repository.js'
import { analyticsRoutes } from './analytics/analytics.routes.js'
import { AnalyticsService } from './analytics/analytics.service.js'
import { consoleRoutes, type ConsoleOptions } from './console/console.routes.js'
import { DevicesService } from './devices/devices.service.js'
import { GeofencesRepository } from './geofences/geofences.repository.js'
import { geofencesRoutes } from './geofences/geofences.routes.js'
import { GeofencesService } from './geofences/geofences.service.js'
import { DestinationsRepository } from './destinations/destinations.repository.js'
import { destinationsRoutes } from './destinations/destinations.routes.js'
import { DestinationsService } from './destinations/destinations.service.js'
import { AnalyticsSettingsRepository } from './analytics/analytics-settings.repository.js'
import { analyticsSettingsRoutes } from './analytics/analytics-settings.routes.js'
import { AnalyticsSettingsService } from './analytics/analytics-settings.service.js'
import { AlertRulesCache } from './alerts/alert-rules.consumer.js'
import { AlertRulesRepository } from './alerts/alert-rules.repository.js'
import { alertRulesRoutes } from './alerts/alert-rules.routes.js'
import { AlertRulesService } from './alerts/alert-rules.service.js'
import { OrderEvents, type OrderTelemetryPort } from './orders/order-events.js'
import { PostgresOrderTelemetry } from './orders/order-telemetry.js'
import { OrderActivityRepository, OrdersRepository } from './orders/orders.repository.js'
import { ordersRoutes } from './orders/orders.routes.js'
import { OrdersService } from './orders/orders.service.js'
import { TicketEventsRepository, TicketsRepository } from './tickets/tickets.repository.js'
import { ticketsRoutes } from './tickets/tickets.routes.js'
import { TicketsService } from './tickets/tickets.service.js'

export interface ApiDeps {
  pool: pg.Pool
  /** Absent on an API node without ClickHouse: analytics routes answer 503. */
  clickhouse: ClickHouseClient | undefined
  logger: Logger
  registry: Registry
  /** Device changes are announced to ingest on the bus (control.devices.v1). */
  bus: Bus
  jwtSecret: string
  accessTokenTtlS: number
  refreshTokenTtlS: number
  readiness: Record<string, ReadinessCheck>
  rateLimit: RateLimitSettings
  /** Inbox, settings, and the dispatcher services call notify on (api/notifications). */
  notifications: Notifications
  documents: { store: DocumentStore; maxBytes: number }
  drivers: { publicUrl: string; backgroundCheck: { url: string | undefined; secret: string | undefined }; maxActiveVehiclesPerDriver: number }
  /** The dispatcher console served at / (absent: no console routes). */
  console?: ConsoleOptions
  /** Browser origins allowed by CORS; empty = no cross-origin access. */
  corsOrigins: string[]
  /** The stream side of dispatch (destination, ETA, arrival); default: nothing. */
  orderTelemetry?: OrderTelemetryPort
  bodyLimit?: number
}

export interface Api {
  app: FastifyInstance
  tokens: TokenService
  users: UsersRepository
  /** Every route with the permission it requires (for the route-walking tests and the docs). */
  routes: RouteAccess[]
  /** server.ts runs its expiry reminders on a timer. */
  documents: DocumentsService
  /** server.ts runs the alert-rule evaluator on them (the cache is the one rule changes invalidate). */
  alertRules: { repository: AlertRulesRepository; cache: AlertRulesCache }
  orders: OrdersService
  /** The alert consumer opens tickets for dashcam events through it (openTicketFromEvent). */
  tickets: TicketsService
}

/** How long an API process matches alerts against cached rules before it reads them again (another process's change). */
const ALERT_RULES_CACHE_TTL_MS = 5000

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

export async function buildApi(deps: ApiDeps): Promise<Api> {
  const app = Fastify({
    loggerInstance: deps.logger.child({ component: 'api' }) as FastifyBaseLogger,
    bodyLimit: deps.bodyLimit ?? 1024 * 1024,
    // Long path parameters reach validation (a clear 400), not the router's bare 414.
    routerOptions: { maxParamLength: 2048 },
    // A caller's request id is kept if it is sane, so logs correlate across services.
    genReqId: (req) => {
      const given = req.headers['x-request-id']
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
    },
  }).withTypeProvider<TypeBoxTypeProvider>()

  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id)
  })

  const tokens = new TokenService(deps.jwtSecret, deps.accessTokenTtlS)
  const users = new UsersRepository(deps.pool)
  const refreshTokens = new RefreshTokensRepository(deps.pool)
  const audit = new AuditRepository(deps.pool)
  const auditReader = new AuditReader(deps.pool)

  registerValidation(app)
  const routes = registerAccessControl(app, tokens, users)
  registerErrorHandling(app, routes)
  // The docs UI serves its own static CSP-compatible assets (see openapi.ts).
  await app.register(helmet, { global: true })
  await app.register(cors, { origin: deps.corsOrigins.length ? deps.corsOrigins : false, credentials: false, maxAge: 600 })
  await registerRateLimits(app, deps.rateLimit)
  await registerOpenApi(app)

  await app.register(healthRoutes, { checks: deps.readiness, registry: deps.registry })
  await app.register(authRoutes, {
    service: new AuthService(users, refreshTokens, tokens, audit, deps.refreshTokenTtlS),
  })
  await app.register(organizationsRoutes, {
    service: new OrganizationsService(deps.pool, new OrganizationsRepository(deps.pool), users, audit),
  })
  await app.register(notificationsRoutes, { service: deps.notifications.service })
  await app.register(auditRoutes, { service: new AuditService(auditReader) })
  await app.register(usersRoutes, { service: new UsersService(deps.pool, users, refreshTokens, audit) })
  const vehicles = new VehiclesRepository(deps.pool)
  await app.register(vehiclesRoutes, {
    service: new VehiclesService(
      deps.pool, vehicles, audit, auditReader, deps.clickhouse ? new TrackRepository(deps.clickhouse) : undefined, deps.drivers.maxActiveVehiclesPerDriver,
      deps.notifications.dispatcher,
    ),
  })
  const { backgroundCheck } = deps.drivers
  const drivers = new DriversRepository(deps.pool)
  await app.register(driversRoutes, {
    backgroundCheckSecret: backgroundCheck.secret,
    service: new DriversService(
      deps.pool, drivers, vehicles, users, audit, auditReader,
      backgroundCheck.url && backgroundCheck.secret ? new WebhookBackgroundCheckProvider(backgroundCheck.url, backgroundCheck.secret) : undefined,
      { callbackUrl: `${deps.drivers.publicUrl}${BACKGROUND_CHECK_CALLBACK_PATH}`, maxActiveVehiclesPerDriver: deps.drivers.maxActiveVehiclesPerDriver },
      deps.notifications.dispatcher,
    ),
  })
  const documents = new DocumentsService(
    deps.pool, new DocumentsRepository(deps.pool), deps.documents.store, vehicles, drivers, audit, deps.notifications.dispatcher,
    deps.documents.maxBytes, deps.logger,
  )
  await app.register(documentsRoutes, { service: documents, maxBytes: deps.documents.maxBytes })
  await deps.bus.ensureTopics([TOPICS.deviceControl])
  await app.register(devicesRoutes, {
    service: new DevicesService(deps.pool, new DevicesRepository(deps.pool), vehicles, audit, deps.bus, deps.logger),
  })
  await app.register(analyticsRoutes, {
    service: new AnalyticsService(deps.pool, deps.clickhouse ? new AnalyticsReader(deps.clickhouse) : undefined, audit),
  })
  if (deps.console) await app.register(consoleRoutes, deps.console)
  await app.register(geofencesRoutes, { service: new GeofencesService(deps.pool, new GeofencesRepository(deps.pool), audit) })
  const destinations = new DestinationsRepository(deps.pool)
  await app.register(destinationsRoutes, { service: new DestinationsService(deps.pool, destinations, vehicles, audit) })
  await app.register(analyticsSettingsRoutes, { service: new AnalyticsSettingsService(deps.pool, new AnalyticsSettingsRepository(deps.pool), audit) })
  const alertRules = new AlertRulesRepository(deps.pool)
  const alertRulesCache = new AlertRulesCache(alertRules, ALERT_RULES_CACHE_TTL_MS)
  await app.register(alertRulesRoutes, {
    service: new AlertRulesService(deps.pool, alertRules, audit, (orgId) => alertRulesCache.invalidate(orgId)),
  })
  await deps.bus.ensureTopics([TOPICS.liveOrders])
  const ordersRepository = new OrdersRepository(deps.pool)
  const orders = new OrdersService(
    deps.pool, ordersRepository, new OrderActivityRepository(deps.pool), drivers, vehicles, documents, audit,
    deps.notifications.dispatcher, new OrderEvents(deps.bus, deps.orderTelemetry ?? new PostgresOrderTelemetry(deps.pool, destinations, audit), deps.logger.child({ component: 'orders' })),
  )
  await app.register(ordersRoutes, { service: orders, maxBytes: deps.documents.maxBytes })
  const tickets = new TicketsService(
    deps.pool, new TicketsRepository(deps.pool), new TicketEventsRepository(deps.pool), drivers, vehicles, ordersRepository, users, documents, audit,
    deps.notifications.dispatcher,
  )
  await app.register(ticketsRoutes, { service: tickets, maxBytes: deps.documents.maxBytes })
  await app.ready()
  return { app, tokens, users, routes, documents, alertRules: { repository: alertRules, cache: alertRulesCache }, orders, tickets }
}
