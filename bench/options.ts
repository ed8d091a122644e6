/** Command-line options of `npm run bench`, validated into one typed object. */
import { parseArgs } from 'node:util'

export const MODES = ['embedded', 'kafka', 'aedes', 'mosquitto', 'live', 'console', 'query'] as const
export type ModeName = (typeof MODES)[number]

export const USAGE = `Usage: npm run bench -- [options]

  --modes LIST         comma-separated, run in this order each repeat (default ${MODES.join(',')})
  --devices N          MQTT connections, one simulated device each (default 500)
  --duration S         measured seconds per phase (default 20)
  --warmup S           seconds of load before each measurement starts (default 5)
  --rate R             fixes/s of the latency phase (default 5000); 0 skips that phase
  --window N           unacknowledged QoS 1 publishes per connection (default 10)
  --repeat N           run every mode N times, interleaved; figures are medians (default 1)
  --catchup-timeout S  longest wait for ClickHouse to catch up after the load stops (default 60)
  --live-clients N     live mode: Socket.IO clients, each watching the whole organization (default 100)
  --live-vehicles N    live mode: simulated vehicles driving over MQTT (default 500)
  --live-hz H          live and console modes: fixes per second per vehicle, may be fractional (default 1)
  --live-coalesce MS   LIVE_COALESCE_MS of every fleetpulse started (default 250)
  --console-vehicles N console mode: vehicles driving over MQTT at --live-hz while Chromium shows them (default 2000)
  --positions N        query: positions generated in chDB (default 10000000; 10,000 per vehicle)
  --query-reps N       query: timed repetitions of each read (default 50)
  --kafka-brokers B    Kafka bootstrap (default 127.0.0.1:9092)
  --postgres-url URL   PostgreSQL admin URL; a fresh database is created under it per run
                       (default postgres://fleetpulse:fleetpulse@127.0.0.1:5432/fleetpulse)
  --out DIR            where results go (default bench/results)
  --cpu-prof DIR       fleetpulse processes write V8 CPU profiles (.cpuprofile) into DIR when they stop
  -h, --help           this help`

export interface BenchOptions {
  modes: ModeName[]
  devices: number
  durationS: number
  warmupS: number
  /** Fixes/s of the latency phase; 0 = no latency phase. */
  latencyRate: number
  window: number
  repeat: number
  catchUpTimeoutS: number
  liveClients: number
  liveVehicles: number
  liveHz: number
  liveCoalesceMs: number
  /** Console section: vehicles on the dispatcher console. */
  consoleVehicles: number
  /** Query section: positions to generate, and timed repetitions of each read. */
  positions: number
  queryRepetitions: number
  kafkaBrokers: string
  postgresUrl: string
  outDir: string
  /** Where fleetpulse processes write their CPU profiles; undefined = not profiled. */
  cpuProfDir: string | undefined
}

export class UsageError extends Error {}

function num(raw: string | undefined, name: string, dflt: number, min: number, max: number): number {
  if (raw === undefined) return dflt
  const n = Number(raw)
  if (raw.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(raw)}`)
  }
  return n
}

function positive(raw: string | undefined, name: string, dflt: number, max: number): number {
  if (raw === undefined) return dflt
  const n = Number(raw)
  if (raw.trim() === '' || !(n > 0) || n > max) throw new UsageError(`--${name} must be a number in (0, ${max}], got ${JSON.stringify(raw)}`)
  return n
}

function parseModes(raw: string | undefined): ModeName[] {
  if (raw === undefined) return [...MODES]
  const modes = raw.split(',').map((m) => m.trim()).filter(Boolean)
  const bad = modes.filter((m) => !(MODES as readonly string[]).includes(m))
  if (bad.length || modes.length === 0) throw new UsageError(`--modes takes ${MODES.join(', ')}; got ${JSON.stringify(raw)}`)
  return [...new Set(modes)] as ModeName[]
}

/** Undefined when --help was asked for. */
export function parseOptions(argv: string[]): BenchOptions | undefined {
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      modes: { type: 'string' },
      devices: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      rate: { type: 'string' },
      window: { type: 'string' },
      repeat: { type: 'string' },
      'catchup-timeout': { type: 'string' },
      'live-clients': { type: 'string' },
      'live-vehicles': { type: 'string' },
      'live-hz': { type: 'string' },
      'live-coalesce': { type: 'string' },
      'console-vehicles': { type: 'string' },
      positions: { type: 'string' },
      'query-reps': { type: 'string' },
      'kafka-brokers': { type: 'string', default: '127.0.0.1:9092' },
      'postgres-url': { type: 'string', default: 'postgres://fleetpulse:fleetpulse@127.0.0.1:5432/fleetpulse' },
      out: { type: 'string', default: 'bench/results' },
      'cpu-prof': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (v.help) return undefined
  return {
    modes: parseModes(v.modes),
    devices: num(v.devices, 'devices', 500, 1, 20_000),
    durationS: num(v.duration, 'duration', 20, 1, 3600),
    warmupS: num(v.warmup, 'warmup', 5, 0, 600),
    latencyRate: num(v.rate, 'rate', 5000, 0, 1_000_000),
    window: num(v.window, 'window', 10, 1, 1000),
    repeat: num(v.repeat, 'repeat', 1, 1, 20),
    catchUpTimeoutS: num(v['catchup-timeout'], 'catchup-timeout', 60, 0, 3600),
    liveClients: num(v['live-clients'], 'live-clients', 100, 1, 10_000),
    liveVehicles: num(v['live-vehicles'], 'live-vehicles', 500, 1, 20_000),
    liveHz: positive(v['live-hz'], 'live-hz', 1, 100),
    liveCoalesceMs: num(v['live-coalesce'], 'live-coalesce', 250, 10, 10_000),
    consoleVehicles: num(v['console-vehicles'], 'console-vehicles', 2000, 1, 20_000),
    positions: num(v.positions, 'positions', 10_000_000, 1_000, 1_000_000_000),
    queryRepetitions: num(v['query-reps'], 'query-reps', 50, 1, 10_000),
    kafkaBrokers: v['kafka-brokers'],
    postgresUrl: v['postgres-url'],
    outDir: v.out,
    cpuProfDir: v['cpu-prof'],
  }
}
