/**
 * The same tables twice: aligned text for the terminal and Markdown for
 * bench/results/<timestamp>.md; plus the JSON of every run for later analysis.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { ModeRun } from './mode.js'
import type { ConsoleFigures } from './console.mode.js'
import type { LiveFigures } from './live.mode.js'
import type { BenchOptions } from './options.js'
import { QUERY_TARGET_MS, type ModeSummary, type PhaseFigures, type TargetResult } from './summary.js'

/** Busy cores of unrelated work above which a run is called disturbed. */
const NOISY_CORES = 0.2

type Row = string[]
interface Table {
  title: string
  headers: string[]
  rows: Row[]
  /** Leading columns holding words (left-aligned); the rest hold figures. */
  textColumns: number
}

const num = (n: number | null | undefined, digits = 0) =>
  n == null ? '–' : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })

const verdict = (pass: boolean | null) => (pass === null ? 'n/a' : pass ? 'PASS' : 'FAIL')

/** A table row for a run without figures: its label, then why (first line), then empty cells up to `width`. */
const missingRow = (label: string, why: string | undefined, width: number): Row =>
  [label, (why ?? 'no result').split('\n')[0]!, ...Array<string>(width - 2).fill('')]

const pair = (a: number | null, b: number | null) => (a == null ? '–' : `${num(a)} / ${num(b)}`)

function catchUp(p: PhaseFigures): string {
  if (p.notCaughtUp) return `no (${p.notCaughtUp} run(s))`
  return `${num(p.catchUpS, 1)} s`
}

/** The load modes: everything but the query section, which has tables of its own. */
const loadModes = (summary: ModeSummary[]) => summary.filter((s) => s.mode !== 'query' && s.mode !== 'live' && s.mode !== 'console')

function throughputTable(summary: ModeSummary[]): Table {
  const rows = loadModes(summary).map((s): Row => {
    const p = s.max
    if (!p) return missingRow(s.mode, s.skipped[0] ?? s.errors[0], 9)
    return [
      s.mode, num(p.acceptedPerS), num(p.endToEndPerS), catchUp(p), num(p.worstMissing), pair(p.pubackP50Ms, p.pubackP99Ms),
      pair(p.liveP50Ms, p.liveP99Ms), num(p.loopP99MaxMs), num(p.otherCores, 2),
    ]
  })
  return {
    title: 'Max throughput (closed loop, QoS 1)',
    headers: [
      'mode', 'accepted/s', 'end-to-end/s', 'catch-up', 'missing', 'PUBACK p50 / p99 ms', 'live p50 / p99 ms', 'event loop p99 max ms',
      'other load (cores)',
    ],
    rows,
    textColumns: 1,
  }
}

function latencyTable(summary: ModeSummary[], rate: number): Table {
  const rows = summary.flatMap((s): Row[] => {
    const p = s.latency
    if (!p) return []
    return [[
      s.mode, num(p.acceptedPerS), num(p.endToEndPerS), num(p.liveP50Ms), num(p.liveP99Ms), num(p.liveEvents),
      pair(p.pubackP50Ms, p.pubackP99Ms), num(p.skipped), catchUp(p), num(p.loopP99MaxMs), num(p.otherCores, 2),
    ]]
  })
  return {
    title: `Live latency at ${num(rate)} fixes/s (publish → Socket.IO 'position')`,
    headers: [
      'mode', 'accepted/s', 'written/s', 'live p50 ms', 'live p99 ms', 'events', 'PUBACK p50 / p99 ms', 'skipped', 'catch-up',
      'event loop p99 max ms', 'other load (cores)',
    ],
    rows,
    textColumns: 1,
  }
}

