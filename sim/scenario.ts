/**
 * The simulator's ground-truth mode: a scripted vehicle day (park, idle, drive
 * with hard braking or speeding, ...) that emits fixes like a device and knows
 * exactly what it did: its trips, stops, idles and harsh events. Tests compare
 * what the stream found with this truth.
 */
import { destinationPoint, type LatLon } from './geo.js'
import { gaussian, mulberry32, type Rng } from './random.js'

export interface ScenarioFix {
  ts: number
  lat: number
  lon: number
  speed: number
  heading: number
  ignition: boolean
  odometer: number
}

export interface Truth {
  trips: Array<{ startTs: number; endTs: number; distanceM: number }>
  stops: Array<{ startTs: number; endTs: number }>
  idles: Array<{ startTs: number; endTs: number }>
  harsh: Array<{ kind: 'harsh_braking' | 'harsh_acceleration' | 'harsh_cornering'; ts: number }>
  overspeed: Array<{ startTs: number; endTs: number }>
}

export interface DriveOptions {
  distanceM: number
  bearing: number
  cruiseKmh: number
  /** m/s², default 1.5 */
  accel?: number
  /** m/s², default 1.5 */
  brake?: number
  /** Brake hard (m/s²) from cruise down to `harshBrakeToKmh` at this fraction of the distance, then go on. */
  harshBrakeAt?: number
  harshBrakeMs2?: number
  harshBrakeToKmh?: number
  /** Above this speed counts as overspeed in the truth (the org's limit in the test). */
  limitKmh?: number
}

type Segment = { kind: 'drive'; startTs: number; endTs: number; distanceM: number } | { kind: 'idle' | 'park'; startTs: number; endTs: number }

const SUBSTEP = 0.1

export class Scenario {
  private ts: number
  private pos: LatLon
  private heading = 0
  private odometerM = 0
  private nextFixTs: number
  private readonly fixes: ScenarioFix[] = []
  private readonly segments: Segment[] = []
  private readonly harsh: Truth['harsh'] = []
  private readonly overspeed: Truth['overspeed'] = []
  private readonly rng: Rng
  private jitterE = 0
  private jitterN = 0

  constructor(
    start: LatLon,
    startTs: number,
    private readonly intervalS = 2,
    seed = 1,
  ) {
    this.ts = startTs
    this.nextFixTs = startTs
    this.pos = start
    this.rng = mulberry32(seed)
  }

  /** Engine off, standing still (GPS jitter of a few metres). */
  park(seconds: number): this {
    return this.stand(seconds, false)
  }

  /** Engine on, standing still. */
  idle(seconds: number): this {
    return this.stand(seconds, true)
  }

  private stand(seconds: number, ignition: boolean): this {
    const start = this.ts
    const end = this.ts + seconds * 1000
    while (this.ts < end) {
      this.ts = Math.min(end, this.ts + SUBSTEP * 1000)
      this.maybeEmit(0, ignition, true)
    }
    this.segments.push({ kind: ignition ? 'idle' : 'park', startTs: start, endTs: end })
    return this
  }

  /** From standstill: accelerate, cruise, (brake hard somewhere), brake to a stop after `distanceM`. */
  drive(o: DriveOptions): this {
    const accel = o.accel ?? 1.5
    const brake = o.brake ?? 1.5
    const cruise = o.cruiseKmh / 3.6
    const start = this.ts
    const startOdo = this.odometerM
    this.heading = o.bearing
    let v = 0
    let done = 0
    let harshPhase: 'before' | 'braking' | 'after' = o.harshBrakeAt === undefined ? 'after' : 'before'
    let overStart: number | null = null
    while (done < o.distanceM - 0.05) {
      const left = o.distanceM - done
      let a: number
      if (harshPhase === 'before' && done >= o.distanceM * o.harshBrakeAt!) {
        harshPhase = 'braking'
        this.harsh.push({ kind: 'harsh_braking', ts: this.ts })
      }
      if (harshPhase === 'braking') {
        a = -(o.harshBrakeMs2 ?? 6)
        if (v <= (o.harshBrakeToKmh ?? 10) / 3.6) harshPhase = 'after'
      } else if ((v * v) / (2 * brake) >= left) a = -brake
      else a = v < cruise ? Math.min(accel, (cruise - v) / SUBSTEP) : 0
      let nv = Math.max(0, v + a * SUBSTEP)
      if (nv < 0.5 && left > 0.3) nv = 0.5 // creep to the exact stop point
      const moved = Math.min(left, ((v + nv) / 2) * SUBSTEP)
      v = nv
      done += moved
      this.odometerM += moved
      this.pos = destinationPoint(this.pos, o.bearing, moved)
      this.ts += SUBSTEP * 1000
      const kmh = v * 3.6
      if (o.limitKmh !== undefined) {
        if (kmh > o.limitKmh && overStart === null) overStart = this.ts
        if (kmh <= o.limitKmh && overStart !== null) {
          this.overspeed.push({ startTs: overStart, endTs: this.ts })
          overStart = null
        }
      }
      this.maybeEmit(kmh, true, false)
    }
    this.segments.push({ kind: 'drive', startTs: start, endTs: this.ts, distanceM: this.odometerM - startOdo })
    return this
  }

