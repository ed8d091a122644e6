/**
 * The two fleetpulse modes, both the built CLI (dist/bin/fleetpulse.js) as
 * child processes:
 * - embedded: one `fleetpulse all` on PGlite, chDB and the in-process bus;
 * - kafka: `fleetpulse stream api` and `fleetpulse ingest` as two processes
 *   over Kafka and PostgreSQL (chDB stays embedded in the stream process), so
 *   CPU and memory show per role.
 * Vehicles are provisioned through the REST API, devices drive over MQTT, the
 * stream's written counter says what reached ClickHouse, and a Socket.IO
 * client on /live times positions end to end.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { ApiClient, provisionFleet } from '../sim/fleet.js'
import { CONSUMER_LAG, LIVE_PUBLISHED, SINK_STAGE, WRITE_FAILURES, WRITTEN, scrape, total, type Scrape } from './metrics.js'
import { benchSelf, closeHelper, newRun, runPhases, startLoadgen, startProbe, watch, type ModeContext, type ModeRun } from './mode.js'
import { listenerPid, withDescendants, type WatchedProcess } from './procstat.js'
import { captureOutput, makeTempDir, onInterrupt, removeTempDir, stopChild, track, waitFor } from './processes.js'
import { REPO_ROOT } from './rpc.js'
import { createScratchDatabase, deleteKafkaNamespace, runTag, servicesDown } from './services.js'

export const FLEETPULSE_BIN = path.join(REPO_ROOT, 'dist/bin/fleetpulse.js')
export const ADMIN_EMAIL = 'admin@fleetpulse.local'
export const ADMIN_PASSWORD = 'bench-admin-password'
const START_TIMEOUT_MS = 90_000

// Every variable core/config.ts reads: none may leak in from the caller's shell.
const FLEETPULSE_ENV =
  /^(HOST|PORT|MQTT_\w+|DATA_DIR|DATABASE_URL|CLICKHOUSE_\w+|KAFKA_\w+|BUS_\w+|H3_RESOLUTION|SINK_\w+|FLEETPULSE_\w+|JWT_SECRET|ACCESS_TOKEN_TTL_S|REFRESH_TOKEN_TTL_S|SHUTDOWN_TIMEOUT_MS|LOG_LEVEL|AUTH_RATE_LIMIT_\w+|CORS_ORIGINS|LIVE_\w+|CONSOLE_\w+)$/

export function fleetpulseEnv(overrides: Record<string, string>): NodeJS.ProcessEnv {
  const inherited = Object.entries(process.env).filter(([k]) => !FLEETPULSE_ENV.test(k))
  return {
    ...Object.fromEntries(inherited),
    HOST: '127.0.0.1', PORT: '0', MQTT_PORT: '0', MQTT_WS_PORT: '0', LOG_LEVEL: 'warn',
    FLEETPULSE_ADMIN_EMAIL: ADMIN_EMAIL, FLEETPULSE_ADMIN_PASSWORD: ADMIN_PASSWORD,
    DATABASE_URL: '', CLICKHOUSE_URL: '', KAFKA_BROKERS: '',
    // Bounded stops: the bench waits for the catch-up itself before stopping anything.
    SHUTDOWN_TIMEOUT_MS: '5000',
    ...overrides,
  }
}

/** The node flags of the fleetpulse command's shebang (`#!/usr/bin/env -S node FLAGS`), which `npx fleetpulse` runs with. */
function shebangFlags(file: string): string[] {
  if (!existsSync(file)) return []
  const first = readFileSync(file, 'utf8').split('\n', 1)[0]!
  return /^#!\/usr\/bin\/env -S node (.+)$/.exec(first)?.[1]!.trim().split(/\s+/) ?? []
}

let profileArgs: string[] = []

/** `--cpu-prof DIR`: every fleetpulse process started from now on writes a CPU profile into DIR on exit. */
export function profileFleetpulseInto(dir: string | undefined): void {
  profileArgs = dir ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(dir)] : []
}

export interface Fleetpulse {
  name: string
  child: ChildProcess
  /** API, or the ops server of a process without the API: /readyz and /metrics. */
  httpUrl: string
  mqttUrl: string | undefined
}