function liveTable(runs: ModeRun[]): Table {
  const rows = runs.flatMap((r): Row[] => {
    const l: LiveFigures | undefined = r.live
    if (!l) return r.mode === 'live' ? [missingRow(`repeat ${r.repeat}`, r.skipped ?? r.error, 11)] : []
    return [[
      `repeat ${r.repeat}`, `${num(l.clients)} x ${num(l.vehicles)}`, `${num(l.acceptedPerS)} / ${num(l.offeredPerS)}`, num(l.deliveredPerS),
      num(l.minClientPerS), pair(l.latency.p50Ms, l.latency.p99Ms), num(l.serverCores, 2), `${num(l.serverRssMiB)} / ${num(l.serverPeakRssMiB)}`,
      num(l.loopP99Ms), num(l.backpressureSkips), num(l.otherCores, 2),
    ]]
  })
  return {
    title: "Live fan-out (Socket.IO clients each in the organization room; 'position' items)",
    headers: [
      'run', 'clients x vehicles', 'fixes accepted / offered per s', 'delivered items/s', 'least client items/s', 'fix → client p50 / p99 ms',
      'server CPU cores', 'server RSS / peak MiB', 'event loop p99 max ms', 'backpressure skips', 'other load (cores)',
    ],
    rows,
    textColumns: 1,
  }
}

function consoleTable(runs: ModeRun[]): Table {
  const rows = runs.flatMap((r): Row[] => {
    const c: ConsoleFigures | undefined = r.console
    if (!c) return r.mode === 'console' ? [missingRow(`repeat ${r.repeat}`, r.skipped ?? r.error, 10)] : []
    return [[
      `repeat ${r.repeat}`, num(c.vehicles), `${num(c.acceptedPerS)} / ${num(c.offeredPerS)}`, num(c.fps, 1),
      `${num(c.frameP50Ms, 1)} / ${num(c.frameP95Ms, 1)} / ${num(c.frameP99Ms, 1)} / ${num(c.frameMaxMs)}`, `${num(c.longTasks)} (${num(c.longTaskMs)} ms)`,
      pair(c.shownAgeP50Ms, c.shownAgeP99Ms), `${num(c.browserCores, 2)} / ${num(c.browserPeakRssMiB)}`, num(c.serverCores, 2), num(c.otherCores, 2),
    ]]
  })
  return {
    title: 'Dispatcher console in headless Chromium (vehicles driving over MQTT, the whole organization on the map and in the list)',
    headers: [
      'run', 'vehicles', 'fixes accepted / offered per s', 'frames/s', 'frame interval p50 / p95 / p99 / max ms', 'long tasks (total)',
      'shown fix age p50 / p99 ms', 'chromium cores / peak RSS MiB', 'server CPU cores', 'other load (cores)',
    ],
    rows,
    textColumns: 1,
  }
}

function processTable(summary: ModeSummary[]): Table {
  return {
    title: 'CPU (cores busy during the max-throughput window) and peak RSS per process',
    headers: ['mode', 'process', 'CPU cores', 'peak RSS MiB'],
    rows: loadModes(summary).flatMap((s) => s.procs.map((p): Row => [s.mode, p.name, num(p.cores, 2), num(p.peakRssMiB)])),
    textColumns: 2,
  }
}

function queryTable(summary: ModeSummary[]): Table {
  const q = summary.find((s) => s.mode === 'query')
  const d = q?.queryData
  return {
    title: d
      ? `Dashboard reads on ${num(d.positions)} positions in chDB (${num(d.vehicles)} vehicles, ${d.days} days; ${num(d.repetitions)} repetitions each)`
      : 'Dashboard reads',
    headers: ['read', 'what it reads', 'p50 ms', 'p99 ms', 'max ms', 'rows (last call)', `p99 < ${num(QUERY_TARGET_MS)} ms`],
    rows: (q?.queries ?? []).map((x): Row => [x.name, x.what, num(x.p50Ms, 1), num(x.p99Ms, 1), num(x.maxMs, 1), num(x.rows), verdict(x.p99Ms === null ? null : x.p99Ms < QUERY_TARGET_MS)]),
    textColumns: 2,
  }
}

