/**
 * The per-vehicle analytics state machine, in event time. Pure: it reads its
 * surroundings (thresholds, geofences, destination, learned speeds) through
 * `DetectorEnv` and returns facts; it does no I/O. Fed the same fixes in `ts`
 * order from the same state, it returns the same facts, which is what makes a
 * replay equal to the live run and a restart neither lose nor double-count.
 *
 * Definitions (README "Stream analytics" and docs/analytics.md):
 * - moving: speed >= movingSpeedKmh (the device's speed, else derived from the
 *   distance to the previous fix);
 * - a trip starts at the first moving fix after a stop and is confirmed once the
 *   vehicle is tripMinDistanceM from where it stopped (GPS jitter while parked
 *   never gets that far); it ends at the first fix of a stationary spell that
 *   lasts stopMinS; the stop lasts from there to the next confirmed trip's start;
 * - idling: ignition on and not moving for at least idleMinS;
 * - overspeed: above the limit (the lowest of the geofences the vehicle is in,
 *   else the organization's) for at least overspeedMinS;
 * - harsh acceleration / braking: speed change between fixes at most
 *   harshMaxGapS apart beyond the thresholds (m/s²); harsh cornering: lateral
 *   acceleration speed × turn rate beyond its threshold. Consecutive qualifying
 *   fixes are one event (its peak kept), stamped at the fix before it. From GPS
 *   speeds alone this needs fixes about 2 s apart or closer; a device with an
 *   accelerometer reports its own events on devices/<id>/events.
 */
import { latLngToCell } from 'h3-js'
import { h3ToUInt64 } from '../../core/geo.js'

export interface AnalyticsSettings {
  movingSpeedKmh: number
  stopMinS: number
  tripMinDistanceM: number
  idleMinS: number
  overspeedMinS: number
  harshAccelMs2: number
  harshBrakeMs2: number
  harshCornerMs2: number
  harshMaxGapS: number
  /** ETA updates per vehicle at most this often, event time. */
  etaIntervalS: number
}

export const DEFAULT_ANALYTICS_SETTINGS: AnalyticsSettings = {
  movingSpeedKmh: 5,
  stopMinS: 120,
  tripMinDistanceM: 200,
  idleMinS: 120,
  overspeedMinS: 10,
  harshAccelMs2: 3,
  harshBrakeMs2: 3.5,
  harshCornerMs2: 4,
  harshMaxGapS: 5,
  etaIntervalS: 5,
}

export interface GeofenceHit {
  id: string
  speedLimitKmh: number | null
  dwellAlertS: number | null
}

export interface Destination {
  lat: number
  lon: number
  radiusM: number
  orderId: string | null
  /** epoch ms; a new destination (or the same place set again) starts a new ETA run. */
  setAt: number
}

export interface DetectorEnv {
  settings: AnalyticsSettings
  overspeedLimitKmh(orgId: string): number
  geofencesAt(orgId: string, lat: number, lon: number): GeofenceHit[]
  /** Live only; a replay passes none (ETAs are not replayed). */
  destination(vehicleId: string): Destination | undefined
  /** Expected speed (km/h) from the fleet's history at this place and hour of week. */
  expectedSpeedKmh(orgId: string, lat: number, lon: number, ts: number): number
  /** Route distance over straight-line distance, learned from the fleet's trips. */
  detourFactor(orgId: string): number
  driverAt(vehicleId: string, ts: number): string | null
}

export interface DetectorFix {
  ts: number
  lat: number
  lon: number
  speed?: number | undefined
  heading?: number | undefined
  ignition?: boolean | undefined
  odometer?: number | undefined
}

