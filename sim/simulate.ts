/**
 * Device simulator CLI: provisions (or reuses) vehicles through the REST API,
 * then drives them over MQTT. Run `npm run simulate -- --help` for options.
 */
import { randomInt } from 'node:crypto'
import { parseArgs } from 'node:util'
import {
  ApiClient,
  ApiError,
  connectFleet,
  driveFleet,
  loadFleetFile,
  provisionFleet,
  saveFleetFile,
  type DriveProgress,
  type ProvisionedDevice,
} from './fleet.js'
import type { LatLon } from './motion.js'

const USAGE = `Usage: npm run simulate -- [options]

  --vehicles N             vehicles to simulate (default 10)
  --hz R                   fixes per second per vehicle, fractional allowed (default 1)
  --duration S             seconds to publish, 0 = until Ctrl-C (default 60)
  --api URL                REST API (default http://127.0.0.1:3000)
  --mqtt URL               MQTT broker (default mqtt://127.0.0.1:1883)
  --email E                admin login (default $FLEETPULSE_ADMIN_EMAIL or admin@fleetpulse.local)
  --password P             admin password (default $FLEETPULSE_ADMIN_PASSWORD)
  --center LAT,LON         centre of the driving area (default 52.52,13.405, Berlin)
  --radius-km K            destinations lie within K km of the centre (default 10)
  --time-scale F           multiplies stop dwell times of 10-120 s (default 1; 0.1 = 1-12 s)
  --seed N                 seed for reproducible motion (default random, printed)
  --reuse FILE             read devices from FILE if it exists, else provision and write it;
                           the last position, odometer and seq are saved back on exit
  --concurrency N          REST requests in flight while provisioning (default 8)
  --connect-concurrency N  MQTT connection attempts in flight (default 100)
  --ack-timeout S          seconds to wait for outstanding PUBACKs on stop (default 10)
  -h, --help               show this help`

class UsageError extends Error {
  constructor(
    message: string,
    readonly showUsage = true,
  ) {
    super(message)
  }
}

function log(line: string): void {
  console.log(`[sim] ${line}`)
}

function num(raw: string | undefined, name: string, dflt: number, min: number, max: number, integer = false): number {
  if (raw === undefined) return dflt
  const n = Number(raw)
  if (raw.trim() === '' || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    throw new UsageError(`--${name} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got ${JSON.stringify(raw)}`)
  }
  return n
}

function parseCenter(raw: string): LatLon {
  const parts = raw.split(',').map((s) => Number(s.trim()))
  const [lat, lon] = parts
  if (parts.length !== 2 || lat === undefined || lon === undefined || !(Math.abs(lat) <= 90) || !(Math.abs(lon) <= 180)) {
    throw new UsageError(`--center must be LAT,LON within [-90,90],[-180,180], got ${JSON.stringify(raw)}`)
  }
  return { lat, lon }
}

function parseCli(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      vehicles: { type: 'string' },
      hz: { type: 'string' },
      duration: { type: 'string' },
      api: { type: 'string', default: 'http://127.0.0.1:3000' },
      mqtt: { type: 'string', default: 'mqtt://127.0.0.1:1883' },
      email: { type: 'string' },
      password: { type: 'string' },
      center: { type: 'string', default: '52.52,13.405' },
      'radius-km': { type: 'string' },
      'time-scale': { type: 'string' },
      seed: { type: 'string' },
      reuse: { type: 'string' },
      concurrency: { type: 'string' },
      'connect-concurrency': { type: 'string' },
      'ack-timeout': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  const env = process.env
  return {
    help: values.help,
    // Undefined when not given, so --reuse can take the file's size instead.
    vehicles: values.vehicles === undefined ? undefined : num(values.vehicles, 'vehicles', 10, 1, 1_000_000, true),
    hz: num(values.hz, 'hz', 1, 0.001, 1000),
    durationS: num(values.duration, 'duration', 60, 0, 365 * 86_400),
    api: values.api,
    mqtt: values.mqtt,
    email: values.email ?? (env.FLEETPULSE_ADMIN_EMAIL || 'admin@fleetpulse.local'),
    password: values.password ?? (env.FLEETPULSE_ADMIN_PASSWORD || undefined),
    center: parseCenter(values.center),
    radiusKm: num(values['radius-km'], 'radius-km', 10, 0.1, 1000),
    timeScale: num(values['time-scale'], 'time-scale', 1, 0, 1000),
    seed: num(values.seed, 'seed', randomInt(2 ** 31), 0, 2 ** 32 - 1, true),
    reuse: values.reuse,
    concurrency: num(values.concurrency, 'concurrency', 8, 1, 256, true),
    connectConcurrency: num(values['connect-concurrency'], 'connect-concurrency', 100, 1, 10_000, true),
    ackTimeoutMs: num(values['ack-timeout'], 'ack-timeout', 10, 0, 3600) * 1000,
  }
}

type Cli = ReturnType<typeof parseCli>

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US')

function progressLine(p: DriveProgress, total: number): string {
  return [
    `t=${p.elapsedS.toFixed(0)}s`,
    `published=${fmt(p.published)}`,
    `acked=${fmt(p.acked)}`,
    `inflight=${fmt(p.inflight)}`,
    `errors=${fmt(p.errors)}`,
    `dropped=${fmt(p.dropped)}`,
    `rate=${p.ratePerS.toFixed(1)}/s`,
    `connected=${p.connected}/${total}`,
    ...(p.connectionErrors > 0 ? [`connErrors=${fmt(p.connectionErrors)}`, `reconnects=${fmt(p.reconnects)}`] : []),
    ...(p.maxLagMs > 250 ? [`lag=${p.maxLagMs.toFixed(0)}ms`] : []),
  ].join(' ')
}

