/**
 * The stream service: processors that read bus topics and write ClickHouse,
 * Postgres and live topics. Built from explicit dependencies; opens no port.
 */
import type { ClickHouseClient } from '@clickhouse/client'
import type pg from 'pg'
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import type { Bus } from '../core/bus/bus.js'
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
}

export interface Stream {
  /** Stops consuming after the batches in flight; uncommitted messages are redelivered to the next owner. */
  close(): Promise<void>
}

export async function startStream(deps: StreamDeps): Promise<Stream> {
  const subscriptions = await startPositionsProcessor({
    bus: deps.bus,
    repository: new PositionsRepository(deps.clickhouse, deps.pool),
    logger: deps.logger,
    registry: deps.registry,
    batchSize: deps.sinkBatchSize,
    flushMs: deps.sinkFlushMs,
  })
  subscriptions.push(await startDeviceEventsProcessor({
    bus: deps.bus, repository: new DeviceEventsRepository(deps.clickhouse, deps.pool), logger: deps.logger, registry: deps.registry,
  }))
  deps.logger.info({ processors: ['positions-sink', 'positions-live'] }, 'stream started')
  return {
    close: async () => {
      await Promise.all(subscriptions.map((s) => s.close()))
    },
  }
}