/** Starts `fleetpulse <roles>` and waits for its banner (ports were 0: the banner says which) and /readyz. */
export async function startFleetpulse(name: string, roles: string[], env: NodeJS.ProcessEnv): Promise<Fleetpulse> {
  const child = track(spawn(process.execPath, [...shebangFlags(FLEETPULSE_BIN), ...profileArgs, FLEETPULSE_BIN, ...roles], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] }))
  const output = captureOutput(child)
  const wantsMqtt = roles.includes('ingest') || roles.includes('all')
  const found = await waitFor(
    `${name}: start-up banner`,
    () => {
      const out = output()
      const http = /API\s+(http:\/\/\S+)/.exec(out)?.[1] ?? /Health\s+(http:\/\/\S+)\/readyz/.exec(out)?.[1]
      const mqtt = /MQTT\s+(mqtt:\/\/\S+)/.exec(out)?.[1]
      return http && (mqtt || !wantsMqtt) ? { http, mqtt } : undefined
    },
    { timeoutMs: START_TIMEOUT_MS, child, output },
  )
  await waitFor(
    `${name}: ${found.http}/readyz`,
    async () => ((await fetch(`${found.http}/readyz`).catch(() => undefined))?.ok ? true : undefined),
    { timeoutMs: START_TIMEOUT_MS, child, output },
  )
  return { name, child, httpUrl: found.http, mqttUrl: found.mqtt }
}

/**
 * What the bench reads from a process's /metrics. Event-loop p99 is
 * prom-client's, reset at every scrape, so each reading covers the time since
 * the previous one: one scrape per timeline step, shared by the counter and
 * the gauges.
 */
const SINK_STAGES = ['clickhouse', 'latest', 'analytics']

function metricsReader(stream: Fleetpulse, ingest: Fleetpulse) {
  let last: Scrape = new Map()
  const loopMs = (s: Scrape) => total(s, 'fleetpulse_nodejs_eventloop_lag_p99_seconds') * 1000
  return {
    written: async () => {
      last = await scrape(stream.httpUrl)
      return total(last, WRITTEN)
    },
    gauges: async (): Promise<Record<string, number>> => {
      const s = last
      const separate = ingest === stream ? undefined : await scrape(ingest.httpUrl)
      return {
        ingestPublished: total(separate ?? s, 'fleetpulse_ingest_fixes_published_total'),
        sinkLag: total(s, CONSUMER_LAG, /group="stream-positions-sink"/),
        liveLag: total(s, CONSUMER_LAG, /group="stream-positions-live"/),
        livePublished: total(s, LIVE_PUBLISHED),
        writeFailures: total(s, WRITE_FAILURES),
        ...Object.fromEntries(SINK_STAGES.map((stage) => [`sink_${stage}_s`, total(s, `${SINK_STAGE}_sum`, new RegExp(`stage="${stage}"`))])),
        sinkBatches: total(s, `${SINK_STAGE}_count`, /stage="clickhouse"/),
        ...(separate ? { streamLoopP99Ms: loopMs(s), ingestLoopP99Ms: loopMs(separate) } : { loopP99Ms: loopMs(s) }),
      }
    },
  }
}

/** Provisions the fleet, then runs the phases; `stream` serves the written counter, `ingest` the published one. */
async function drive(ctx: ModeContext, run: ModeRun, stream: Fleetpulse, ingest: Fleetpulse, servers: WatchedProcess[]): Promise<void> {
  const apiUrl = stream.httpUrl
  const client = new ApiClient(apiUrl, ADMIN_EMAIL, ADMIN_PASSWORD)
  const { accessToken } = await client.login()

  const started = performance.now()
  const devices = await provisionFleet({ client, count: ctx.opts.devices, concurrency: 16 })
  run.setup.provisionS = (performance.now() - started) / 1000
  ctx.log(`${run.mode}: provisioned ${devices.length} vehicles with devices in ${run.setup.provisionS.toFixed(1)}s`)

  const probe = await startProbe(apiUrl, accessToken)
  const { loadgen, connectS } = await startLoadgen(ingest.mqttUrl!, devices)
  run.setup.connectS = connectS
  const metrics = metricsReader(stream, ingest)
  try {
    await runPhases(
      ctx,
      {
        loadgen,
        probe,
        withLatency: true,
        procs: [...servers, watch('loadgen', loadgen.pid), watch('live probe', probe.pid), benchSelf()],
        delivered: metrics.written,
        gauges: metrics.gauges,
      },
      run,
    )
  } finally {
    await Promise.all([closeHelper(loadgen), closeHelper(probe)])
  }
}

