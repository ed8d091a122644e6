/**
 * The query section's data: a fleet's month of positions generated inside
 * ClickHouse (INSERT ... SELECT FROM numbers(), a few seconds per million),
 * then its facts derived by the real stream analytics: every vehicle's stored
 * fixes read back in time order (AnalyticsRepository.positionsAfterMany), run
 * through the detector (applyFix), written with writeFacts and rolled up with
 * refreshDailyKpis, as a replay does.
 *
 * The motion is closed-form so SQL can compute any fix from its number alone.
 * Each vehicle works one shift a day: out from its depot to a customer and
 * back, twice. A leg is 85 fixes 5 s apart while driving (smooth speed up and
 * down, peak 35-125 km/h) then 15 fixes 30 s apart standing still (a stop, with
 * the engine left running at some customers: an idle). Some legs go over the
 * 90 km/h limit, some brake hard once; the depots are geofences.
 */
import { latLngToCell } from 'h3-js'
import type { ClickHouseClient } from '@clickhouse/client'
import { AnalyticsRepository } from '../stream/analytics/analytics.repository.js'
import { applyFix, DEFAULT_ANALYTICS_SETTINGS, emptyFacts, initialState, type DetectorEnv, type Facts, type VehicleState } from '../stream/analytics/detector.js'
import { GeofenceIndex, type GeofenceDef } from '../stream/analytics/geofences.js'
import { mulberry32 } from '../sim/random.js'

/** Fixes per leg: DRIVE fixes DRIVE_STEP_S apart, then the rest STAND_STEP_S apart. */
const LEG = 100
const DRIVE = 85
const DRIVE_STEP_S = 5
const STAND_STEP_S = 30
/** A leg's length in time: its last standing fix is 25 s before the next leg's first. */
const LEG_S = DRIVE * DRIVE_STEP_S + (LEG - DRIVE) * STAND_STEP_S
const LEGS_PER_DAY = 4
export const FIXES_PER_DAY = LEG * LEGS_PER_DAY
const DAY_S = 86_400
/** The city the fleet works in (Berlin), and where the heatmap looks. */
export const CITY = { minLat: 52.38, maxLat: 52.66, minLon: 13.08, maxLon: 13.76 }
const DEPOTS = 10
const DEPOT_RADIUS_M = 400
const M_PER_DEG_LAT = 111_320

export interface QueryFleet {
  orgId: string
  vehicles: string[]
  drivers: string[]
  devices: string[]
  fixesPerVehicle: number
  days: number
  /** UTC midnight (ms) of the first day; the last day is today. */
  firstDayMs: number
  geofences: GeofenceDef[]
  /** Per vehicle: centre of its circle (deg), radius (m), angle of its depot on the circle (rad), direction, shift start (s after midnight). */
  layout: { centerLat: number[]; centerLon: number[]; radiusM: number[]; theta0: number[]; dir: number[]; shiftS: number[] }
}

