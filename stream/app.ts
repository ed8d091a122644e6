/**
 * The stream service: processors that read bus topics and write ClickHouse,
 * Postgres and live topics. Built from explicit dependencies; opens no port.
 */
import type { ClickHouseClient } from '@clickhouse/client'
import type pg from 'pg'
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import type { Bus } from '../core/bus/bus.js'
import type { Config } from '../core/config.js'
import { TOPICS } from '../schemas/topics.v1.js'
import { AnalyticsProcessor } from './analytics/analytics.processor.js'
import { AnalyticsRepository } from './analytics/analytics.repository.js'
import { DEFAULT_ANALYTICS_SETTINGS } from './analytics/detector.js'
import { startOfflineWatch } from './analytics/offline.js'
import { ReplayRunner } from './analytics/replays.js'
import { Surroundings } from './analytics/surroundings.js'
import { PositionsRepository } from './positions.repository.js'
import { startPositionsProcessor } from './positions.processor.js'
import { DeviceEventsRepository } from './device-events.repository.js'
import { startDeviceEventsProcessor } from './device-events.processor.js'

export interface StreamDeps {
  bus: Bus
  clickhouse: ClickHouseClient
  pool: pg.Pool
  logger: Logger
  registry: Registry
  sinkBatchSize: number
  sinkFlushMs: number
  analytics: Config['analytics']
}

export interface Stream {
  analytics: AnalyticsProcessor
  /** Stops consuming after the batches in flight; uncommitted messages are redelivered to the next owner. */
  close(): Promise<void>
}

export async function startStream(deps: StreamDeps): Promise<Stream> {
  const a = deps.analytics
  const analyticsRepository = new AnalyticsRepository(deps.clickhouse)
  const surroundings = new Surroundings(
    deps.pool,
    analyticsRepository,
    {
      settings: {
        ...DEFAULT_ANALYTICS_SETTINGS,
        stopMinS: a.stopMinS, tripMinDistanceM: a.tripMinDistanceM, idleMinS: a.idleMinS, overspeedMinS: a.overspeedMinS,
      },
      defaultOverspeedKmh: a.overspeedKmh,
      refreshMs: a.refreshMs,
      profileRefreshMs: a.profileRefreshMs,
    },
    deps.logger,
  )
  await surroundings.start()
  const analytics = new AnalyticsProcessor({
    repository: analyticsRepository, surroundings, pool: deps.pool, bus: deps.bus, logger: deps.logger, registry: deps.registry,
    reorderWindowMs: a.reorderWindowMs,
  })
  await deps.bus.ensureTopics([TOPICS.liveAlerts, TOPICS.liveEtas])
  analytics.start()
  const offline = startOfflineWatch({ pool: deps.pool, bus: deps.bus, logger: deps.logger, offlineAfterMs: a.offlineAfterMs, checkEveryMs: Math.min(60_000, a.offlineAfterMs) })
  const replays = new ReplayRunner({ pool: deps.pool, processor: analytics, logger: deps.logger, pollMs: Math.min(2000, a.refreshMs) })
  replays.start()
  const subscriptions = await startPositionsProcessor({
    bus: deps.bus,
    repository: new PositionsRepository(deps.clickhouse, deps.pool),
    logger: deps.logger,
    registry: deps.registry,
    batchSize: deps.sinkBatchSize,
    flushMs: deps.sinkFlushMs,
    afterStore: (positions) => analytics.process(positions),
  })
  subscriptions.push(await startDeviceEventsProcessor({
    bus: deps.bus, repository: new DeviceEventsRepository(deps.clickhouse, deps.pool), logger: deps.logger, registry: deps.registry,
  }))
  deps.logger.info({ processors: ['positions-sink', 'positions-live', 'analytics', 'device-events'] }, 'stream started')
  return {
    analytics,
    close: async () => {
      offline.stop()
      await replays.stop()
      await Promise.all(subscriptions.map((s) => s.close()))
      await analytics.close()
      surroundings.stop()
    },
  }
}
