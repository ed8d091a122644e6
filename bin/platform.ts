/**
 * The composition root: creates each outside resource once (bus, Postgres,
 * ClickHouse, metrics registry), runs migrations, and starts the roles asked
 * for on top of them. It owns the teardown order, so a graceful stop loses
 * nothing: devices are cut off first, the bus is drained through the stream,
 * then the API and the connectors close.
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises'
import path from 'node:path'
import { startApi, type ApiServer } from '../api/server.js'
import { bootstrapAdmin, type BootstrapResult } from '../api/bootstrap.js'
import type { Bus } from '../core/bus/bus.js'
import { KafkaBus } from '../core/bus/kafka.bus.js'
import { MemoryBus } from '../core/bus/memory.bus.js'
import { createClickHouse, type ClickHouse } from '../core/clickhouse.js'
import type { Config } from '../core/config.js'
import { createLogger, type Logger } from '../core/logger.js'
import { createMetricsRegistry, registerBusMetrics, type Registry } from '../core/metrics.js'
import { applyPositionsTtl, migrateClickHouse, migratePostgres } from '../core/migrate.js'
import { createPostgres, type Postgres } from '../core/postgres.js'
import { generateSecret } from '../core/secrets.js'
import { DevicesRepository } from '../ingest/devices.repository.js'
import { startIngest, type IngestServer } from '../ingest/server.js'
import { startOpsServer } from '../core/ops-server.js'
import { createNotifications, type Notifications } from '../api/notifications/notifications.module.js'
import { startJobQueue } from '../core/jobs.js'
import { createDocumentStore } from '../core/documents-store.js'
import { startStream, type Stream } from '../stream/app.js'
import { CONSOLE_DIR } from '../core/paths.js'

export const ROLES = ['ingest', 'stream', 'api'] as const
export type RoleName = (typeof ROLES)[number]

export interface Platform {
  config: Config
  logger: Logger
  registry: Registry
  bus: Bus
  postgres: Postgres
  clickhouse: ClickHouse | undefined
  bootstrap: BootstrapResult | undefined
  api: ApiServer | undefined
  ingest: IngestServer | undefined
  stream: Stream | undefined
  /** With the api role: other code calls notifications.dispatcher.notify(...). */
  notifications: Notifications | undefined
  /** ops: /healthz, /readyz and /metrics of a process without the API (the API serves them otherwise). */
  urls: { api?: string; docs?: string; mqtt?: string; mqttWs?: string; ops?: string }
  close(): Promise<void>
}

export interface PlatformOptions {
  logger?: Logger
  /** Tests pass 'memory://' for a throwaway PGlite. */
  pgliteDir?: string
}

async function loadJwtSecret(config: Config): Promise<string> {
  if (config.jwtSecret) return config.jwtSecret
  // Embedded mode: generated once and kept, so tokens survive a restart.
  const file = path.join(config.dataDir, 'jwt-secret')
  try {
    return (await readFile(file, 'utf8')).trim()
  } catch {
    const secret = generateSecret(48)
    await mkdir(config.dataDir, { recursive: true })
    await writeFile(file, `${secret}\n`, { mode: 0o600, flag: 'wx' }).catch(async () => undefined)
    return (await readFile(file, 'utf8')).trim()
  }
}

