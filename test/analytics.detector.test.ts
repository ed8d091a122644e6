/**
 * The analytics state machine against the simulator's ground truth: scripted
 * vehicle days whose trips, stops, idles and harsh events are known exactly.
 * Pure (no I/O): the same detector runs live, in a recompute and in a replay.
 */
import { describe, expect, it } from 'vitest'
import { Scenario, type ScenarioFix } from '../sim/scenario.js'
import {
  applyFix, DEFAULT_ANALYTICS_SETTINGS, emptyFacts, initialState, type Destination, type DetectorEnv, type Facts, type VehicleState,
} from '../stream/analytics/detector.js'
import { GeofenceIndex } from '../stream/analytics/geofences.js'

const ORG = '00000000-0000-4000-8000-000000000001'
const VEHICLE = '00000000-0000-4000-8000-000000000002'
const START = { lat: 52.52, lon: 13.405 }
const T0 = Date.UTC(2026, 10, 2, 6, 0, 0)
const S = DEFAULT_ANALYTICS_SETTINGS

function env(overrides: Partial<DetectorEnv> = {}): DetectorEnv {
  return {
    settings: S,
    overspeedLimitKmh: () => 90,
    geofencesAt: () => [],
    destination: () => undefined,
    expectedSpeedKmh: () => 40,
    detourFactor: () => 1,
    driverAt: () => null,
    ...overrides,
  }
}

function run(fixes: ScenarioFix[], e = env(), state?: VehicleState): { facts: Facts; state: VehicleState } {
  const facts = emptyFacts()
  let s = state
  for (const f of fixes) {
    if (!s) s = initialState(ORG, VEHICLE, f)
    else applyFix(s, f, e, facts)
  }
  return { facts, state: s! }
}

/** A working day: parked, warm-up, three deliveries with a red light, hard braking and a long idle. */
function workday(intervalS = 2, seed = 7) {
  return new Scenario(START, T0, intervalS, seed)
    .park(900)
    .idle(60)
    .drive({ distanceM: 4000, bearing: 60, cruiseKmh: 50 })
    .idle(30) // a red light: part of the trip
    .drive({ distanceM: 2500, bearing: 80, cruiseKmh: 45, harshBrakeAt: 0.5 })
    .idle(200) // engine left running at the customer: a stop and an idle
    .park(1200)
    .idle(40)
    .drive({ distanceM: 6000, bearing: 200, cruiseKmh: 70, harshBrakeAt: 0.3, harshBrakeMs2: 5 })
    .park(600)
    .idle(30)
    .drive({ distanceM: 3000, bearing: 300, cruiseKmh: 40 })
    .park(1800)
}

describe('trips, stops and idles against the ground truth', () => {
  for (const intervalS of [1, 2, 5]) {
    it(`finds every trip within one fix, stops within 10 %, idles and harsh braking (a fix every ${intervalS} s)`, () => {
      const sc = workday(intervalS)
      const truth = sc.truth(S.stopMinS, S.idleMinS)
      const { facts } = run(sc.fixList)
      const tolerance = intervalS * 1000 + 500

      expect(facts.trips).toHaveLength(truth.trips.length)
      facts.trips.forEach((t, i) => {
        expect(Math.abs(t.startTs - truth.trips[i]!.startTs)).toBeLessThanOrEqual(tolerance)
        expect(Math.abs(t.endTs - truth.trips[i]!.endTs)).toBeLessThanOrEqual(tolerance)
        expect(t.distanceM).toBeGreaterThan(truth.trips[i]!.distanceM * 0.98)
        expect(t.distanceM).toBeLessThan(truth.trips[i]!.distanceM * 1.02)
      })

      expect(facts.stops).toHaveLength(truth.stops.length)
      facts.stops.forEach((s, i) => {
        const want = truth.stops[i]!.endTs - truth.stops[i]!.startTs
        expect(Math.abs(s.endTs - s.startTs - want)).toBeLessThanOrEqual(want * 0.1)
      })

      expect(facts.idles.map((i) => Math.round((i.endTs - i.startTs) / 1000))).toHaveLength(truth.idles.length)
      facts.idles.forEach((idle, i) => {
        expect(Math.abs(idle.startTs - truth.idles[i]!.startTs)).toBeLessThanOrEqual(tolerance + 3000)
        expect(Math.abs(idle.endTs - truth.idles[i]!.endTs)).toBeLessThanOrEqual(tolerance)
      })

      // Hard braking lasts about 2 s: fixes 5 s apart average it away (devices report such events themselves).
      const harsh = facts.drivingEvents.filter((e) => e.kind !== 'overspeed')
      expect(harsh.map((h) => h.kind)).toEqual(intervalS <= 2 ? truth.harsh.map((h) => h.kind) : [])
      harsh.forEach((h, i) => expect(Math.abs(h.ts - truth.harsh[i]!.ts)).toBeLessThanOrEqual(tolerance))
    })
  }

  it('finds no trip in a day parked with GPS jitter and the engine switched on and off', () => {
    const sc = new Scenario(START, T0, 2, 3).park(3600).idle(300).park(3600).idle(50).park(1800)
    const { facts } = run(sc.fixList)
    expect(facts.trips).toEqual([])
    expect(facts.stops).toEqual([])
    expect(facts.drivingEvents).toEqual([])
    expect(facts.idles).toHaveLength(1)
  })

  it('finds overspeed against the organization limit and against a lower geofence limit', () => {
    const sc = new Scenario(START, T0, 1, 5)
      .park(300)
      .drive({ distanceM: 5000, bearing: 90, cruiseKmh: 110, limitKmh: 90 })
      .park(600)
    const truth = sc.truth(S.stopMinS, S.idleMinS)
    const { facts } = run(sc.fixList)
    const over = facts.drivingEvents.filter((e) => e.kind === 'overspeed')
    expect(over).toHaveLength(1)
    expect(Math.abs(over[0]!.ts - truth.overspeed[0]!.startTs)).toBeLessThanOrEqual(1500)
    expect(Math.abs(over[0]!.endTs - truth.overspeed[0]!.endTs)).toBeLessThanOrEqual(1500)
    expect(over[0]!.value).toBeCloseTo(110, 0)

    // The same drive at 60 km/h is fine for the org, but not inside a 30 km/h zone around the route.
    const slow = new Scenario(START, T0, 1, 5).park(300).drive({ distanceM: 5000, bearing: 90, cruiseKmh: 60 }).park(600)
    const zone = new GeofenceIndex([{
      id: '00000000-0000-4000-8000-0000000000aa', orgId: ORG, kind: 'circle', polygon: null,
      centerLat: START.lat, centerLon: START.lon, radiusM: 20_000, speedLimitKmh: 30, dwellAlertS: null,
    }])
    expect(run(slow.fixList).facts.drivingEvents).toEqual([])
    const zoned = run(slow.fixList, env({ geofencesAt: (o, lat, lon) => zone.at(o, lat, lon) })).facts.drivingEvents
    expect(zoned.map((e) => [e.kind, e.threshold, e.geofenceId])).toEqual([['overspeed', 30, '00000000-0000-4000-8000-0000000000aa']])
  })

  it('gives the same facts when the fixes are applied from a checkpoint (restart, recompute, replay)', () => {
    const fixes = workday(2).fixList
    const whole = run(fixes)
    const checkpoint = whole.facts.checkpoints[1]!
    const before = run(fixes.filter((f) => f.ts <= checkpoint.lastTs))
    const after = run(fixes.filter((f) => f.ts > checkpoint.lastTs), env(), structuredClone(checkpoint))
    const key = (f: Facts) => JSON.stringify({ ...f, checkpoints: f.checkpoints.length })
    const joined = emptyFacts()
    for (const k of Object.keys(joined) as Array<keyof Facts>) (joined[k] as unknown[]).push(...(before.facts[k] as unknown[]), ...(after.facts[k] as unknown[]))
    expect(key(joined)).toEqual(key(whole.facts))
    expect(after.state).toEqual(whole.state)
  })
})