function queryDataTable(summary: ModeSummary[]): Table {
  const d = summary.find((s) => s.mode === 'query')?.queryData
  const mib = (bytes: number) => `${num(bytes / 2 ** 20)} MiB`
  const rows: Row[] = d
    ? [
        ['positions generated (INSERT ... SELECT FROM numbers())', `${num(d.generateS, 1)} s`, `${num(d.positions / d.generateS)} rows/s`],
        ['facts derived: total (read back, detector, writes, rollups)', `${num(d.deriveS, 1)} s`, `${num(d.positions / d.deriveS)} fixes/s`],
        ['  reading the fixes back (positionsAfterMany, FINAL)', `${num(d.readS, 1)} s`, `${num(d.positions / d.readS)} fixes/s`],
        ['  detector (applyFix)', `${num(d.detectS, 1)} s`, `${num(d.positions / d.detectS)} fixes/s`],
        ['  writeFacts', `${num(d.writeS, 1)} s`, ''],
        ['  refreshDailyKpis', `${num(d.rollupS, 1)} s`, ''],
        ['facts', Object.entries(d.facts).map(([k, n]) => `${k} ${num(n)}`).join(', '), ''],
        ['positions on disk (active parts)', `${mib(d.positionsBytes)} (${num(d.positionsBytes / d.positions, 1)} B/row)`, `${num(d.positionsRawBytes / d.positionsBytes, 1)}× compression, ${num(d.positionsParts)} parts`],
        ['helper process peak RSS (chDB included)', d.peakRssMiB === null ? '–' : `${num(d.peakRssMiB)} MiB`, ''],
        ['other load on the machine while the reads were timed', `${num(d.otherCores, 2)} cores`, ''],
      ]
    : []
  return { title: 'Query section: the data', headers: ['step', 'measured', 'rate'], rows, textColumns: 3 }
}

function targetTable(results: TargetResult[]): Table {
  return {
    title: 'Targets',
    headers: ['target', 'measured', 'result'],
    rows: results.map((t) => [t.target, t.figure, verdict(t.pass)]),
    textColumns: 3,
  }
}