const uuid = (rand: () => number) => {
  const hex = Array.from({ length: 32 }, () => Math.floor(rand() * 16).toString(16))
  hex[12] = '4'
  hex[16] = '8'
  const s = hex.join('')
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`
}

/** The same fleet for the same size and seed: ids, depots, each vehicle's circle. */
export function makeFleet(positions: number, nowMs: number, seed = 42): QueryFleet {
  const rand = mulberry32(seed)
  const vehicleCount = Math.max(1, Math.round(positions / 10_000))
  const fixesPerVehicle = Math.max(1, Math.floor(positions / vehicleCount))
  const days = Math.ceil(fixesPerVehicle / FIXES_PER_DAY)
  const today = Math.floor(nowMs / 86_400_000) * 86_400_000
  const orgId = uuid(rand)
  const depots = Array.from({ length: DEPOTS }, () => ({
    lat: CITY.minLat + 0.05 + rand() * (CITY.maxLat - CITY.minLat - 0.1),
    lon: CITY.minLon + 0.08 + rand() * (CITY.maxLon - CITY.minLon - 0.16),
  }))
  const geofences: GeofenceDef[] = depots.map((d) => ({
    id: uuid(rand), orgId, kind: 'circle', polygon: null, centerLat: d.lat, centerLon: d.lon, radiusM: DEPOT_RADIUS_M,
    speedLimitKmh: 50, dwellAlertS: 4 * 3600,
  }))
  const layout: QueryFleet['layout'] = { centerLat: [], centerLon: [], radiusM: [], theta0: [], dir: [], shiftS: [] }
  const vehicles: string[] = []
  for (let v = 0; v < vehicleCount; v++) {
    vehicles.push(uuid(rand))
    const depot = depots[v % DEPOTS]!
    // Home: within 150 m of the depot's centre, so every day starts and ends inside its geofence.
    const home = { lat: depot.lat + ((rand() - 0.5) * 300) / M_PER_DEG_LAT, lon: depot.lon + ((rand() - 0.5) * 300) / (M_PER_DEG_LAT * Math.cos((depot.lat * Math.PI) / 180)) }
    const r = 2000 + rand() * 6000
    const theta0 = rand() * 2 * Math.PI
    const kLon = M_PER_DEG_LAT * Math.cos((home.lat * Math.PI) / 180)
    layout.centerLat.push(home.lat - (r * Math.sin(theta0)) / M_PER_DEG_LAT)
    layout.centerLon.push(home.lon - (r * Math.cos(theta0)) / kLon)
    layout.radiusM.push(r)
    layout.theta0.push(theta0)
    layout.dir.push(rand() < 0.5 ? -1 : 1)
    layout.shiftS.push(5 * 3600 + Math.floor(rand() * 4 * 3600))
  }
  return {
    orgId, vehicles, fixesPerVehicle, days, firstDayMs: today - (days - 1) * 86_400_000, geofences, layout,
    drivers: vehicles.map(() => uuid(rand)),
    devices: vehicles.map(() => uuid(rand)),
  }
}

/**
 * ClickHouse changed geoToH3's argument order (older releases take (lon, lat),
 * recent ones (lat, lon)): ask the engine which one gives h3-js's cell.
 */
async function geoToH3Args(ch: ClickHouseClient): Promise<string> {
  const rs = await ch.query({
    query: 'SELECT toString(geoToH3(52.52, 13.405, 9)) AS latLon', format: 'JSONEachRow',
  })
  const [row] = await rs.json<{ latLon: string }>()
  return row?.latLon === BigInt(`0x${latLngToCell(52.52, 13.405, 9)}`).toString() ? 'lat, lon' : 'lon, lat'
}

/** Inserts the positions of vehicles [from, to) in one INSERT ... SELECT. */
export async function insertPositions(ch: ClickHouseClient, fleet: QueryFleet, from: number, to: number): Promise<void> {
  const h3Args = await geoToH3Args(ch)
  const F = fleet.fixesPerVehicle
  const L = fleet.layout
  // Per fix (k-th of vehicle v): day d, leg s of the day, fix p of the leg. A pair of legs
  // (out, back) shares its length; f is the share of the leg done.
  await ch.command({
    query: `
      INSERT INTO positions (org_id, vehicle_id, device_id, ts, received_at, lat, lon, speed, heading, alt, accuracy, ignition, seq, h3)
      WITH {vehicles:Array(UUID)} AS vehicles, {devices:Array(UUID)} AS devices, {shift_s:Array(Int64)} AS shift_s,
           {theta0:Array(Float64)} AS theta0, {dir:Array(Int8)} AS dir, {radius:Array(Float64)} AS radius,
           {clat:Array(Float64)} AS clat, {clon:Array(Float64)} AS clon
      SELECT {org:UUID}, vehicles[v + 1], devices[v + 1],
             fromUnixTimestamp64Milli(toInt64(ts_ms)), fromUnixTimestamp64Milli(toInt64(ts_ms + 800 + rk % 2500)),
             lat, lon, toFloat32(speed_kmh), toFloat32(heading), toFloat32(34 + rk % 20), toFloat32(3 + rk % 8), ignition, toUInt32(k), geoToH3(${h3Args}, 9)
        FROM (
          SELECT v, k, rk, ts_ms, speed_kmh, ignition,
                 lat0 + north / ${M_PER_DEG_LAT} + if(p >= ${DRIVE}, ((rk % 7) - 3) / 1e5 * 0.3, 0) AS lat,
                 lon0 + east / (${M_PER_DEG_LAT} * cos(radians(lat0))) + if(p >= ${DRIVE}, ((intDiv(rk, 7) % 7) - 3) / 1e5 * 0.5, 0) AS lon,
                 (degrees(atan2(-sin(angle) * sgn, cos(angle) * sgn)) + 360) % 360 AS heading
            FROM (
              SELECT v, k, rk, p,
                     ({first:Int64} + (d * ${DAY_S} + shift_s[v + 1] + s * ${LEG_S}) * 1000 + v % 1000
                       + if(p < ${DRIVE}, p * ${DRIVE_STEP_S}, ${DRIVE * DRIVE_STEP_S} + (p - ${DRIVE} + 1) * ${STAND_STEP_S} - 25) * 1000) AS ts_ms,
                     2500 + cityHash64(v, pair) % 4000 + if(cityHash64(v, pair, 'fast') % 10 = 0, 3000, 0) AS leg_m,
                     if(p < ${DRIVE}, (1 - cos(pi() * p / ${DRIVE})) / 2, 1) AS f,
                     theta0[v + 1] + dir[v + 1] * if(s % 2 = 0, f, 1 - f) * leg_m / radius[v + 1] AS angle,
                     dir[v + 1] * if(s % 2 = 0, 1, -1) AS sgn,
                     radius[v + 1] * cos(angle) AS east, radius[v + 1] * sin(angle) AS north, clat[v + 1] AS lat0, clon[v + 1] AS lon0,
                     multiIf(p >= ${DRIVE}, 0,
                             p = 40 AND cityHash64(v, pair, 'brake') % 5 = 0, 3,
                             leg_m * pi() / (2 * ${DRIVE * DRIVE_STEP_S}) * sin(pi() * p / ${DRIVE}) * 3.6) AS speed_kmh,
                     p < ${DRIVE} OR (s % 2 = 0 AND p < ${DRIVE + 8} AND cityHash64(v, d, s, 'idle') % 3 = 0) AS ignition
                FROM (
                  SELECT intDiv(number, ${F}) + {from:UInt32} AS v, number % ${F} AS k, cityHash64(number, 'noise') AS rk,
                         intDiv(k, ${FIXES_PER_DAY}) AS d, intDiv(k % ${FIXES_PER_DAY}, ${LEG}) AS s, k % ${LEG} AS p, d * 2 + intDiv(s, 2) AS pair
                    FROM numbers({n:UInt64})
                )
            )
        )`,
    query_params: {
      org: fleet.orgId, first: fleet.firstDayMs, from, n: (to - from) * F,
      vehicles: fleet.vehicles, devices: fleet.devices,
      shift_s: L.shiftS, theta0: L.theta0, dir: L.dir, radius: L.radiusM, clat: L.centerLat, clon: L.centerLon,
    },
  })
}

export interface DeriveFigures {
  fixes: number
  /** Seconds reading the fixes back, in the detector, writing facts, refreshing the rollups. */
  readS: number
  detectS: number
  writeS: number
  rollupS: number
  facts: Record<'trips' | 'stops' | 'idles' | 'drivingEvents' | 'geofenceEvents' | 'checkpoints', number>
}

/** Vehicles whose facts are written (and rolled up) together. */
const VEHICLES_PER_WRITE = 25

/** Runs the stream analytics over every vehicle's stored fixes, as a replay from the start would. */
export async function deriveFacts(ch: ClickHouseClient, fleet: QueryFleet, progress: (vehiclesDone: number) => void): Promise<DeriveFigures> {
  const repo = new AnalyticsRepository(ch)
  const index = new GeofenceIndex(fleet.geofences)
  const driverOf = new Map(fleet.vehicles.map((v, i) => [v, fleet.drivers[i]!]))
  const env: DetectorEnv = {
    settings: DEFAULT_ANALYTICS_SETTINGS,
    overspeedLimitKmh: () => 90,
    geofencesAt: (orgId, lat, lon) => index.at(orgId, lat, lon),
    destination: () => undefined,
    expectedSpeedKmh: () => 40,
    detourFactor: () => 1.3,
    driverAt: (vehicleId) => driverOf.get(vehicleId) ?? null,
  }
  const figures: DeriveFigures = {
    fixes: 0, readS: 0, detectS: 0, writeS: 0, rollupS: 0,
    facts: { trips: 0, stops: 0, idles: 0, drivingEvents: 0, geofenceEvents: 0, checkpoints: 0 },
  }
  const seconds = (t0: number) => (performance.now() - t0) / 1000
  for (let from = 0; from < fleet.vehicles.length; from += VEHICLES_PER_WRITE) {
    const out = emptyFacts()
    for (const vehicleId of fleet.vehicles.slice(from, from + VEHICLES_PER_WRITE)) {
      let state: VehicleState | undefined
      const pages = repo.positionsAfterMany([{ orgId: fleet.orgId, vehicleId, afterTs: -1 }])
      for (;;) {
        let t0 = performance.now()
        const page = await pages.next()
        figures.readS += seconds(t0)
        if (page.done) break
        t0 = performance.now()
        for (const fix of page.value) {
          if (!state) state = initialState(fleet.orgId, vehicleId, fix)
          else applyFix(state, fix, env, out)
        }
        figures.detectS += seconds(t0)
        figures.fixes += page.value.length
      }
    }
    let t0 = performance.now()
    await repo.writeFacts(out, 1)
    figures.writeS += seconds(t0)
    t0 = performance.now()
    await repo.refreshDailyKpis(touchedBy(out))
    figures.rollupS += seconds(t0)
    for (const key of Object.keys(figures.facts) as Array<keyof DeriveFigures['facts']>) figures.facts[key] += out[key].length
    progress(Math.min(fleet.vehicles.length, from + VEHICLES_PER_WRITE))
  }
  return figures
}

/** What AnalyticsProcessor's write rolls up: the vehicle and day each fact started on. */
function touchedBy(f: Facts): Array<{ orgId: string; vehicleId: string; ts: number }> {
  return [...f.trips, ...f.stops, ...f.idles].map((x) => ({ orgId: x.orgId, vehicleId: x.vehicleId, ts: x.startTs }))
    .concat(f.drivingEvents.map((e) => ({ orgId: e.orgId, vehicleId: e.vehicleId, ts: e.ts })))
}