  private maybeEmit(kmh: number, ignition: boolean, standing: boolean): void {
    if (this.ts < this.nextFixTs) return
    this.nextFixTs += this.intervalS * 1000
    // Standing: a receiver's wander of a few metres (AR(1)); moving: exact.
    if (standing) {
      this.jitterE = Math.max(-4, Math.min(4, 0.8 * this.jitterE + gaussian(this.rng) * 0.9))
      this.jitterN = Math.max(-4, Math.min(4, 0.8 * this.jitterN + gaussian(this.rng) * 0.9))
    } else {
      this.jitterE = 0
      this.jitterN = 0
    }
    const p = destinationPoint(destinationPoint(this.pos, 90, this.jitterE), 0, this.jitterN)
    this.fixes.push({
      ts: Math.round(this.ts), lat: Math.round(p.lat * 1e6) / 1e6, lon: Math.round(p.lon * 1e6) / 1e6,
      speed: Math.round(kmh * 10) / 10, heading: this.heading, ignition, odometer: Math.round(this.odometerM) / 1000,
    })
  }

  get fixList(): ScenarioFix[] {
    return this.fixes
  }

  get now(): number {
    return this.ts
  }

  /**
   * The truth under the same definitions as the stream: standstills shorter
   * than `stopMinS` are inside a trip; an idle is engine-on standstill (the
   * standstills of consecutive idle segments and a drive's end merge) of at
   * least `idleMinS`.
   */
  truth(stopMinS: number, idleMinS: number): Truth {
    const trips: Truth['trips'] = []
    const stops: Truth['stops'] = []
    let trip: { startTs: number; endTs: number; distanceM: number } | null = null
    let stillSince: number | null = null
    for (const s of this.segments) {
      if (s.kind === 'drive') {
        if (trip && stillSince !== null && s.startTs - stillSince < stopMinS * 1000) {
          trip.endTs = s.endTs
          trip.distanceM += s.distanceM
        } else {
          if (trip) {
            trips.push(trip)
            stops.push({ startTs: trip.endTs, endTs: s.startTs })
          }
          trip = { startTs: s.startTs, endTs: s.endTs, distanceM: s.distanceM }
        }
        stillSince = s.endTs
      } else if (stillSince === null) {
        stillSince = s.startTs
      }
    }
    if (trip) trips.push(trip)
    // Standing from the start: the stream counts that as a stop from the first fix.
    const first = this.segments[0]
    if (first && first.kind !== 'drive' && trips[0]) stops.unshift({ startTs: this.fixes[0]!.ts, endTs: trips[0].startTs })
    const idles: Truth['idles'] = []
    let idle: { startTs: number; endTs: number } | null = null
    for (const s of this.segments) {
      if (s.kind === 'idle') {
        if (idle && idle.endTs === s.startTs) idle.endTs = s.endTs
        else idle = { startTs: s.startTs, endTs: s.endTs }
      } else {
        if (idle && idle.endTs - idle.startTs >= idleMinS * 1000) idles.push(idle)
        idle = null
      }
    }
    if (idle && idle.endTs - idle.startTs >= idleMinS * 1000) idles.push(idle)
    return { trips, stops, idles, harsh: [...this.harsh], overspeed: [...this.overspeed] }
  }
}