export async function startPlatform(config: Config, roles: RoleName[], options: PlatformOptions = {}): Promise<Platform> {
  const logger = options.logger ?? createLogger(config.logLevel)
  const registry = createMetricsRegistry()
  const bus: Bus = config.kafkaBrokers
    ? new KafkaBus({
      brokers: config.kafkaBrokers, clientId: config.kafkaClientId, partitions: config.busPartitions,
      security: config.kafkaSecurity, replicationFactor: config.kafkaReplicationFactor,
      maxBuffered: config.busMaxBuffered, namespace: config.busNamespace, logger,
    })
    : new MemoryBus({ partitions: config.busPartitions, maxBacklog: config.busMaxBacklog, logger })
  registerBusMetrics(registry, bus)
  const has = (r: RoleName) => roles.includes(r)
  const closers: Array<() => Promise<void>> = []
  let closing: Promise<void> | undefined
  const closeAll = () =>
    (closing ??= (async () => {
      for (const close of [...closers].reverse()) {
        await close().catch((err: unknown) => logger.error({ err }, 'error during shutdown'))
      }
    })())

  try {
    const postgres = await createPostgres({
      databaseUrl: config.databaseUrl,
      pgliteDir: options.pgliteDir ?? path.join(config.dataDir, 'pglite'),
      logger,
    })
    closers.push(() => postgres.close())
    await migratePostgres(postgres, logger)

    // Embedded chDB belongs to the process running the stream role, which also
    // serves the API's analytics reads; a ClickHouse server can be shared.
    let clickhouse: ClickHouse | undefined
    if (has('stream') || (has('api') && config.clickhouseUrl)) {
      clickhouse = await createClickHouse({
        clickhouseUrl: config.clickhouseUrl,
        database: config.clickhouseDatabase,
        chdbDir: path.join(config.dataDir, 'chdb'),
        logger,
      })
      closers.push(() => clickhouse!.close())
      await migrateClickHouse(clickhouse, logger)
      if (has('stream')) await applyPositionsTtl(clickhouse, config.positionsTtlDays, logger)
    }
    closers.push(() => bus.close())

    const platform: Platform = {
      config, logger, registry, bus, postgres, clickhouse,
      bootstrap: undefined, api: undefined, ingest: undefined, stream: undefined, notifications: undefined, urls: {},
      close: async () => {},
    }

    const readiness = {
      postgres: () => postgres.ping(),
      bus: () => bus.isReady(),
      ...(clickhouse ? { clickhouse: () => clickhouse.ping() } : {}),
    }
    if (has('api')) {
      platform.bootstrap = await bootstrapAdmin(postgres.pool, config.adminEmail, config.adminPassword)
      const documentStore = createDocumentStore({ dataDir: config.dataDir, s3: config.documents.s3 })
      closers.push(async () => documentStore.close?.())
      // The durable job queue (pg-boss tables in this Postgres) and the notifications on it. Closers run in
      // reverse: the API stops taking requests, the workers finish their sends, SMTP closes, then Postgres.
      const jobs = await startJobQueue({ pool: postgres.pool, logger, pollIntervalMs: config.jobsPollMs })
      const notifications = createNotifications({ pool: postgres.pool, jobs, logger, config: config.notifications })
      closers.push(() => notifications.close())
      closers.push(() => jobs.stop(config.shutdownTimeoutMs))
      await notifications.start({ work: true })
      platform.notifications = notifications
      platform.api = await startApi(
        {
          host: config.host, port: config.port, documentReminderIntervalMs: config.documents.reminderIntervalMs,
          live: { h3Resolution: config.h3Resolution, ...config.live },
        },
        {
          pool: postgres.pool,
          documents: { store: documentStore, maxBytes: config.documents.maxBytes },
          clickhouse: clickhouse?.client,
          bus,
          logger,
          registry,
          jwtSecret: await loadJwtSecret(config),
          accessTokenTtlS: config.accessTokenTtlS,
          refreshTokenTtlS: config.refreshTokenTtlS,
          readiness,
          notifications,
          rateLimit: config.authRateLimit,
          drivers: {
            // The port is known once the API listens; PUBLIC_URL overrides it (behind a proxy, it must).
            publicUrl: config.publicUrl ?? `http://${config.host}:${config.port}`,
            backgroundCheck: config.backgroundCheck,
            maxActiveVehiclesPerDriver: config.maxActiveVehiclesPerDriver,
          },
          corsOrigins: config.corsOrigins,
          console: { dir: CONSOLE_DIR, tileUrl: config.console.tileUrl, tileAttribution: config.console.tileAttribution },
        },
      )
      closers.push(() => platform.api!.close())
      platform.urls.api = `http://${config.host}:${platform.api.port}`
      platform.urls.docs = `${platform.urls.api}/docs`
    }
    if (has('stream')) {
      platform.stream = await startStream({
        bus, clickhouse: clickhouse!.client, pool: postgres.pool, logger, registry,
        sinkBatchSize: config.sinkBatchSize, sinkFlushMs: config.sinkFlushMs, analytics: config.analytics,
      })
      closers.push(() => platform.stream!.close())
      // Before the stream stops: let it commit everything ingest handed over.
      closers.push(async () => {
        const drained = await bus.drain(config.shutdownTimeoutMs)
        if (!drained) logger.warn({ lag: bus.lag() }, 'shutdown: bus not fully drained before the timeout')
      })
    }
    if (has('ingest')) {
      // Last to start: devices are let in once the pipeline behind them runs.
      platform.ingest = await startIngest(
        { host: config.mqttHost, mqttPort: config.mqttPort, mqttWsPort: config.mqttWsPort },
        {
          bus, devices: new DevicesRepository(postgres.pool), logger, registry,
          h3Resolution: config.h3Resolution, maxPayloadBytes: config.mqttMaxPayloadBytes,
        },
      )
      closers.push(() => platform.ingest!.close())
      platform.urls.mqtt = `mqtt://${config.mqttHost}:${platform.ingest.mqttPort}`
      platform.urls.mqttWs = `ws://${config.mqttHost}:${platform.ingest.mqttWsPort}`
    }
    if (!has('api')) {
      // Opened last, closed first: a probe sees this process only once its roles run.
      const ops = await startOpsServer({ host: config.host, port: config.port }, { checks: readiness, registry, logger })
      closers.push(() => ops.close())
      platform.urls.ops = `http://${config.host}:${ops.port}`
    }
    platform.close = closeAll
    return platform
  } catch (err) {
    await closeAll()
    throw err
  }
}
