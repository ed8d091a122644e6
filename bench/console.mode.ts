/**
 * The console section: the dispatcher console in Debian's Chromium (headless,
 * through playwright-core, as `test/console.browser.test.ts` drives it) while
 * `--console-vehicles` simulated vehicles drive over MQTT at `--live-hz`
 * fixes/s each into `fleetpulse all` (embedded). Measured over `--duration`
 * after `--warmup`, in the page: animation-frame intervals (p50/p95/p99/max),
 * long tasks (main-thread work over 50 ms), and how old each vehicle's shown
 * fix is at the end; outside it: the CPU of Chromium (all its processes), the
 * platform and the load generator. Skipped, saying why, without Chromium.
 */
import { existsSync } from 'node:fs'
import path from 'node:path'
import { chromium } from 'playwright-core'
import { withDrivenPlatform } from './live.mode.js'
import { benchSelf, newRun, watch, type ModeContext, type ModeRun } from './mode.js'
import { ADMIN_EMAIL, ADMIN_PASSWORD, FLEETPULSE_BIN } from './platform.mode.js'
import { commandName, cpuMeter, withDescendants } from './procstat.js'
import { waitFor } from './processes.js'
import { percentile } from './stats.js'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

export interface ConsoleFigures {
  vehicles: number
  /** Fixes/s offered over MQTT and accepted (PUBACKed). */
  offeredPerS: number
  acceptedPerS: number
  /** Animation frames per second, and the intervals between them. */
  fps: number
  frameP50Ms: number | null
  frameP95Ms: number | null
  frameP99Ms: number | null
  frameMaxMs: number | null
  /** Tasks that held the page's main thread over 50 ms, and their total time. */
  longTasks: number
  longTaskMs: number
  /** Age of each vehicle's shown fix (now − fix time) at the end of the window, over all vehicles. */
  shownAgeP50Ms: number | null
  shownAgeP99Ms: number | null
  browserCores: number
  browserPeakRssMiB: number
  serverCores: number
  loadgenCores: number
  otherCores: number
  coalesceMs: number
}

interface PageWindow {
  intervals: number[]
  longTasks: number[]
  ages: number[]
}

type ConsoleWindow = Window & { fleetpulse: { vehicles(): string[]; position(id: string): { ts: string } | null } }

/**
 * Runs in the page for `ms`: every animation frame's interval, every long task, and at the end the age of
 * each vehicle's shown fix. Source text, not a function: tsx would wrap a function's inner names in its
 * `__name` helper, which the page does not have.
 */
