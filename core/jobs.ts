/**
 * The durable job queue: pg-boss (10.x, its tables in the `pgboss` schema) over
 * the platform's own `pg` pool, so it runs the same on PostgreSQL and on
 * embedded PGlite. A job survives a restart: it is a row until a worker
 * completes it, and a worker that dies holding one lets it expire and run again.
 *
 * Embedded PGlite has one pool connection, so this module never holds a
 * connection while asking for another: each pg-boss statement is one
 * `pool.query`, and `send({ db })` writes a job on the caller's transaction
 * client (the job then commits or rolls back with the caller's change).
 *
 * Workers are a loop of our own over `fetch`, not pg-boss `work()`: `work()`
 * sleeps a full polling interval after every batch, even a full one, and
 * completes jobs without awaiting the write. Here a worker fetches again at once
 * while jobs keep coming, runs up to `concurrency` handlers at a time, awaits
 * each completion, and sleeps only when the queue is empty (or until `wake`).
 */
import PgBoss from 'pg-boss'
import type pg from 'pg'
import type { Logger } from 'pino'
import { settlesWithin } from './settle.js'

/** A pool or a client inside a transaction. */
export type Queryable = Pick<pg.Pool, 'query'>

export interface Job<T> {
  id: string
  name: string
  data: T
  /** How many times the queue has already retried this job after a handler threw. */
  retryCount: number
}

export type JobHandler<T> = (job: Job<T>) => Promise<void>

export interface QueuePolicy {
  /** Retries after a handler throws (a crash or a lost database); 0 = none. */
  retryLimit: number
  /** Seconds before the first such retry, doubling each time (pg-boss counts whole seconds). */
  retryDelayS: number
  /** A job held longer than this by a worker (say one that died) goes back to the queue. */
  expireInS: number
}

export interface SendOptions {
  /** Run no sooner than this many milliseconds from now (the database clock decides). */
  delayMs?: number
  /** A client inside the caller's transaction: the job exists only if that transaction commits. */
  db?: Queryable
}

export interface WorkOptions {
  /** Handlers running at once in this process. */
  concurrency: number
}

export interface JobQueue {
  /** Creates the queue if it does not exist (idempotent); required before send or work. */
  createQueue(name: string, policy: QueuePolicy): Promise<void>
  send<T extends object>(name: string, data: T, options?: SendOptions): Promise<string>
  /** Many jobs of one queue in one statement, due now. */
  sendMany<T extends object>(name: string, data: T[], options?: Pick<SendOptions, 'db'>): Promise<void>
  /** Starts a worker loop; a handler that resolves completes the job, one that throws fails it (retried per policy). */
  work<T>(name: string, options: WorkOptions, handler: JobHandler<T>): void
  /** Makes this process's workers of `name` look for jobs now instead of at their next poll. */
  wake(name: string): void
  /** Stops fetching, waits up to timeoutMs for running handlers, stops pg-boss. The pool stays open (core/postgres owns it). */
  stop(timeoutMs?: number): Promise<void>
}

export interface JobQueueOptions {
  pool: pg.Pool
  logger: Logger
  /** How often an idle worker looks for due jobs. */
  pollIntervalMs: number
  /** Postgres schema of pg-boss's tables. */
  schema?: string
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve()
    const timer = setTimeout(done, ms)
    function done() {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done)
  })

/**
 * pg-boss's own schema changes run as one text `BEGIN; ...; COMMIT;`. If a
 * statement in it fails (pg-boss raises on purpose when two processes race to
 * migrate), the connection is left inside an aborted transaction; on PGlite's
 * single connection that would poison every later query. Such a text runs on a
 * client of its own, which is rolled back on failure.
 */
function poolDb(pool: pg.Pool): PgBoss.Db {
  return {
    async executeSql(text: string, values: unknown[]) {
      if (!/^\s*BEGIN\b/i.test(text)) return pool.query(text, values)
      const client = await pool.connect()
      try {
        return await client.query(text, values)
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {})
        throw err
      } finally {
        client.release()
      }
    },
  }
}

/** PostgreSQL's SQLSTATE when it aborts one transaction of a deadlock. */
const DEADLOCK_DETECTED = '40P01'

const clientDb = (db: Queryable): PgBoss.Db => ({ executeSql: (text: string, values: unknown[]) => db.query(text, values) })

interface WorkerLoop {
  name: string
  wakeUp: AbortController
  done: Promise<void>
}