export interface Trip {
  orgId: string; vehicleId: string; driverId: string | null
  startTs: number; endTs: number
  startLat: number; startLon: number; endLat: number; endLon: number
  distanceM: number; straightM: number; maxSpeedKmh: number; avgSpeedKmh: number
}
export interface Stop {
  orgId: string; vehicleId: string; driverId: string | null
  startTs: number; endTs: number; lat: number; lon: number
}
export interface Idle {
  orgId: string; vehicleId: string; driverId: string | null
  startTs: number; endTs: number; lat: number; lon: number
}
export type DrivingEventKind = 'overspeed' | 'harsh_acceleration' | 'harsh_braking' | 'harsh_cornering'
export interface DrivingEvent {
  orgId: string; vehicleId: string; driverId: string | null
  kind: DrivingEventKind
  ts: number; endTs: number; lat: number; lon: number
  /** Overspeed: top speed (km/h); harsh: peak acceleration (m/s², absolute). */
  value: number
  /** Overspeed: the limit (km/h); harsh: the threshold. */
  threshold: number
  speedKmh: number
  geofenceId: string | null
}
export type GeofenceEventKind = 'enter' | 'exit' | 'dwell'
export interface GeofenceEvent {
  orgId: string; vehicleId: string; driverId: string | null
  geofenceId: string; kind: GeofenceEventKind
  ts: number; enterTs: number; lat: number; lon: number
}
export interface EtaUpdate {
  orgId: string; vehicleId: string; orderId: string | null
  ts: number; destLat: number; destLon: number; remainingM: number; etaTs: number; arrived: boolean
}
export interface EtaOutcome {
  orgId: string; vehicleId: string; orderId: string | null
  setAt: number; startTs: number; arrivedTs: number; startRemainingM: number
  /** The estimate made when half the straight-line distance was left, if the run got that far. */
  halfTs: number | null; halfEtaTs: number | null
}

export interface Facts {
  trips: Trip[]
  stops: Stop[]
  idles: Idle[]
  drivingEvents: DrivingEvent[]
  geofenceEvents: GeofenceEvent[]
  etas: EtaUpdate[]
  etaOutcomes: EtaOutcome[]
  /** States worth keeping as a starting point: taken at each trip's end and at least hourly. */
  checkpoints: VehicleState[]
}

export const emptyFacts = (): Facts => ({
  trips: [], stops: [], idles: [], drivingEvents: [], geofenceEvents: [], etas: [], etaOutcomes: [], checkpoints: [],
})

interface TripAcc {
  startTs: number; startLat: number; startLon: number
  distanceM: number; maxSpeedKmh: number; confirmed: boolean
  /** First fix of the current stationary spell, and the distance up to it. */
  stillTs: number | null; stillLat: number; stillLon: number; distanceAtStillM: number
}

interface HarshAcc { kind: DrivingEventKind; ts: number; lastTs: number; peak: number; threshold: number; lat: number; lon: number; speedKmh: number }

/** Serializable (JSON) state of one vehicle. */
export interface VehicleState {
  v: 1
  orgId: string
  vehicleId: string
  /** Last fix applied (event time, ms), and what it said. */
  lastTs: number
  lastLat: number
  lastLon: number
  lastSpeedKmh: number
  lastHeading: number | null
  lastOdometerKm: number | null
  /** Timestamps of the latest fixes applied: a redelivered fix is recognised and skipped. */
  recent: number[]
  /** The stop the vehicle is in (null while on a confirmed trip); startTs of a cold start is its first fix. */
  stop: { startTs: number; lat: number; lon: number } | null
  trip: TripAcc | null
  idle: { startTs: number; lat: number; lon: number } | null
  overspeed: { startTs: number; lastTs: number; maxSpeedKmh: number; limitKmh: number; lat: number; lon: number; geofenceId: string | null } | null
  harsh: HarshAcc | null
  geofences: Record<string, { enterTs: number; dwellAlerted: boolean }>
  /** Event time of the last checkpoint taken. */
  checkpointTs: number
  eta: { key: string; setAt: number; orderId: string | null; startTs: number; startRemainingM: number; lastSentTs: number; arrived: boolean; halfTs: number | null; halfEtaTs: number | null } | null
}

const RECENT = 256
const CHECKPOINT_EVERY_MS = 3_600_000

const RAD = Math.PI / 180
/** Haversine on the mean Earth radius (h3-js's greatCircleDistance, without the call into WebAssembly per fix). */
export const distanceM = (aLat: number, aLon: number, bLat: number, bLon: number): number => {
  const dLat = (bLat - aLat) * RAD
  const dLon = (bLon - aLon) * RAD
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(aLat * RAD) * Math.cos(bLat * RAD) * Math.sin(dLon / 2) ** 2
  return 2 * 6_371_007.180918475 * Math.asin(Math.min(1, Math.sqrt(h)))
}

