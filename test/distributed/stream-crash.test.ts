/**
 * A stream process killed outright (SIGKILL: no drain, no commit, a ClickHouse
 * insert possibly half done) in the middle of 20,000 fixes, and started again
 * on the same DATA_DIR. Ingest runs in a process of its own, so fixes keep
 * going into Kafka while the stream is dead. Kafka keeps what the stream had
 * not committed, the restarted stream reads it again, and ClickHouse ends with
 * exactly one row per fix.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest'
import { Processes, type FleetProcess } from '../helpers/processes.js'
import { api, login, provisionVehicle } from '../helpers/platform.js'
import {
  clusterEnv, countStored, drive, exactlyOnce, fixAt, metric, range, sleep, totalAcked, Tracker, waitAllAcked, waitSinkCaughtUp, positionsOnBus,
  type ClusterEnv,
} from './fleet.js'

const VEHICLES = 20
const FIXES_PER_VEHICLE = 1000 // 20,000 fixes
const PER_SECOND = 40 // per vehicle: 800 fixes/s in all, about 25 s of driving

let cluster: ClusterEnv
let procs: Processes
let apiNode: FleetProcess
let ingest: FleetProcess
let stream: FleetProcess
const trackers: Tracker[] = []

beforeAll(async () => {
  cluster = await clusterEnv()
  procs = new Processes(cluster.env)
  ;[apiNode, stream, ingest] = await Promise.all([
    procs.start('api', ['api']),
    procs.start('stream', ['stream']),
    procs.start('ingest', ['ingest']),
  ])
}, 180_000)

afterAll(async () => {
  await Promise.all(trackers.map((t) => t.close()))
  await procs?.stopAll()
  await cluster?.cleanup()
})

describe('a stream process killed in the middle of 20,000 fixes', () => {
  it('leaves exactly one row per fix in ClickHouse once restarted on the same data', async () => {
    onTestFailed(() => console.error(procs.report()))
    const token = await login(apiNode.apiUrl!)
    const vehicles = []
    for (let i = 0; i < VEHICLES; i++) vehicles.push(await provisionVehicle(apiNode.apiUrl!, token, `Truck ${i}`))
    const t0 = Date.now() - 6 * 3_600_000
    for (const v of vehicles) trackers.push(await Tracker.connect(ingest.mqttUrl!, v, t0))

    const driving = drive(trackers, { count: FIXES_PER_VEHICLE, perSecond: PER_SECOND })
    // In the middle: the stream has written a good part, and most fixes are still to come.
    const deadline = Date.now() + 60_000
    while ((await metric(stream, 'fleetpulse_stream_positions_written_total')) < 4000) {
      if (Date.now() > deadline) throw new Error(`the stream wrote too little within 60 s\n${procs.report()}`)
      await sleep(100)
    }
    const killed = await stream.kill()
    expect(killed.signal).toBe('SIGKILL')
    const ackedAtKill = totalAcked(trackers)
    expect(ackedAtKill).toBeLessThan(VEHICLES * FIXES_PER_VEHICLE / 2)

    // Dead for a while: ingest keeps taking fixes into Kafka.
    await sleep(3000)
    const ackedWhileDead = totalAcked(trackers) - ackedAtKill
    expect(ackedWhileDead).toBeGreaterThan(500)
    expect(ingest.running).toBe(true)

    const restarted = await procs.start('stream (restarted)', ['stream'])
    await driving
    await waitAllAcked(trackers, FIXES_PER_VEHICLE, 60_000, () => procs.report())
    // The killed member may hold its partitions until its session times out (30 s); the group resumes then.
    await waitSinkCaughtUp(cluster, 120_000, () => procs.report())

    // The latest position in Postgres is each vehicle's last fix.
    const last = fixAt(t0, FIXES_PER_VEHICLE - 1)
    for (const v of vehicles) {
      const res = await api(apiNode.apiUrl!, 'GET', `/api/v1/vehicles/${v.vehicleId}/position`, { token })
      expect(res.body.ts).toBe(new Date(last.ts).toISOString())
    }

    const rewritten = await metric(restarted, 'fleetpulse_stream_positions_written_total')
    // Graceful stop of the chDB owner, then count in this process.
    expect(await restarted.terminate()).toEqual({ code: 0, signal: null })
    expect(restarted.output()).not.toMatch(/not fully drained/)
    const expected = new Map(vehicles.map((v) => [v.vehicleId, range(FIXES_PER_VEHICLE)]))
    const stored = await countStored(cluster.chdbDir, expected)
    const onBus = await positionsOnBus(cluster)
    console.info(`stream crash: ${ackedAtKill} fixes acknowledged when the stream was killed, ${ackedWhileDead} while it was dead, `
      + `${rewritten} written by the restarted stream; `
      + `${stored.finalRows} rows (FINAL), ${stored.rawRows} without FINAL, ${onBus} position messages on the bus`)
    expect(stored.byVehicle).toEqual(exactlyOnce(expected))
    expect(stored.finalRows).toBe(VEHICLES * FIXES_PER_VEHICLE)
    expect(ingest.running).toBe(true)
  }, 240_000)
})
