/**
 * Runs the replays asked for over REST (table analytics_replays): a stream
 * process claims a pending one (or one whose runner stopped beating), replays
 * each vehicle in turn, and records its progress as it goes. A replay of a
 * vehicle rewrites its facts from the latest checkpoint before `from` through
 * every stored fix after it, exactly as the live run computes them; then the
 * vehicle's epoch is bumped so other stream processes reload its state.
 */
import { randomUUID } from 'node:crypto'
import type pg from 'pg'
import type { Logger } from 'pino'
import type { AnalyticsProcessor } from './analytics.processor.js'

const HEARTBEAT_STALE_S = 60

export interface ReplayRunnerDeps {
  pool: pg.Pool
  processor: AnalyticsProcessor
  logger: Logger
  pollMs: number
}

export class ReplayRunner {
  private readonly id = `stream-${randomUUID()}`
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined
  private stopped = false
  private readonly log: Logger

  constructor(private readonly deps: ReplayRunnerDeps) {
    this.log = deps.logger.child({ component: 'analytics-replays' })
  }

  start(): void {
    this.timer = setInterval(() => this.tick(), this.deps.pollMs)
    this.timer.unref()
    this.tick()
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) clearInterval(this.timer)
    await this.running
  }

  private tick(): void {
    if (this.running || this.stopped) return
    this.running = this.runNext()
      .catch((err: unknown) => this.log.error({ err }, 'replay runner failed; it tries again'))
      .finally(() => (this.running = undefined))
  }

  private async runNext(): Promise<void> {
    for (;;) {
      if (this.stopped) return
      const { rows } = await this.deps.pool.query<{ id: string; org_id: string; vehicle_ids: string[]; from_ts: Date; vehicles_done: number; fixes_read: string }>(
        `UPDATE analytics_replays SET status = 'running', claimed_by = $1, heartbeat_at = now(), started_at = coalesce(started_at, now())
          WHERE id = (SELECT id FROM analytics_replays
                       WHERE status = 'pending' OR (status = 'running' AND heartbeat_at < now() - make_interval(secs => $2))
                       ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
          RETURNING id, org_id, vehicle_ids, from_ts, vehicles_done, fixes_read::text`,
        [this.id, HEARTBEAT_STALE_S],
      )
      const job = rows[0]
      if (!job) return
      this.log.info({ replay: job.id, vehicles: job.vehicle_ids.length }, 'replay started')
      try {
        let fixesRead = Number(job.fixes_read)
        // Resumes after the vehicles a previous runner finished.
        for (let i = job.vehicles_done; i < job.vehicle_ids.length; i++) {
          if (this.stopped) return // another process resumes it once the heartbeat is stale
          const vehicleId = job.vehicle_ids[i]!
          let last = 0
          await this.deps.processor.replay(job.org_id, vehicleId, job.from_ts.getTime(), (p) => {
            fixesRead += p.fixes - last
            last = p.fixes
          })
          const epoch = String(Date.now())
          await this.deps.pool.query(
            `INSERT INTO vehicle_analytics_epochs (vehicle_id, epoch, updated_at) VALUES ($1, $2, now())
             ON CONFLICT (vehicle_id) DO UPDATE SET epoch = EXCLUDED.epoch, updated_at = now()`,
            [vehicleId, epoch],
          )
          this.deps.processor.noteEpoch(vehicleId, epoch)
          await this.deps.pool.query('UPDATE analytics_replays SET vehicles_done = $2, fixes_read = $3, heartbeat_at = now() WHERE id = $1', [job.id, i + 1, fixesRead])
        }
        await this.deps.pool.query(`UPDATE analytics_replays SET status = 'done', finished_at = now() WHERE id = $1`, [job.id])
        this.log.info({ replay: job.id, fixes: fixesRead }, 'replay done')
      } catch (err) {
        this.log.error({ err, replay: job.id }, 'replay failed')
        await this.deps.pool.query(`UPDATE analytics_replays SET status = 'failed', error = $2, finished_at = now() WHERE id = $1`, [job.id, String((err as Error).message).slice(0, 1000)])
      }
    }
  }
}