async function obtainDevices(cli: Cli, signal: AbortSignal): Promise<{ devices: ProvisionedDevice[]; reused: boolean }> {
  if (cli.reuse) {
    const saved = await loadFleetFile(cli.reuse)
    if (saved) {
      const want = cli.vehicles ?? saved.length
      if (want > saved.length) log(`warning: ${cli.reuse} holds ${saved.length} devices, fewer than --vehicles ${want}`)
      const devices = saved.slice(0, want)
      log(`reusing ${devices.length} devices from ${cli.reuse}`)
      return { devices, reused: true }
    }
  }
  if (!cli.password) {
    throw new UsageError('no admin password: pass --password or set FLEETPULSE_ADMIN_PASSWORD', false)
  }
  const api = new ApiClient(cli.api, cli.email, cli.password)
  await api.login()
  log(`logged in to ${cli.api} as ${cli.email}`)
  const count = cli.vehicles ?? 10
  const started = performance.now()
  let lastShown = performance.now()
  const devices = await provisionFleet({
    client: api,
    count,
    concurrency: cli.concurrency,
    signal,
    onProgress: (done, total) => {
      const now = performance.now()
      if (done === total || now - lastShown > 5000) {
        lastShown = now
        log(`provisioned ${done}/${total} vehicles`)
      }
    },
  })
  log(`provisioned ${devices.length} vehicles in ${((performance.now() - started) / 1000).toFixed(1)}s`)
  if (cli.reuse) {
    await saveFleetFile(cli.reuse, devices)
    log(`saved device credentials to ${cli.reuse}`)
  }
  return { devices, reused: false }
}

async function main(): Promise<number> {
  const cli = parseCli(process.argv.slice(2))
  if (cli.help) {
    console.log(USAGE)
    return 0
  }

  const stop = new AbortController()
  let signals = 0
  const onSignal = (sig: NodeJS.Signals): void => {
    // First signal stops gracefully; a second one means "now".
    if (++signals > 1) process.exit(130)
    log(`${sig}: stopping (again to force)`)
    interrupted = true
    stop.abort(new Error(`interrupted by ${sig}`))
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  const { devices, reused } = await obtainDevices(cli, stop.signal)
  if (devices.length === 0) throw new UsageError('no devices to simulate', false)

  const connStart = performance.now()
  let lastShown = performance.now()
  const fleet = await connectFleet(devices, {
    mqttUrl: cli.mqtt,
    concurrency: cli.connectConcurrency,
    signal: stop.signal,
    onProgress: (done, total) => {
      const now = performance.now()
      if (done === total || now - lastShown > 5000) {
        lastShown = now
        log(`connected ${done}/${total} clients`)
      }
    },
  }).catch((err: unknown) => {
    // A refused CONNACK with saved credentials almost always means a stale file.
    if (reused && err instanceof Error && /not authori[sz]ed|bad user ?name or password/i.test(err.message)) {
      err.message += ` (devices in ${cli.reuse} may have been deleted; remove the file to provision new ones)`
    }
    throw err
  })
  log(`connected ${fleet.clients.length} clients to ${cli.mqtt} in ${((performance.now() - connStart) / 1000).toFixed(1)}s`)
  log(
    `driving ${devices.length} vehicles at ${cli.hz} Hz (${fmt(devices.length * cli.hz)} fixes/s) ` +
      `${cli.durationS > 0 ? `for ${cli.durationS}s` : 'until Ctrl-C'}, seed=${cli.seed}`,
  )

  const summary = await driveFleet(fleet, {
    hz: cli.hz,
    durationS: cli.durationS,
    center: cli.center,
    radiusKm: cli.radiusKm,
    timeScale: cli.timeScale,
    seed: cli.seed,
    ackTimeoutMs: cli.ackTimeoutMs,
    signal: stop.signal,
    onProgress: (p) => log(progressLine(p, devices.length)),
  })
  await fleet.close()

  const pct = summary.published > 0 ? ((summary.acked / summary.published) * 100).toFixed(1) : '0.0'
  log(
    `done: ${summary.elapsedS.toFixed(1)}s published=${fmt(summary.published)} acked=${fmt(summary.acked)} (${pct}%) ` +
      `unacked=${fmt(summary.unacked)} errors=${fmt(summary.errors)} dropped=${fmt(summary.dropped)} ` +
      `connErrors=${fmt(summary.connectionErrors)} reconnects=${fmt(summary.reconnects)} avg=${summary.ratePerS.toFixed(1)} acked/s`,
  )
  if (summary.lastError) log(`last error: ${summary.lastError}`)

  if (cli.reuse) {
    // Persist where each vehicle stopped so the next run continues seq and odometer.
    const byId = new Map(fleet.clients.map((c, i) => [c.device.deviceId, summary.states[i]]))
    const all = (await loadFleetFile(cli.reuse)) ?? devices
    await saveFleetFile(
      cli.reuse,
      all.map((d) => {
        const state = byId.get(d.deviceId)
        return state ? { ...d, state } : d
      }),
    )
  }
  return 0
}

let interrupted = false

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    const code = err instanceof Error ? (err as { code?: unknown }).code : undefined
    if (err instanceof UsageError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))) {
      const usage = err instanceof UsageError && !err.showUsage ? '' : `\n\n${USAGE}`
      console.error(`[sim] ${(err as Error).message}${usage}`)
      process.exit(2)
    }
    if (interrupted) {
      console.error('[sim] interrupted before driving started')
      process.exit(130)
    }
    if (err instanceof ApiError) console.error(`[sim] error: ${err.code}: ${err.detail}`)
    else console.error(`[sim] error: ${err instanceof Error ? err.message : String(err)}`)
    process.exit(1)
  },
)