/** The Kafka broker and PostgreSQL (postmaster and backends) found by their ports; shared with whatever else uses them. */
function externalServers(ctx: ModeContext): WatchedProcess[] {
  const port = (hostPort: string, dflt: number) => Number(hostPort.split(':')[1] ?? dflt)
  const kafka = listenerPid(port(ctx.opts.kafkaBrokers.split(',')[0] ?? '', 9092))
  const postgres = listenerPid(Number(new URL(ctx.opts.postgresUrl).port || 5432))
  const servers: WatchedProcess[] = []
  if (kafka) servers.push(watch('kafka broker', kafka))
  if (postgres) servers.push({ name: 'postgresql (all backends)', pids: () => withDescendants(postgres) })
  return servers
}

export async function runEmbedded(ctx: ModeContext): Promise<ModeRun> {
  const run = newRun(ctx, 'embedded')
  if (!existsSync(FLEETPULSE_BIN)) return { ...run, skipped: `${FLEETPULSE_BIN} missing: run npm run build` }
  const dataDir = makeTempDir('fleetpulse-bench-')
  let fp: Fleetpulse | undefined
  try {
    const started = performance.now()
    fp = await startFleetpulse('fleetpulse all', ['all'], fleetpulseEnv({ DATA_DIR: dataDir, LIVE_COALESCE_MS: String(ctx.opts.liveCoalesceMs) }))
    run.setup.startS = (performance.now() - started) / 1000
    await drive(ctx, run, fp, fp, [watch('fleetpulse all', fp.child.pid)])
  } catch (err) {
    run.error = (err as Error).message
  } finally {
    if (fp) await stopChild(fp.child)
    removeTempDir(dataDir)
  }
  return run
}

export async function runKafka(ctx: ModeContext): Promise<ModeRun> {
  const run = newRun(ctx, 'kafka')
  if (!existsSync(FLEETPULSE_BIN)) return { ...run, skipped: `${FLEETPULSE_BIN} missing: run npm run build` }
  const down = await servicesDown(ctx.opts.kafkaBrokers, ctx.opts.postgresUrl)
  if (down) return { ...run, skipped: down }

  const tag = runTag()
  const namespace = `bench-${tag}`
  const db = await createScratchDatabase(ctx.opts.postgresUrl, tag).catch((err: unknown) => err as Error)
  if (db instanceof Error) return { ...run, skipped: `cannot create a scratch database under ${ctx.opts.postgresUrl}: ${db.message}` }
  run.notes.push(`PostgreSQL database ${new URL(db.url).pathname.slice(1)}, BUS_NAMESPACE=${namespace}`)
  const forget = onInterrupt(() => Promise.all([db.drop(), deleteKafkaNamespace(ctx.opts.kafkaBrokers, namespace)]))
  const dataDir = makeTempDir('fleetpulse-bench-')
  const started: Fleetpulse[] = []
  try {
    const shared = { DATABASE_URL: db.url, KAFKA_BROKERS: ctx.opts.kafkaBrokers, BUS_NAMESPACE: namespace, LIVE_COALESCE_MS: String(ctx.opts.liveCoalesceMs) }
    const t0 = performance.now()
    // stream+api first: it migrates, creates the admin and the topics; ingest lets devices in last.
    const stream = await startFleetpulse('fleetpulse stream api', ['stream', 'api'], fleetpulseEnv({ ...shared, DATA_DIR: path.join(dataDir, 'stream') }))
    started.push(stream)
    const ingest = await startFleetpulse('fleetpulse ingest', ['ingest'], fleetpulseEnv({ ...shared, DATA_DIR: path.join(dataDir, 'ingest') }))
    started.push(ingest)
    run.setup.startS = (performance.now() - t0) / 1000
    const servers = [
      watch('fleetpulse ingest', ingest.child.pid),
      watch('fleetpulse stream+api', stream.child.pid),
      ...externalServers(ctx),
    ]
    await drive(ctx, run, stream, ingest, servers)
  } catch (err) {
    run.error = (err as Error).message
  } finally {
    // Ingest first, as the platform itself shuts down: no device is left publishing into a stopped stream.
    for (const fp of started.reverse()) await stopChild(fp.child)
    removeTempDir(dataDir)
    forget()
    await db.drop().catch((err: unknown) => run.notes.push(`dropping the scratch database failed: ${(err as Error).message}`))
    run.notes.push(await deleteKafkaNamespace(ctx.opts.kafkaBrokers, namespace))
  }
  return run
}