describe('geofences on H3', () => {
  const square = [[[13.40, 52.50], [13.42, 52.50], [13.42, 52.51], [13.40, 52.51], [13.40, 52.50]]]
  const fence = { id: '00000000-0000-4000-8000-0000000000bb', orgId: ORG, kind: 'polygon' as const, polygon: square, centerLat: null, centerLon: null, radiusM: null, speedLimitKmh: null, dwellAlertS: 120 }
  const index = new GeofenceIndex([fence])

  it('answers exactly at the boundary, and only for its organization', () => {
    expect(index.at(ORG, 52.505, 13.41).map((h) => h.id)).toEqual([fence.id])
    expect(index.at(ORG, 52.50001, 13.41)).toHaveLength(1)
    expect(index.at(ORG, 52.49999, 13.41)).toHaveLength(0)
    expect(index.at(ORG, 52.505, 13.42001)).toHaveLength(0)
    expect(index.at('00000000-0000-4000-8000-00000000ffff', 52.505, 13.41)).toHaveLength(0)
  })

  it('emits enter, dwell and exit as a vehicle drives through', () => {
    const sc = new Scenario({ lat: 52.505, lon: 13.39 }, T0, 2, 9)
      .park(60).drive({ distanceM: 1700, bearing: 90, cruiseKmh: 30 }).idle(200).drive({ distanceM: 1500, bearing: 90, cruiseKmh: 30 }).park(300)
    const { facts } = run(sc.fixList, env({ geofencesAt: (o, lat, lon) => index.at(o, lat, lon) }))
    expect(facts.geofenceEvents.map((g) => g.kind)).toEqual(['enter', 'dwell', 'exit'])
    const [enter, , exit] = facts.geofenceEvents
    expect((exit!.ts - enter!.ts) / 1000).toBeGreaterThan(200)
  })
})

describe('ETA', () => {
  it('is within 10 % of the remaining time at half way on routes with a known speed profile, and records its error on arrival', () => {
    const errors: number[] = []
    for (let seed = 1; seed <= 9; seed++) {
      // A route of red lights and cruising: its average speed is what the fleet's history shows.
      const sc = new Scenario(START, T0, 2, seed).park(120)
      const setAt = sc.now
      for (let leg = 0; leg < 8; leg++) sc.drive({ distanceM: 1000 + seed * 37, bearing: 45, cruiseKmh: 50 }).idle(20)
      sc.park(300)
      const legS = (1000 + seed * 37) / (50 / 3.6) + 50 / 3.6 / 1.5 + 20 // cruise + accelerate/brake + light
      const learnedKmh = ((1000 + seed * 37) / legS) * 3.6
      const last = sc.fixList.filter((f) => f.speed > 0).at(-1)!
      const dest: Destination = { lat: last.lat, lon: last.lon, radiusM: 30, orderId: null, setAt }
      const { facts } = run(sc.fixList, env({ destination: () => dest, expectedSpeedKmh: () => learnedKmh }))
      const outcome = facts.etaOutcomes[0]!
      expect(outcome.halfTs).not.toBeNull()
      errors.push(Math.abs(outcome.halfEtaTs! - outcome.arrivedTs) / (outcome.arrivedTs - outcome.halfTs!))
      expect(facts.etas.at(-1)!.arrived).toBe(true)
    }
    errors.sort((a, b) => a - b)
    expect(errors[Math.floor(errors.length / 2)]!).toBeLessThan(0.1)
  })
})