export function initialState(orgId: string, vehicleId: string, fix: DetectorFix): VehicleState {
  return {
    v: 1, orgId, vehicleId,
    lastTs: fix.ts, lastLat: fix.lat, lastLon: fix.lon, lastSpeedKmh: fix.speed ?? 0, lastHeading: fix.heading ?? null,
    lastOdometerKm: fix.odometer ?? null, recent: [fix.ts],
    stop: { startTs: fix.ts, lat: fix.lat, lon: fix.lon }, trip: null, idle: null, overspeed: null, harsh: null,
    geofences: {}, eta: null, checkpointTs: fix.ts,
  }
}

export type FixVerdict = 'applied' | 'duplicate' | 'late'

/**
 * Applies one fix. A fix at or before the last one applied is not applied: a
 * `duplicate` (seen recently) is dropped, a `late` one needs a recompute of the
 * vehicle from an earlier checkpoint (the caller's job).
 */
export function applyFix(state: VehicleState, fix: DetectorFix, env: DetectorEnv, out: Facts): FixVerdict {
  if (fix.ts <= state.lastTs) return state.recent.includes(fix.ts) ? 'duplicate' : 'late'
  const s = env.settings
  const { orgId, vehicleId } = state
  const dtS = (fix.ts - state.lastTs) / 1000
  const hop = distanceM(state.lastLat, state.lastLon, fix.lat, fix.lon)
  const speed = fix.speed ?? (dtS > 0 ? (hop / dtS) * 3.6 : 0)
  const moving = speed >= s.movingSpeedKmh
  // Distance: the odometer when it is there and sane, else the straight hop while moving.
  let travelled = moving ? hop : 0
  if (fix.odometer !== undefined && state.lastOdometerKm !== null) {
    const d = (fix.odometer - state.lastOdometerKm) * 1000
    if (d >= 0 && d <= dtS * 100 + 50) travelled = d
  }
  const driver = () => env.driverAt(vehicleId, fix.ts)
  const hits = env.geofencesAt(orgId, fix.lat, fix.lon)

  // --- trips and stops
  if (!state.trip && moving) {
    state.trip = {
      startTs: fix.ts, startLat: fix.lat, startLon: fix.lon, distanceM: 0, maxSpeedKmh: speed, confirmed: false,
      stillTs: null, stillLat: fix.lat, stillLon: fix.lon, distanceAtStillM: 0,
    }
  } else if (state.trip) {
    const trip = state.trip
    trip.distanceM += travelled
    if (moving) {
      trip.maxSpeedKmh = Math.max(trip.maxSpeedKmh, speed)
      trip.stillTs = null
    } else if (trip.stillTs === null) {
      trip.stillTs = fix.ts
      trip.stillLat = fix.lat
      trip.stillLon = fix.lon
      trip.distanceAtStillM = trip.distanceM
    }
  }
  const trip = state.trip
  if (trip && !trip.confirmed && state.stop && distanceM(state.stop.lat, state.stop.lon, fix.lat, fix.lon) >= s.tripMinDistanceM) {
    trip.confirmed = true
    out.stops.push({ orgId, vehicleId, driverId: env.driverAt(vehicleId, state.stop.startTs), startTs: state.stop.startTs, endTs: trip.startTs, lat: state.stop.lat, lon: state.stop.lon })
    state.stop = null
  }
  let tripEnded = false
  if (trip && trip.stillTs !== null && fix.ts - trip.stillTs >= s.stopMinS * 1000) {
    if (trip.confirmed) {
      const durationS = (trip.stillTs - trip.startTs) / 1000
      out.trips.push({
        orgId, vehicleId, driverId: env.driverAt(vehicleId, trip.startTs),
        startTs: trip.startTs, endTs: trip.stillTs, startLat: trip.startLat, startLon: trip.startLon, endLat: trip.stillLat, endLon: trip.stillLon,
        distanceM: trip.distanceAtStillM, straightM: distanceM(trip.startLat, trip.startLon, trip.stillLat, trip.stillLon),
        maxSpeedKmh: trip.maxSpeedKmh, avgSpeedKmh: durationS > 0 ? (trip.distanceAtStillM / durationS) * 3.6 : 0,
      })
      state.stop = { startTs: trip.stillTs, lat: trip.stillLat, lon: trip.stillLon }
      tripEnded = true
    }
    // An unconfirmed start was jitter or a shuffle: the stop simply goes on.
    state.trip = null
  }

  // --- idling
  const idling = fix.ignition === true && !moving
  if (idling && !state.idle) state.idle = { startTs: fix.ts, lat: fix.lat, lon: fix.lon }
  if (!idling && state.idle) {
    if (fix.ts - state.idle.startTs >= s.idleMinS * 1000) {
      out.idles.push({ orgId, vehicleId, driverId: env.driverAt(vehicleId, state.idle.startTs), startTs: state.idle.startTs, endTs: fix.ts, lat: state.idle.lat, lon: state.idle.lon })
    }
    state.idle = null
  }

  // --- overspeed, against the lowest limit that applies here
  let limit = env.overspeedLimitKmh(orgId)
  let limitFence: string | null = null
  for (const h of hits) {
    if (h.speedLimitKmh !== null && h.speedLimitKmh < limit) {
      limit = h.speedLimitKmh
      limitFence = h.id
    }
  }
  if (speed > limit) {
    if (!state.overspeed) state.overspeed = { startTs: fix.ts, lastTs: fix.ts, maxSpeedKmh: speed, limitKmh: limit, lat: fix.lat, lon: fix.lon, geofenceId: limitFence }
    state.overspeed.lastTs = fix.ts
    state.overspeed.maxSpeedKmh = Math.max(state.overspeed.maxSpeedKmh, speed)
  } else if (state.overspeed) {
    closeOverspeed(state, env, out)
  }

  // --- harsh driving, between fixes close enough in time to tell
  let harsh: Omit<HarshAcc, 'ts' | 'lastTs'> | null = null
  if (dtS > 0 && dtS <= s.harshMaxGapS) {
    const accel = (speed - state.lastSpeedKmh) / 3.6 / dtS
    if (accel >= s.harshAccelMs2) harsh = { kind: 'harsh_acceleration', peak: accel, threshold: s.harshAccelMs2, lat: fix.lat, lon: fix.lon, speedKmh: speed }
    else if (-accel >= s.harshBrakeMs2) harsh = { kind: 'harsh_braking', peak: -accel, threshold: s.harshBrakeMs2, lat: fix.lat, lon: fix.lon, speedKmh: speed }
    else if (fix.heading !== undefined && state.lastHeading !== null) {
      const turn = Math.abs(((fix.heading - state.lastHeading + 540) % 360) - 180)
      const avgMs = (speed + state.lastSpeedKmh) / 2 / 3.6
      const lateral = avgMs * ((turn * Math.PI) / 180 / dtS)
      if (avgMs >= 15 / 3.6 && lateral >= s.harshCornerMs2) {
        harsh = { kind: 'harsh_cornering', peak: lateral, threshold: s.harshCornerMs2, lat: fix.lat, lon: fix.lon, speedKmh: speed }
      }
    }
  }
  if (state.harsh && (!harsh || harsh.kind !== state.harsh.kind)) closeHarsh(state, env, out)
  if (harsh) {
    // It began within the interval measured: stamped at its start, the previous fix.
    if (!state.harsh) state.harsh = { ...harsh, ts: state.lastTs, lastTs: fix.ts }
    else if (harsh.peak > state.harsh.peak) Object.assign(state.harsh, { peak: harsh.peak, speedKmh: harsh.speedKmh })
    state.harsh.lastTs = fix.ts
  }

  // --- geofences
  const inside = new Set(hits.map((h) => h.id))
  for (const [id, visit] of Object.entries(state.geofences)) {
    if (inside.has(id)) continue
    out.geofenceEvents.push({ orgId, vehicleId, driverId: driver(), geofenceId: id, kind: 'exit', ts: fix.ts, enterTs: visit.enterTs, lat: fix.lat, lon: fix.lon })
    delete state.geofences[id]
  }
  for (const h of hits) {
    let visit = state.geofences[h.id]
    if (!visit) {
      visit = state.geofences[h.id] = { enterTs: fix.ts, dwellAlerted: false }
      out.geofenceEvents.push({ orgId, vehicleId, driverId: driver(), geofenceId: h.id, kind: 'enter', ts: fix.ts, enterTs: fix.ts, lat: fix.lat, lon: fix.lon })
    } else if (h.dwellAlertS !== null && !visit.dwellAlerted && fix.ts - visit.enterTs >= h.dwellAlertS * 1000) {
      visit.dwellAlerted = true
      out.geofenceEvents.push({ orgId, vehicleId, driverId: driver(), geofenceId: h.id, kind: 'dwell', ts: fix.ts, enterTs: visit.enterTs, lat: fix.lat, lon: fix.lon })
    }
  }

  // --- ETA to the destination, if the vehicle has one
  updateEta(state, fix, env, out)

  state.lastTs = fix.ts
  state.lastLat = fix.lat
  state.lastLon = fix.lon
  state.lastSpeedKmh = speed
  state.lastHeading = fix.heading ?? null
  state.lastOdometerKm = fix.odometer ?? state.lastOdometerKm
  state.recent.push(fix.ts)
  // Trimmed in steps, not on every fix.
  if (state.recent.length >= 2 * RECENT) state.recent.splice(0, state.recent.length - RECENT)
  // At each trip's end, and at least hourly (a long stop), so no recompute reads far back.
  if (tripEnded || fix.ts - state.checkpointTs >= CHECKPOINT_EVERY_MS) {
    state.checkpointTs = fix.ts
    out.checkpoints.push(structuredClone(state))
  }
  return 'applied'
}