export async function startJobQueue(options: JobQueueOptions): Promise<JobQueue> {
  const log = options.logger.child({ component: 'jobs' })
  const newBoss = () => {
    const b = new PgBoss({
      db: poolDb(options.pool),
      schema: options.schema ?? 'pgboss',
      // Maintenance (expiring jobs held by dead workers, archiving) runs in every
      // process; pg-boss serializes it across processes with an advisory lock.
      supervise: true,
      migrate: true,
      // No cron schedules: their clock monitor would poll for nothing.
      schedule: false,
    })
    b.on('error', (err: Error) => log.error({ err }, 'job queue error'))
    return b
  }
  // Processes starting together on a fresh database race to install pg-boss's
  // schema; pg-boss absorbs most such races, and a start that still loses one
  // finds the schema installed when it tries again.
  let boss = newBoss()
  for (let attempt = 1; ; attempt++) {
    try {
      await boss.start()
      break
    } catch (err) {
      if (attempt >= 3) throw err
      log.warn({ err, attempt }, 'starting the job queue failed; trying again')
      await boss.stop({ graceful: false, wait: true }).catch(() => {})
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt + Math.random() * 200))
      boss = newBoss()
    }
  }

  const loops: WorkerLoop[] = []
  const running = new Set<Promise<void>>()
  let stopping = false

  async function runOne<T>(name: string, job: PgBoss.JobWithMetadata<T>, handler: JobHandler<T>): Promise<void> {
    try {
      await handler({ id: job.id, name, data: job.data, retryCount: job.retryCount })
      await boss.complete(name, job.id)
    } catch (err) {
      log.error({ err, queue: name, jobId: job.id }, 'job failed; the queue retries it per its policy')
      await boss.fail(name, job.id, { message: (err as Error).message ?? String(err) }).catch((failErr: unknown) =>
        // The job stays active and expires back into the queue.
        log.error({ err: failErr, queue: name, jobId: job.id }, 'could not mark the job failed'),
      )
    }
  }

  function startLoop<T>(name: string, concurrency: number, handler: JobHandler<T>): WorkerLoop {
    const loop: WorkerLoop = { name, wakeUp: new AbortController(), done: Promise.resolve() }
    const inFlight = new Set<Promise<void>>()
    loop.done = (async () => {
      while (!stopping) {
        const free = concurrency - inFlight.size
        let fetched = 0
        if (free > 0) {
          // pg-boss answers [] when the fetch itself failed (say the database is down): we just poll again later.
          const jobs = await boss.fetch<T>(name, { batchSize: free, includeMetadata: true }).catch((err: unknown) => {
            log.error({ err, queue: name }, 'fetching jobs failed')
            return []
          })
          fetched = jobs.length
          for (const job of jobs) {
            const p: Promise<void> = runOne(name, job, handler).finally(() => {
              inFlight.delete(p)
              running.delete(p)
              loop.wakeUp.abort()
            })
            inFlight.add(p)
            running.add(p)
          }
        }
        // A full batch: there may be more waiting. Otherwise sleep until the
        // next poll, a wake-up, or a handler finishing (a free slot).
        if (fetched > 0 && fetched === free) continue
        if (!loop.wakeUp.signal.aborted) await sleep(options.pollIntervalMs, loop.wakeUp.signal)
        if (loop.wakeUp.signal.aborted) loop.wakeUp = new AbortController()
      }
    })().catch((err: unknown) => log.error({ err, queue: name }, 'worker loop stopped on an error'))
    return loop
  }

  return {
    async createQueue(name, policy) {
      const create = () =>
        boss.createQueue(name, {
          name,
          retryLimit: policy.retryLimit,
          retryDelay: policy.retryDelayS,
          retryBackoff: true,
          expireInSeconds: policy.expireInS,
        })
      // Two processes starting together on a fresh database both create the
      // queue; pg-boss's create_queue (insert, then create and attach its
      // partition) can deadlock against itself and PostgreSQL aborts one of
      // them. The survivor creates the queue, so the loser's retry finds it
      // there and does nothing.
      for (let attempt = 1; ; attempt++) {
        try {
          return await create()
        } catch (err) {
          if ((err as { code?: string }).code !== DEADLOCK_DETECTED || attempt >= 5) throw err
          log.warn({ queue: name, attempt }, 'creating the queue deadlocked with another process; retrying')
          await new Promise((resolve) => setTimeout(resolve, 50 * attempt + Math.random() * 100))
        }
      }
    },

    async send(name, data, sendOptions = {}) {
      const id = await boss.send(name, data, {
        // An interval pg-boss adds to the database's now(): no clock skew between nodes.
        ...(sendOptions.delayMs && sendOptions.delayMs > 0 ? { startAfter: `${(sendOptions.delayMs / 1000).toFixed(3)} seconds` } : {}),
        ...(sendOptions.db ? { db: clientDb(sendOptions.db) } : {}),
      })
      if (!id) throw new Error(`job queue refused a job for ${name}`)
      return id
    },

    async sendMany(name, data, sendOptions = {}) {
      if (data.length === 0) return
      await boss.insert(data.map((d) => ({ name, data: d })), sendOptions.db ? { db: clientDb(sendOptions.db) } : {})
    },

    work(name, workOptions, handler) {
      if (stopping) throw new Error('the job queue is stopping')
      loops.push(startLoop(name, Math.max(1, workOptions.concurrency), handler))
    },

    wake(name) {
      for (const loop of loops) if (loop.name === name) loop.wakeUp.abort()
    },

    async stop(timeoutMs = 10_000) {
      if (stopping) return
      stopping = true
      for (const loop of loops) loop.wakeUp.abort()
      // Loops first: a fetch in progress may still start handlers, which join `running`.
      const drained = (async () => {
        await Promise.all(loops.map((l) => l.done))
        await Promise.all([...running])
      })()
      if (!(await settlesWithin(timeoutMs, drained))) {
        // Their jobs stay active in the table and expire back into the queue.
        log.warn({ running: running.size }, 'job queue: handlers still running at the stop timeout')
      }
      // graceful: false — no pg-boss work() workers to wait for; close: false — the pool is not pg-boss's.
      await boss.stop({ graceful: false, close: false, wait: true })
    },
  }
}
