/**
 * The ingest process restarted while devices publish: once gracefully
 * (SIGTERM) and once killed outright (SIGKILL), each time started again on the
 * same MQTT port. The devices reconnect by themselves and send again what was
 * not acknowledged; ClickHouse ends with exactly one row per fix.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest'
import { Processes, type FleetProcess } from '../helpers/processes.js'
import { login, provisionVehicle } from '../helpers/platform.js'
import {
  clusterEnv, countStored, drive, exactlyOnce, range, sleep, totalAcked, totalPublished, Tracker, waitAllAcked, waitSinkCaughtUp, positionsOnBus,
  type ClusterEnv,
} from './fleet.js'

const VEHICLES = 20
const PER_SECOND = 20 // per vehicle: 400 fixes/s in all
const FIXES_PER_VEHICLE = 500 // 25 s of driving, 10,000 fixes

let cluster: ClusterEnv
let procs: Processes
let streamApi: FleetProcess
let ingest: FleetProcess
const trackers: Tracker[] = []

beforeAll(async () => {
  cluster = await clusterEnv()
  procs = new Processes(cluster.env)
  ;[streamApi, ingest] = await Promise.all([procs.start('stream+api', ['stream', 'api']), procs.start('ingest', ['ingest'])])
}, 180_000)

afterAll(async () => {
  await Promise.all(trackers.map((t) => t.close()))
  await procs?.stopAll()
  await cluster?.cleanup()
})

/** Waits until at least `n` fixes were acknowledged in all. */
async function ackedAtLeast(n: number): Promise<void> {
  const deadline = Date.now() + 60_000
  while (totalAcked(trackers) < n) {
    if (Date.now() > deadline) throw new Error(`fewer than ${n} fixes acknowledged within 60 s\n${procs.report()}`)
    await sleep(100)
  }
}

describe('an ingest process restarted while devices publish', () => {
  it('is reconnected to and sent again what it had not acknowledged, without loss or duplicate in ClickHouse', async () => {
    onTestFailed(() => console.error(procs.report()))
    const token = await login(streamApi.apiUrl!)
    const vehicles = []
    for (let i = 0; i < VEHICLES; i++) vehicles.push(await provisionVehicle(streamApi.apiUrl!, token, `Truck ${i}`))
    const t0 = Date.now() - 3_600_000
    const mqttPort = ingest.mqttPort!
    for (const v of vehicles) trackers.push(await Tracker.connect(ingest.mqttUrl!, v, t0))
    const total = VEHICLES * FIXES_PER_VEHICLE
    const driving = drive(trackers, { count: FIXES_PER_VEHICLE, perSecond: PER_SECOND })
    const restarts: string[] = []
    /** Fixes the devices held unacknowledged while ingest was down: they must be sent again. */
    const held: number[] = []

    // Graceful: devices are cut off, what ingest handed to Kafka is flushed, the process exits 0.
    await ackedAtLeast(total / 4)
    expect(await ingest.terminate()).toEqual({ code: 0, signal: null })
    restarts.push(`SIGTERM at ${totalAcked(trackers)} acknowledged`)
    await sleep(1000)
    held.push(totalPublished(trackers) - totalAcked(trackers))
    ingest = await procs.start('ingest (after SIGTERM)', ['ingest'], { env: { MQTT_PORT: String(mqttPort) }, retryAddressInUseMs: 15_000 })

    // A crash: PUBACKs in flight are lost; the devices still hold those fixes.
    await ackedAtLeast(total / 2)
    const inFlight = totalPublished(trackers) - totalAcked(trackers)
    expect((await ingest.kill()).signal).toBe('SIGKILL')
    restarts.push(`SIGKILL at ${totalAcked(trackers)} acknowledged (${inFlight} in flight)`)
    await sleep(1000)
    held.push(totalPublished(trackers) - totalAcked(trackers))
    ingest = await procs.start('ingest (after SIGKILL)', ['ingest'], { env: { MQTT_PORT: String(mqttPort) }, retryAddressInUseMs: 15_000 })
    expect(ingest.mqttPort).toBe(mqttPort)
    for (const n of held) expect(n).toBeGreaterThan(100)

    await driving
    await waitAllAcked(trackers, FIXES_PER_VEHICLE, 90_000, () => procs.report())
    // Every device came back on its own, at least once per restart.
    for (const t of trackers) expect(t.connects, t.vehicle.deviceId).toBeGreaterThanOrEqual(3)

    await waitSinkCaughtUp(cluster, 60_000, () => procs.report())
    expect(await streamApi.terminate()).toEqual({ code: 0, signal: null })
    const expected = new Map(vehicles.map((v) => [v.vehicleId, range(FIXES_PER_VEHICLE)]))
    const stored = await countStored(cluster.chdbDir, expected)
    const onBus = await positionsOnBus(cluster)
    console.info(`ingest restarts: ${restarts.join(', ')}; ${held.join(' and ')} fixes held by the devices when ingest came back; ${stored.finalRows} rows (FINAL), ${stored.rawRows} without FINAL, ${onBus} position messages on the bus`)
    expect(stored.byVehicle).toEqual(exactlyOnce(expected))
    expect(stored.finalRows).toBe(total)
  }, 240_000)
})
