/**
 * The query section: ClickHouse dashboard reads on a month of positions
 * (default ten million), in a helper process that owns its own chDB (see
 * query.child.ts). Its figures are p50/p99 per read over the repetitions.
 */
import type { QueryDataFigures, QueryBenchApi, QueryTiming } from './protocol.js'
import { closeHelper, newRun, type ModeContext, type ModeRun } from './mode.js'
import { machineBusyS, readProc } from './procstat.js'
import { makeTempDir, removeTempDir } from './processes.js'
import { forkHelper, type RpcChild } from './rpc.js'

export interface QuerySection {
  data: QueryDataFigures
  timings: QueryTiming[]
  repetitions: number
  /** Peak RSS of the helper (chDB included), MiB. */
  peakRssMiB: number | null
  /** Busy cores of anything but the helper and the bench itself while the reads were timed. */
  otherCores: number | null
}

/** CPU seconds of the helper and of this process, and of the whole machine. */
function cpuNow(helperPid: number) {
  return { machine: machineBusyS(), ours: (readProc(helperPid)?.cpuS ?? 0) + (readProc(process.pid)?.cpuS ?? 0), at: performance.now() }
}

const f0 = (n: number | null) => (n === null ? '–' : Math.round(n).toLocaleString('en-US'))

export async function runQuery(ctx: ModeContext): Promise<ModeRun> {
  const run = newRun(ctx, 'query')
  const dir = makeTempDir('fleetpulse-bench-chdb-')
  let helper: RpcChild<QueryBenchApi> | undefined
  try {
    helper = forkHelper<QueryBenchApi>('query', 'query.child.ts')
    const t0 = performance.now()
    ctx.log(`query: generating ${ctx.opts.positions.toLocaleString('en-US')} positions in chDB and deriving their facts`)
    const data = await helper.call('prepare', { dir, positions: ctx.opts.positions, nowMs: Date.now() })
    run.setup.prepareS = (performance.now() - t0) / 1000
    ctx.log(
      `query: ${f0(data.positions)} positions (${f0(data.vehicles)} vehicles, ${data.days} days) generated in ${data.generateS.toFixed(1)} s, ` +
        `facts derived in ${data.deriveS.toFixed(1)} s (detector ${f0(data.positions / data.detectS)} fixes/s)`,
    )
    ctx.log(`query: timing ${ctx.opts.queryRepetitions} repetitions of each read`)
    const before = cpuNow(helper.pid)
    const timings = await helper.call('measure', { repetitions: ctx.opts.queryRepetitions })
    const after = cpuNow(helper.pid)
    const otherCores = Math.max(0, (after.machine - before.machine - (after.ours - before.ours)) / ((after.at - before.at) / 1000))
    ctx.log(`query: other load on the machine while timing ${otherCores.toFixed(2)} cores`)
    for (const t of timings) ctx.log(`query: ${t.name}: p50 ${t.p50Ms?.toFixed(1)} ms, p99 ${t.p99Ms?.toFixed(1)} ms, max ${t.maxMs?.toFixed(1)} ms`)
    run.query = { data, timings, repetitions: ctx.opts.queryRepetitions, peakRssMiB: readProc(helper.pid)?.peakRssMiB ?? null, otherCores }
  } catch (err) {
    run.error = (err as Error).message
  } finally {
    await closeHelper(helper)
    removeTempDir(dir)
  }
  return run
}
