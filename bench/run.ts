/**
 * `npm run bench`: drives simulated devices over real MQTT against fleetpulse
 * (embedded, and over Kafka) and against two baselines (bare Aedes, Mosquitto
 * with a subscriber) on the same load, then prints and saves the figures and
 * the issue's targets. `npm run bench -- --help` lists the options.
 */
import { execFileSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { runAedes, runMosquitto } from './baseline.mode.js'
import { runConsole } from './console.mode.js'
import { runLive } from './live.mode.js'
import type { ModeContext, ModeRun } from './mode.js'
import { parseOptions, USAGE, UsageError, type BenchOptions, type ModeName } from './options.js'
import { FLEETPULSE_BIN, profileFleetpulseInto, runEmbedded, runKafka } from './platform.mode.js'
import { killChildrenOnExit } from './processes.js'
import { runQuery } from './query.mode.js'
import { renderText, writeReport, type Report } from './report.js'
import { REPO_ROOT } from './rpc.js'
import { summarize, targets } from './summary.js'

const RUNNERS: Record<ModeName, (ctx: ModeContext) => Promise<ModeRun>> = {
  embedded: runEmbedded,
  kafka: runKafka,
  aedes: runAedes,
  mosquitto: runMosquitto,
  live: runLive,
  console: runConsole,
  query: runQuery,
}

const t0 = performance.now()
function log(line: string): void {
  console.log(`[bench ${((performance.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${line}`)
}

/** Sources changed after dist/ was built: the figures would not be those of the working tree. */
function staleSources(): string[] {
  let built: number
  try {
    built = statSync(FLEETPULSE_BIN).mtimeMs
  } catch {
    return []
  }
  const stale: string[] = []
  for (const dir of ['schemas', 'core', 'ingest', 'stream', 'api', 'bin']) {
    for (const file of readdirSync(path.join(REPO_ROOT, dir), { recursive: true, encoding: 'utf8' })) {
      if (!file.endsWith('.ts')) continue
      const out = path.join(REPO_ROOT, 'dist', dir, file.replace(/\.ts$/, '.js'))
      const src = statSync(path.join(REPO_ROOT, dir, file)).mtimeMs
      let outMs = 0
      try {
        outMs = statSync(out).mtimeMs
      } catch {
        // never built
      }
      if (src > Math.max(outMs, built)) stale.push(`${dir}/${file}`)
    }
  }
  return stale
}

function gitState(): Record<string, unknown> {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8' }).trim()
  try {
    return { commit: git('rev-parse', '--short', 'HEAD'), dirty: git('status', '--porcelain').length > 0 }
  } catch {
    return {}
  }
}

function hostInfo(): Record<string, unknown> {
  return {
    cpus: os.cpus().length,
    cpu: os.cpus()[0]?.model.trim(),
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    kernel: os.release(),
    ...gitState(),
  }
}

async function runAll(opts: BenchOptions): Promise<ModeRun[]> {
  const runs: ModeRun[] = []
  // Interleaved (a b c, a b c, ...) so the machine's drift spreads over every mode.
  for (let repeat = 1; repeat <= opts.repeat; repeat++) {
    for (const mode of opts.modes) {
      const ctx: ModeContext = { opts, repeat, log }
      log(`── ${mode}${opts.repeat > 1 ? ` (repeat ${repeat}/${opts.repeat})` : ''}`)
      const run = await RUNNERS[mode](ctx)
      if (run.skipped) log(`${mode}: SKIPPED: ${run.skipped}`)
      if (run.error) log(`${mode}: FAILED: ${run.error}`)
      for (const note of run.notes) log(`${mode}: ${note}`)
      runs.push(run)
    }
  }
  return runs
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2))
  if (!opts) {
    console.log(USAGE)
    return 0
  }
  killChildrenOnExit()
  profileFleetpulseInto(opts.cpuProfDir)
  const stale = staleSources()
  if (stale.length) log(`warning: changed after the last build, not measured: ${stale.slice(0, 5).join(', ')}${stale.length > 5 ? ', …' : ''}`)
  const startedAt = new Date().toISOString()
  log(`modes ${opts.modes.join(', ')}; ${opts.devices} devices; ${opts.warmupS}+${opts.durationS} s per phase; repeat ${opts.repeat}`)

  const runs = await runAll(opts)
  const summary = summarize(runs, opts.modes)
  const report: Report = {
    startedAt,
    finishedAt: new Date().toISOString(),
    host: hostInfo(),
    options: opts,
    runs,
    summary,
    targets: targets(runs, summary, opts.latencyRate),
  }
  console.log(`\n${renderText(report)}\n`)
  const files = await writeReport(path.resolve(REPO_ROOT, opts.outDir), report)
  log(`wrote ${files.map((f) => path.relative(process.cwd(), f)).join(', ')}`)
  // Targets are reported, not enforced: only a bench that could not run fails.
  return runs.every((r) => r.error) ? 1 : 0
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`${(err as Error).message}\n\n${USAGE}`)
      process.exit(2)
    }
    console.error(`[bench] ${(err as Error).stack ?? String(err)}`)
    process.exit(1)
  },
)
