/**
 * Two consumer groups on telemetry.positions.v1, each with its own offsets:
 * - `stream-positions-sink` writes facts to ClickHouse and the latest position
 *   to Postgres in big batches (by size, or at most every SINK_FLUSH_MS; the
 *   partitions' batches together, up to SINK_BATCH_SIZE fixes), and commits
 *   only after both writes succeeded;
 * - `stream-positions-live` publishes each vehicle's newer position to
 *   live.positions.v1 at once, so live latency does not wait for the sink batch
 *   (its offsets are committed lazily: a restart may publish up to a second of
 *   positions again).
 */
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { Counter, Histogram, type Registry } from 'prom-client'
import type { Logger } from 'pino'
import type { Bus, ConsumedBatch, Subscription } from '../core/bus/bus.js'
import { decodeBatch } from '../core/bus/decode.js'
import { GatheringWriter } from '../core/batcher.js'
import { LivePositionV1, PositionV1, TOPICS } from '../schemas/topics.v1.js'
import '../schemas/formats.js'
import type { PositionsRepository } from './positions.repository.js'

const checkPosition = TypeCompiler.Compile(PositionV1)

export const SINK_GROUP = 'stream-positions-sink'
/** How long a partition's sink batch waits for the other partitions' batches of the same fetch. */
const SINK_GATHER_MS = 20
export const LIVE_GROUP = 'stream-positions-live'

export interface PositionsProcessorDeps {
  bus: Bus
  repository: PositionsRepository
  logger: Logger
  registry: Registry
  batchSize: number
  flushMs: number
  /** Runs on each sink batch once its fixes are stored, before the commit (stream/analytics). */
  afterStore?: (positions: PositionV1[]) => Promise<void>
}

function createMetrics(registry: Registry) {
  return {
    written: new Counter({ name: 'fleetpulse_stream_positions_written_total', help: 'Fixes written to ClickHouse', registers: [registry] }),
    writeFailures: new Counter({ name: 'fleetpulse_stream_write_failures_total', help: 'Failed sink batches (redelivered)', registers: [registry] }),
    malformed: new Counter({ name: 'fleetpulse_stream_malformed_total', help: 'Bus messages that do not match their topic schema (skipped)', registers: [registry] }),
    stage: new Histogram({
      name: 'fleetpulse_stream_sink_stage_seconds',
      help: 'Time a sink batch spends in each stage: clickhouse (the fact rows), latest (Postgres latest positions), analytics',
      labelNames: ['stage'] as const,
      buckets: [0.005, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    livePublished: new Counter({ name: 'fleetpulse_stream_live_published_total', help: 'Position updates published to live.positions.v1', registers: [registry] }),
  }
}

/** Newest fix per vehicle in a list. */
export function newestPerVehicle(positions: PositionV1[]): PositionV1[] {
  const newest = new Map<string, PositionV1>()
  for (const p of positions) {
    const seen = newest.get(p.vehicleId)
    if (!seen || p.ts > seen.ts) newest.set(p.vehicleId, p)
  }
  return [...newest.values()]
}

export async function startPositionsProcessor(deps: PositionsProcessorDeps): Promise<Subscription[]> {
  const { bus, repository } = deps
  const log = deps.logger.child({ component: 'positions-processor' })
  const metrics = createMetrics(deps.registry)
  await bus.ensureTopics([TOPICS.positions, TOPICS.livePositions])

  const decode = (batch: ConsumedBatch): PositionV1[] =>
    decodeBatch(batch, checkPosition, (m) => {
      // Ingest validated it: a mismatch here is a producer bug, never device input.
      metrics.malformed.inc()
      log.error({ partition: m.partition, offset: m.offset }, 'malformed message on telemetry.positions.v1; skipped')
    })

  // The partitions' batches of a fetch are stored together: see GatheringWriter.
  const store = new GatheringWriter<PositionV1>(async (parts) => {
    // Sorted by name (partition and offsets), so the same batches give the same token and rows whatever their arrival order.
    parts.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    const positions = parts.length === 1 ? parts[0]!.items : parts.flatMap((p) => p.items)
    try {
      let end = metrics.stage.startTimer({ stage: 'clickhouse' })
      await repository.insertFacts(positions, `${TOPICS.positions}:${parts.map((p) => p.name).join(',')}`)
      end()
      end = metrics.stage.startTimer({ stage: 'latest' })
      await repository.upsertLatest(newestPerVehicle(positions))
      end()
      if (deps.afterStore) {
        end = metrics.stage.startTimer({ stage: 'analytics' })
        await deps.afterStore(positions)
        end()
      }
    } catch (err) {
      metrics.writeFailures.inc()
      throw err
    }
    metrics.written.inc(positions.length)
  }, { gatherMs: SINK_GATHER_MS, maxSize: deps.batchSize, concurrency: 2 })
  const sink = await bus.subscribe(
    { topic: TOPICS.positions, groupId: SINK_GROUP, fromBeginning: true, maxBatchSize: deps.batchSize, maxWaitMs: deps.flushMs },
    async (batch) => {
      const positions = decode(batch)
      if (positions.length === 0) return
      const first = batch.messages[0]!.offset
      const last = batch.messages[batch.messages.length - 1]!.offset
      await store.add(positions, `${batch.partition}:${first}-${last}`)
    },
  )

  // Newest ts published per vehicle, so a late fix never moves a live map back.
  const liveTs = new Map<string, number>()
  const live = await bus.subscribe(
    { topic: TOPICS.positions, groupId: LIVE_GROUP, fromBeginning: false, maxBatchSize: 1000, maxWaitMs: 0, commitIntervalMs: 1000 },
    async (batch) => {
      const updates = newestPerVehicle(decode(batch)).filter((p) => p.ts > (liveTs.get(p.vehicleId) ?? -Infinity))
      if (updates.length === 0) return
      await bus.publish(
        TOPICS.livePositions,
        updates.map((p) => {
          const msg: LivePositionV1 = {
            orgId: p.orgId, vehicleId: p.vehicleId, ts: p.ts, lat: p.lat, lon: p.lon,
            speed: p.speed ?? null, heading: p.heading ?? null, h3: p.h3,
          }
          return { key: p.vehicleId, decoded: msg }
        }),
      )
      for (const p of updates) liveTs.set(p.vehicleId, p.ts)
      metrics.livePublished.inc(updates.length)
    },
  )
  return [sink, live]
}