function text(t: Table): string {
  const widths = t.headers.map((h, i) => Math.max(h.length, ...t.rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: Row) => cells.map((c, i) => (i < t.textColumns ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd()
  return [t.title, line(t.headers), widths.map((w) => '-'.repeat(w)).join('  '), ...t.rows.map(line)].join('\n')
}

function markdown(t: Table): string {
  const esc = (c: string) => c.replaceAll('|', '\\|')
  return [`### ${t.title}`, '', `| ${t.headers.join(' | ')} |`, `| ${t.headers.map((_, i) => (i < t.textColumns ? '---' : '---:')).join(' | ')} |`, ...t.rows.map((r) => `| ${r.map(esc).join(' | ')} |`)].join('\n')
}

export interface Report {
  startedAt: string
  finishedAt: string
  host: Record<string, unknown>
  options: BenchOptions
  runs: ModeRun[]
  summary: ModeSummary[]
  targets: TargetResult[]
}

function tables(r: Report): Table[] {
  const all = [
    throughputTable(r.summary), latencyTable(r.summary, r.options.latencyRate), liveTable(r.runs), consoleTable(r.runs), queryTable(r.summary), targetTable(r.targets),
    processTable(r.summary), queryDataTable(r.summary),
  ]
  return all.filter((t) => t.rows.length > 0)
}

function footnotes(r: Report): string[] {
  const load = r.options.modes.some((m) => m !== 'query')
  const notes = !load ? [] : [
    `${r.options.devices} devices (one MQTT connection each), ${r.options.window} QoS 1 publishes in flight per connection, one fix per message; ` +
      `${r.options.warmupS} s warm-up + ${r.options.durationS} s measured per phase; medians of ${r.options.repeat} repeat(s).`,
    'end-to-end/s: fleetpulse = fixes written to ClickHouse (fleetpulse_stream_positions_written_total); aedes = PUBACKed; mosquitto = received by the subscriber.',
    `other load: busy cores on the machine not accounted to any process of the run; above ~${NOISY_CORES} the figures are disturbed.`,
  ]
  if (r.options.modes.includes('live')) {
    notes.push(
      `live: ${r.options.liveClients} clients joined to the organization room, ${r.options.liveVehicles} vehicles at ${r.options.liveHz} fix/s each, ` +
        `LIVE_COALESCE_MS=${r.options.liveCoalesceMs} (at most one item per vehicle per interval and client); latency = arrival − fix time, timed on ` +
        'the first 10 clients, coalescing wait included; the clients run in one helper process on the same machine.',
    )
  }
  if (r.options.modes.includes('console')) {
    notes.push(
      `console: ${r.options.consoleVehicles} vehicles at ${r.options.liveHz} fix/s each into fleetpulse all (embedded), LIVE_COALESCE_MS=${r.options.liveCoalesceMs}; ` +
        "one headless Chromium page (1400×900) logged in as the admin; frame intervals are requestAnimationFrame's, long tasks the page's " +
        'PerformanceObserver entries (main-thread work over 50 ms); shown fix age = wall clock − fix time of every vehicle the page shows, at the end ' +
        'of the window (the fix interval, pipeline and coalescing included); headless Chromium draws without a GPU, on the same 2 cores.',
    )
  }
  if (r.options.modes.includes('query')) {
    notes.push(
      'query: positions generated by SQL (one shift a day per vehicle: out to a customer and back twice, 5 s fixes while driving, 30 s standing), ' +
        'facts derived by the stream analytics (detector, writeFacts, refreshDailyKpis) from the stored fixes; ETA outcomes made up from the trips by SQL. ' +
        'Each repetition picks a vehicle and a day at random; the fleet reads are for today; times are AnalyticsReader calls, ' +
        'from the call to the parsed rows, one read at a time; "fleet overview" and "vehicle day" run their parts together, as the dashboards do. ' +
        'p99 is nearest-rank: under 100 repetitions it is the slowest call.',
    )
  }
  const noisiest = Math.max(0, ...r.summary.flatMap((s) => [s.max?.otherCores ?? 0, s.latency?.otherCores ?? 0, s.queryData?.otherCores ?? 0]))
  if (noisiest > NOISY_CORES) {
    notes.push(`WARNING: other processes kept up to ${num(noisiest, 2)} cores busy during the measurements; these figures are disturbed, rerun on a quiet machine.`)
  }
  for (const s of r.summary) {
    for (const why of s.skipped) notes.push(`${s.mode} skipped: ${why}`)
    for (const err of s.errors) notes.push(`${s.mode} failed: ${err}`)
  }
  return notes
}

export function renderText(r: Report): string {
  return [...tables(r).map(text), footnotes(r).map((n) => `* ${n}`).join('\n')].join('\n\n')
}

export function renderMarkdown(r: Report): string {
  const head = [`# fleetpulse bench ${r.startedAt}`, '', `Host: ${Object.entries(r.host).map(([k, v]) => `${k} ${String(v)}`).join(', ')}`]
  return [head.join('\n'), ...tables(r).map(markdown), footnotes(r).map((n) => `- ${n}`).join('\n'), ''].join('\n\n')
}

async function writeAtomic(file: string, content: string): Promise<void> {
  // A reader (or a commit) never sees half a file: the .tmp name is git-ignored.
  const tmp = `${file}.${process.pid}.tmp`
  await writeFile(tmp, content)
  await rename(tmp, file)
}

/** Writes <stamp>.json, <stamp>.md and latest.json; returns the paths written. */
export async function writeReport(dir: string, r: Report): Promise<string[]> {
  await mkdir(dir, { recursive: true })
  const stamp = r.startedAt.replace(/\.\d+Z$/, 'Z').replaceAll(':', '-')
  const json = `${JSON.stringify(r, null, 2)}\n`
  const files = [path.join(dir, `${stamp}.json`), path.join(dir, `${stamp}.md`), path.join(dir, 'latest.json')]
  await writeAtomic(files[0]!, json)
  await writeAtomic(files[1]!, renderMarkdown(r))
  await writeAtomic(files[2]!, json)
  return files
}