function closeOverspeed(state: VehicleState, env: DetectorEnv, out: Facts): void {
  const o = state.overspeed!
  state.overspeed = null
  if (o.lastTs - o.startTs < env.settings.overspeedMinS * 1000) return
  out.drivingEvents.push({
    orgId: state.orgId, vehicleId: state.vehicleId, driverId: env.driverAt(state.vehicleId, o.startTs), kind: 'overspeed',
    ts: o.startTs, endTs: o.lastTs, lat: o.lat, lon: o.lon, value: o.maxSpeedKmh, threshold: o.limitKmh, speedKmh: o.maxSpeedKmh, geofenceId: o.geofenceId,
  })
}

function closeHarsh(state: VehicleState, env: DetectorEnv, out: Facts): void {
  const h = state.harsh!
  state.harsh = null
  out.drivingEvents.push({
    orgId: state.orgId, vehicleId: state.vehicleId, driverId: env.driverAt(state.vehicleId, h.ts), kind: h.kind,
    ts: h.ts, endTs: h.lastTs, lat: h.lat, lon: h.lon, value: h.peak, threshold: h.threshold, speedKmh: h.speedKmh, geofenceId: null,
  })
}

function updateEta(state: VehicleState, fix: DetectorFix, env: DetectorEnv, out: Facts): void {
  const dest = env.destination(state.vehicleId)
  if (!dest) {
    state.eta = null
    return
  }
  const key = `${dest.lat},${dest.lon},${dest.radiusM},${dest.setAt}`
  const remainingM = distanceM(fix.lat, fix.lon, dest.lat, dest.lon)
  if (!state.eta || state.eta.key !== key) {
    state.eta = { key, setAt: dest.setAt, orderId: dest.orderId, startTs: fix.ts, startRemainingM: remainingM, lastSentTs: -Infinity, arrived: false, halfTs: null, halfEtaTs: null }
  }
  const eta = state.eta
  if (eta.arrived) return
  const base = { orgId: state.orgId, vehicleId: state.vehicleId, orderId: eta.orderId, ts: fix.ts, destLat: dest.lat, destLon: dest.lon }
  if (remainingM <= dest.radiusM) {
    eta.arrived = true
    out.etas.push({ ...base, remainingM: 0, etaTs: fix.ts, arrived: true })
    out.etaOutcomes.push({
      orgId: state.orgId, vehicleId: state.vehicleId, orderId: eta.orderId, setAt: eta.setAt, startTs: eta.startTs, arrivedTs: fix.ts,
      startRemainingM: eta.startRemainingM, halfTs: eta.halfTs, halfEtaTs: eta.halfEtaTs,
    })
    return
  }
  const routeM = remainingM * env.detourFactor(state.orgId)
  const kmh = Math.max(1, env.expectedSpeedKmh(state.orgId, fix.lat, fix.lon, fix.ts))
  const etaTs = Math.round(fix.ts + (routeM / (kmh / 3.6)) * 1000)
  if (eta.halfTs === null && remainingM <= eta.startRemainingM / 2) {
    eta.halfTs = fix.ts
    eta.halfEtaTs = etaTs
  }
  if (fix.ts - eta.lastSentTs >= env.settings.etaIntervalS * 1000) {
    eta.lastSentTs = fix.ts
    out.etas.push({ ...base, remainingM, etaTs, arrived: false })
  }
}

/** The H3 cell (res 9) of a place, as ClickHouse stores it (UInt64 as a decimal string). */
export const cellOf = (lat: number, lon: number): string => h3ToUInt64(latLngToCell(lat, lon, 9))