const MEASURE_IN_PAGE = `(ms) => new Promise((resolve) => {
  const intervals = []
  const longTasks = []
  const observer = new PerformanceObserver((list) => { for (const e of list.getEntries()) longTasks.push(e.duration) })
  observer.observe({ type: 'longtask' })
  let last = performance.now()
  const end = last + ms
  const tick = (now) => {
    intervals.push(now - last)
    last = now
    if (now < end) return requestAnimationFrame(tick)
    observer.disconnect()
    const fp = window.fleetpulse
    const wall = Date.now()
    const ages = fp.vehicles().map((id) => wall - Date.parse(fp.position(id)?.ts ?? ''))
    resolve({ intervals, longTasks, ages: ages.filter(Number.isFinite) })
  }
  requestAnimationFrame(tick)
})`

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export async function runConsole(ctx: ModeContext): Promise<ModeRun> {
  const { opts } = ctx
  const run = newRun(ctx, 'console')
  if (!existsSync(path.join(path.dirname(FLEETPULSE_BIN), '../web/index.html'))) return { ...run, skipped: 'dist/web missing: run npm run build' }
  if (!existsSync(CHROMIUM)) return { ...run, skipped: `no Chromium at ${CHROMIUM} (scripts/services.sh tools installs it; CHROMIUM_PATH to point elsewhere)` }
  return withDrivenPlatform(ctx, run, opts.consoleVehicles, async ({ fp, devices, loadgen, rate }) => {
    loadgen.call('start', { rate, window: opts.window })
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] })
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 900 } })
      const t0 = performance.now()
      await page.goto(`${fp.httpUrl}/`)
      await page.fill('#login-email', ADMIN_EMAIL)
      await page.fill('#login-password', ADMIN_PASSWORD)
      await page.click('#login-submit')
      await page.waitForSelector('#live-status.live', { timeout: 60_000 })
      const shown = () => page.evaluate(() => (window as unknown as ConsoleWindow).fleetpulse.vehicles().length)
      await waitFor('every vehicle in the console', async () => ((await shown()) >= devices.length ? true : undefined), { timeoutMs: 120_000 })
      run.setup.consoleS = (performance.now() - t0) / 1000
      ctx.log(`console: ${devices.length} vehicles shown ${run.setup.consoleS.toFixed(1)}s after loading the page; ${rate} fixes/s, ${opts.warmupS}s warm-up + ${opts.durationS}s`)
      await sleep(opts.warmupS * 1000)

      const platform = watch('fleetpulse all', fp.child.pid)
      // playwright-core's Browser does not name its process: Chromium's are the bench's descendants called so.
      const chromiumProcs = { name: 'chromium (all processes)', pids: () => withDescendants(process.pid).filter((p) => /chrom/i.test(commandName(p))) }
      const cpu = cpuMeter([platform, chromiumProcs, watch('loadgen', loadgen.pid), benchSelf()])
      const acked0 = (await loadgen.call('snapshot')).acked
      cpu.start()
      const w0 = performance.now()
      const measured = await page.evaluate<PageWindow>(`(${MEASURE_IN_PAGE})(${opts.durationS * 1000})`)
      const windowS = (performance.now() - w0) / 1000
      const usage = cpu.stop()
      const acked = (await loadgen.call('snapshot')).acked - acked0
      await loadgen.call('stop', { ackTimeoutMs: 10_000 })

      const frames = Float64Array.from(measured.intervals).sort()
      const ages = Float64Array.from(measured.ages).sort()
      const byName = (name: string) => usage.procs.find((p) => p.name === name)
      const figures: ConsoleFigures = {
        vehicles: devices.length,
        offeredPerS: rate,
        acceptedPerS: acked / windowS,
        fps: frames.length / windowS,
        frameP50Ms: percentile(frames, 50),
        frameP95Ms: percentile(frames, 95),
        frameP99Ms: percentile(frames, 99),
        frameMaxMs: frames.at(-1) ?? null,
        longTasks: measured.longTasks.length,
        longTaskMs: measured.longTasks.reduce((a, b) => a + b, 0),
        shownAgeP50Ms: percentile(ages, 50),
        shownAgeP99Ms: percentile(ages, 99),
        browserCores: byName(chromiumProcs.name)?.cores ?? 0,
        browserPeakRssMiB: byName(chromiumProcs.name)?.peakRssMiB ?? 0,
        serverCores: byName('fleetpulse all')?.cores ?? 0,
        loadgenCores: byName('loadgen')?.cores ?? 0,
        otherCores: usage.otherCores,
        coalesceMs: opts.liveCoalesceMs,
      }
      run.console = figures
      ctx.log(`console: ${consoleLine(figures)}`)
    } finally {
      await browser.close().catch(() => undefined)
    }
  })
}

const f0 = (n: number | null) => (n === null ? '–' : Math.round(n).toLocaleString('en-US'))

export function consoleLine(c: ConsoleFigures): string {
  return [
    `${f0(c.vehicles)} vehicles, accepted ${f0(c.acceptedPerS)}/s of ${f0(c.offeredPerS)}/s`,
    `${c.fps.toFixed(1)} frames/s, frame interval p50 ${f0(c.frameP50Ms)} ms p95 ${f0(c.frameP95Ms)} ms p99 ${f0(c.frameP99Ms)} ms max ${f0(c.frameMaxMs)} ms`,
    `${c.longTasks} long tasks (${f0(c.longTaskMs)} ms)`,
    `shown fix age p50 ${f0(c.shownAgeP50Ms)} ms p99 ${f0(c.shownAgeP99Ms)} ms`,
    `chromium ${c.browserCores.toFixed(2)} cores (peak RSS ${f0(c.browserPeakRssMiB)} MiB), server ${c.serverCores.toFixed(2)} cores`,
    `other load ${c.otherCores.toFixed(2)} cores`,
  ].join(', ')
}
