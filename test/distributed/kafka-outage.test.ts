/**
 * Kafka stops for 30 s while devices publish, then comes back. Runs on a
 * private single-node broker (test/helpers/kafka.ts): stopping the shared one
 * would break the other files running in parallel.
 *
 * A PUBACK is the promise that Kafka has the fix: none may be sent while Kafka
 * is down, none of those sent may be lost, and the device keeps (and sends
 * again) whatever was not acknowledged. Ingest reports not ready during the
 * outage and keeps running.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest'
import { startPrivateKafka, type PrivateKafka } from '../helpers/kafka.js'
import { Processes, type FleetProcess } from '../helpers/processes.js'
import { login, provisionVehicle } from '../helpers/platform.js'
import {
  clusterEnv, countStored, drive, exactlyOnce, range, sleep, totalAcked, Tracker, waitAllAcked, waitSinkCaughtUp, positionsOnBus,
  type ClusterEnv,
} from './fleet.js'

const VEHICLES = 20
const PER_SECOND = 5 // per vehicle: 100 fixes/s in all
const FIXES_PER_VEHICLE = 250 // 50 s of driving: 5 s before the outage, 30 s of it, the rest after
const OUTAGE_MS = 30_000

let kafka: PrivateKafka
let cluster: ClusterEnv
let procs: Processes
let streamApi: FleetProcess
let ingest: FleetProcess
const trackers: Tracker[] = []

beforeAll(async () => {
  kafka = await startPrivateKafka()
  // A small producer buffer: the outage fills it, so ingest also refuses (and disconnects) at once.
  cluster = await clusterEnv({ kafkaBrokers: kafka.brokers, env: { BUS_MAX_BUFFERED: '500' } })
  procs = new Processes(cluster.env)
  ;[streamApi, ingest] = await Promise.all([procs.start('stream+api', ['stream', 'api']), procs.start('ingest', ['ingest'])])
}, 180_000)

afterAll(async () => {
  await Promise.all(trackers.map((t) => t.close()))
  await procs?.stopAll()
  await cluster?.cleanup()
  await kafka?.dispose()
})

interface Probe {
  at: number
  status: number | string
}

/** Polls /readyz of a process until stopped; keeps every answer. */
function pollReadiness(proc: FleetProcess) {
  const probes: Probe[] = []
  let stopped = false
  const loop = (async () => {
    while (!stopped) {
      const at = Date.now()
      probes.push({ at, status: await proc.readyz().then((r) => r.status, (err: unknown) => String(err)) })
      await sleep(250)
    }
  })()
  return {
    probes,
    between: (from: number, to: number) => probes.filter((p) => p.at >= from && p.at <= to).map((p) => p.status),
    stop: async () => {
      stopped = true
      await loop
    },
  }
}

describe('Kafka down for 30 s while devices publish', () => {
  it('loses no acknowledged fix, makes ingest not ready meanwhile, and gets every fix through once Kafka is back', async () => {
    onTestFailed(() => console.error(`${procs.report()}\n--- private kafka\n${kafka.output().slice(-8000)}`))
    const token = await login(streamApi.apiUrl!)
    const vehicles = []
    for (let i = 0; i < VEHICLES; i++) vehicles.push(await provisionVehicle(streamApi.apiUrl!, token, `Truck ${i}`))
    const t0 = Date.now() - 3_600_000
    for (const v of vehicles) trackers.push(await Tracker.connect(ingest.mqttUrl!, v, t0))

    const ingestReadiness = pollReadiness(ingest)
    const streamReadiness = pollReadiness(streamApi)
    const driving = drive(trackers, { count: FIXES_PER_VEHICLE, perSecond: PER_SECOND })
    await sleep(5000)
    const ackedBeforeOutage = totalAcked(trackers)
    expect(ackedBeforeOutage).toBeGreaterThan(0)

    await kafka.stop()
    const down = Date.now()
    const ackedWhenDown = new Map(trackers.map((t) => [t, new Set(t.acked)]))
    await sleep(OUTAGE_MS)
    // No PUBACK while Kafka is down: a PUBACK means Kafka has the fix.
    const ackedDuringOutage = trackers.reduce((n, t) => n + t.acked.size - ackedWhenDown.get(t)!.size, 0)
    expect(ackedDuringOutage).toBe(0)
    expect(ingest.running).toBe(true)
    const upAgain = Date.now()
    await kafka.start()

    const backUp = Date.now()
    await driving
    await waitAllAcked(trackers, FIXES_PER_VEHICLE, 120_000, () => procs.report())
    const allAcked = Date.now()
    // Ready again once Kafka answers.
    await ingest.waitReady(30_000)
    await streamApi.waitReady(30_000)
    await ingestReadiness.stop()
    await streamReadiness.stop()
    // Not ready during the outage: a stuck send (3 s) or the failing cluster probe (every 2 s, 3 s timeout) tells within 5 s.
    const ingestDuring = ingestReadiness.between(down + 6000, upAgain)
    expect(ingestDuring.length).toBeGreaterThan(50)
    expect(ingestDuring.every((s) => s === 503), JSON.stringify(ingestDuring)).toBe(true)
    expect(ingestReadiness.between(0, down - 1000)).toContain(200)
    expect(streamReadiness.between(down + 6000, upAgain).every((s) => s === 503)).toBe(true)

    await waitSinkCaughtUp(cluster, 90_000, () => procs.report())
    expect(await streamApi.terminate()).toEqual({ code: 0, signal: null })
    const expected = new Map(vehicles.map((v) => [v.vehicleId, range(FIXES_PER_VEHICLE)]))
    const stored = await countStored(cluster.chdbDir, expected)
    const onBus = await positionsOnBus(cluster)
    console.info(`kafka outage: ${ackedBeforeOutage} fixes acknowledged before the outage, ${ackedDuringOutage} during it; `
      + `${stored.finalRows} rows (FINAL), ${stored.rawRows} without FINAL, ${onBus} position messages on the bus; `
      + `${trackers.reduce((n, t) => n + t.connects, 0) - VEHICLES} reconnects, ${trackers.reduce((n, t) => n + t.republished, 0)} publishes dropped by MQTT.js and sent again; `
      + `Kafka answered ${backUp - upAgain} ms after its start, the last fix was acknowledged ${allAcked - backUp} ms after that`)
    // Every fix acknowledged before the outage is there, and so is everything after it: exactly once each.
    expect(stored.byVehicle).toEqual(exactlyOnce(expected))

    // Ingest rode it out: still running, nothing fatal, nothing unhandled.
    expect(ingest.running).toBe(true)
    expect(ingest.output()).not.toMatch(/"level":60|unhandled/i)
    expect(await ingest.terminate()).toEqual({ code: 0, signal: null })
  }, 240_000)
})
