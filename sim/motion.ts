/**
 * Vehicle motion model for the simulator. Pure and deterministic for a given
 * seed: all randomness comes from the injected PRNG and time only advances
 * through `step(dt)`, so tests can replay a vehicle exactly.
 */

import {
  bearingDegrees,
  destinationPoint,
  haversineMeters,
  normalizeHeading,
  randomPointWithin,
  type LatLon,
} from './geo.js'
import { gaussian, mulberry32, uniform, type Rng } from './random.js'

// Re-exported so callers get the whole model from one module.
export { bearingDegrees, destinationPoint, EARTH_RADIUS_M, haversineMeters, normalizeHeading, randomPointWithin } from './geo.js'
export type { LatLon } from './geo.js'
export { hashSeed, mulberry32, type Rng } from './random.js'

/** One telemetry fix, in the wire shape the ingest expects. */
export interface Fix {
  ts: number
  lat: number
  lon: number
  /** km/h */
  speed: number
  /** degrees, [0, 360) */
  heading: number
  alt?: number
  accuracy?: number
  /** km */
  odometer: number
  ignition: boolean
  seq: number
}

const round = (x: number, digits: number): number => {
  const f = 10 ** digits
  return Math.round(x * f) / f
}

const RAD = Math.PI / 180
const KMH = 1 / 3.6
const MAX_BRAKE = 4.5
const MAX_SPEED = 90 * KMH
// Integration step: fine enough that braking curves and waypoint arrival stay
// accurate even when fixes are emitted only every few seconds.
const SUBSTEP_S = 0.2
// GPS error as an AR(1) process with a correlation of 0.8 per second: fixes
// wander a few metres like a real receiver, yet consecutive fixes never jump,
// whatever the sampling rate.
const JITTER_RHO_PER_S = 0.8
const JITTER_SIGMA_M = 1.5
const JITTER_MAX_M = 4

/**
 * driving: moving along the route; idle: stopped with the engine on (arrival,
 * traffic light, warm-up); parked: engine off during the destination dwell.
 */
export type Phase = 'driving' | 'idle' | 'parked'

/** What must survive a simulator restart so a device's stream stays monotonic. */
export interface VehicleSnapshot {
  lat: number
  lon: number
  odometer: number
  seq: number
}

export interface VehicleOptions {
  center: LatLon
  /** Destinations are drawn within this radius of `center`. Default 10. */
  radiusKm?: number
  seed: number
  /** Multiplies destination dwell times (10-120 s); 0.1 gives 1-12 s stops. Default 1. */
  timeScale?: number
  /** Clock used when `step` is not given a timestamp. Default 0. */
  startTs?: number
  /** Resume from a previous run instead of a random start. */
  resume?: Partial<VehicleSnapshot>
}

interface Segment {
  from: LatLon
  to: LatLon
  length: number
  bearing: number
  /** Cruise speed for this stretch, m/s. */
  cruise: number
  /** Speed to be down to at the end, m/s: 0 for a stop, else the corner speed. */
  exit: number
  /** A red light at the end: stop and idle before the next segment. */
  light: boolean
}

export interface VehicleStats {
  distanceM: number
  trips: number
  lightStops: number
}

type StopPhase = Exclude<Phase, 'driving'>

export class Vehicle {
  private readonly rng: Rng
  // Separate stream for GPS noise, so the route does not depend on how often
  // fixes are sampled.
  private readonly noise: Rng
  private readonly center: LatLon
  private readonly radiusM: number
  private readonly timeScale: number
  // Per-vehicle temperament, so a fleet does not move in lock-step.
  private readonly accelMax: number
  private readonly brakeComfort: number
  private readonly speedFactor: number
  private readonly baseAlt: number

  private clock: number
  private seq: number
  private odometerM: number
  private speed = 0
  private heading: number
  private phase: Phase = 'parked'
  /** Seconds left in the current stop phase. */
  private phaseLeft: number
  /** Stop phases still to run before the next trip starts. */
  private pending: Array<{ phase: StopPhase; seconds: number }> = []

  private seg: Segment | undefined
  private segDone = 0
  private route: Segment[] = []
  private pos: LatLon
  private jitterE = 0
  private jitterN = 0

  readonly stats: VehicleStats = { distanceM: 0, trips: 0, lightStops: 0 }

  constructor(opts: VehicleOptions) {
    this.rng = mulberry32(opts.seed)
    this.noise = mulberry32(opts.seed ^ 0x5bd1e995)
    this.center = opts.center
    this.radiusM = (opts.radiusKm ?? 10) * 1000
    this.timeScale = opts.timeScale ?? 1
    this.clock = opts.startTs ?? 0
    this.accelMax = uniform(this.rng, 1.4, 2.6)
    this.brakeComfort = uniform(this.rng, 1.4, 2.2)
    this.speedFactor = uniform(this.rng, 0.85, 1.05)
    this.baseAlt = uniform(this.rng, 30, 60)
    const r = opts.resume ?? {}
    this.pos =
      r.lat !== undefined && r.lon !== undefined
        ? { lat: r.lat, lon: r.lon }
        : randomPointWithin(this.center, this.radiusM, this.rng)
    this.odometerM = r.odometer !== undefined ? r.odometer * 1000 : uniform(this.rng, 5_000, 150_000) * 1000
    this.seq = r.seq ?? 0
    this.heading = this.rng() * 360
    // Stagger departures so a freshly started fleet is not synchronised.
    this.phaseLeft = uniform(this.rng, 0, 20) * this.timeScale
    this.pending = [{ phase: 'idle', seconds: uniform(this.rng, 2, 6) }]
  }

  get currentPhase(): Phase {
    return this.phase
  }

  snapshot(): VehicleSnapshot {
    return { lat: this.pos.lat, lon: this.pos.lon, odometer: this.odometerM / 1000, seq: this.seq }
  }

  /** Advances the simulation by `dtSeconds` and returns the fix at the new instant. */
  step(dtSeconds: number, ts?: number): Fix {
    let left = Math.max(0, dtSeconds)
    while (left > 1e-9) {
      const h = Math.min(SUBSTEP_S, left)
      this.advance(h)
      left -= h
    }
    this.clock = ts ?? this.clock + Math.max(0, dtSeconds) * 1000
    return this.emit(Math.max(0, dtSeconds))
  }

  private advance(h: number): void {
    if (this.phase !== 'driving') {
      this.phaseLeft -= h
      if (this.phaseLeft > 0) return
      const next = this.pending.shift()
      if (next) {
        this.phase = next.phase
        this.phaseLeft = next.seconds
        return
      }
      if (!this.seg && !this.planTrip()) {
        this.startDwell()
        return
      }
      this.phase = 'driving'
    }
    this.drive(h)
  }

  private drive(h: number): void {
    const seg = this.seg
    if (!seg) return
    const remaining = seg.length - this.segDone
    const v = this.speed

    let a = Math.max(-1.5, Math.min(this.accelMax, (seg.cruise - v) / 2))
    if (v > seg.exit) {
      // The constant deceleration that exactly reaches the exit speed at the
      // waypoint. The driver commits to it once it would exceed the comfort
      // level by the end of this substep, so a coarse step cannot skip past
      // the braking point and force a violent stop.
      const dv2 = v * v - seg.exit * seg.exit
      const ahead = Math.max(remaining - v * h, 0.01)
      if (dv2 / (2 * ahead) >= this.brakeComfort) a = Math.min(a, -Math.min(MAX_BRAKE, dv2 / (2 * Math.max(remaining, 0.01))))
    }
    let nv = Math.max(0, Math.min(MAX_SPEED, v + a * h))
    // Creep over the last metres so the vehicle always reaches a stop point.
    if (seg.exit === 0 && remaining > 0.5 && nv < 0.8) nv = 0.8
    const moved = ((v + nv) / 2) * h
    this.speed = nv

    if (moved < remaining) {
      this.segDone += moved
      this.addDistance(moved)
      return
    }
    this.addDistance(remaining)
    this.arrive()
    // Carry the overshoot into the next segment when rolling through a corner.
    const next = this.seg
    if (this.phase === 'driving' && next) {
      const carry = Math.min(moved - remaining, next.length * 0.5)
      this.segDone = carry
      this.addDistance(carry)
    }
  }

  private addDistance(m: number): void {
    this.odometerM += m
    this.stats.distanceM += m
  }

  private arrive(): void {
    const seg = this.seg
    if (!seg) return
    this.pos = seg.to
    this.heading = seg.bearing
    const light = seg.light
    const next = this.route.shift()
    if (!next) {
      this.seg = undefined
      this.speed = 0
      this.stats.trips++
      this.startDwell()
      return
    }
    this.enterSegment(next)
    if (light) {
      this.speed = 0
      this.stats.lightStops++
      this.phase = 'idle'
      this.phaseLeft = uniform(this.rng, 5, 40)
    }
  }

  private startDwell(): void {
    const dwell = uniform(this.rng, 10, 120) * this.timeScale
    this.phase = 'idle'
    // Short stops keep the engine running; longer ones switch it off after a
    // brief idle, and idle again to warm up before departure.
    if (dwell < 20) {
      this.phaseLeft = dwell
      return
    }
    const arrivalIdle = uniform(this.rng, 3, 10)
    const warmup = uniform(this.rng, 2, 6)
    this.phaseLeft = arrivalIdle
    this.pending = [
      { phase: 'parked', seconds: dwell - arrivalIdle - warmup },
      { phase: 'idle', seconds: warmup },
    ]
  }

  /** Lays out the next trip; false when no usable destination was found. */
  private planTrip(): boolean {
    let dest = randomPointWithin(this.center, this.radiusM, this.rng)
    for (let i = 0; i < 10 && haversineMeters(this.pos, dest) < 800; i++) {
      dest = randomPointWithin(this.center, this.radiusM, this.rng)
    }
    const dist = haversineMeters(this.pos, dest)
    const mainBearing = bearingDegrees(this.pos, dest)
    // Streets are not straight lines: bend the path through waypoints whose
    // sideways offset wanders but returns to zero at both ends.
    const legs = Math.max(1, Math.min(10, Math.round(dist / 1000)))
    const points: LatLon[] = [this.pos]
    let offset = 0
    for (let i = 1; i < legs; i++) {
      const t = i / legs
      offset = offset * 0.5 + (this.rng() - 0.5) * (dist / legs) * 0.9
      const onLine = destinationPoint(this.pos, mainBearing, dist * t)
      points.push(destinationPoint(onLine, mainBearing + 90, offset * Math.sin(Math.PI * t)))
    }
    points.push(dest)
    const segs: Segment[] = []
    for (let i = 1; i < points.length; i++) {
      const from = points[i - 1]
      const to = points[i]
      if (!from || !to) continue
      const length = haversineMeters(from, to)
      if (length < 1) continue
      const cruise = this.cruiseFor(length)
      segs.push({ from, to, length, bearing: bearingDegrees(from, to), cruise, exit: 0, light: false })
    }
    // Backward pass: each exit speed honours the corner and the chance to brake
    // for whatever comes after it, however short the following segments are.
    for (let i = segs.length - 2; i >= 0; i--) {
      const seg = segs[i]
      const next = segs[i + 1]
      if (!seg || !next) continue
      seg.light = this.rng() < 0.25
      if (seg.light) continue
      const turn = Math.abs(((next.bearing - seg.bearing + 540) % 360) - 180)
      const cornerKmh = turn < 15 ? 90 : turn < 45 ? 45 : turn < 100 ? 25 : 15
      const brakeable = Math.sqrt(next.exit * next.exit + 2 * this.brakeComfort * next.length)
      seg.exit = Math.min(seg.cruise, next.cruise, cornerKmh * KMH, brakeable)
    }
    const first = segs.shift()
    if (!first) return false
    this.route = segs
    this.enterSegment(first)
    return true
  }

  /** Long stretches are arterial roads, short ones side streets. */
  private cruiseFor(length: number): number {
    const kmh =
      length > 1500 ? uniform(this.rng, 60, 90) : length > 600 ? uniform(this.rng, 40, 65) : uniform(this.rng, 25, 50)
    return Math.min(MAX_SPEED, kmh * KMH * this.speedFactor)
  }

  private enterSegment(seg: Segment): void {
    this.seg = seg
    this.segDone = 0
    this.heading = seg.bearing
  }

  private emit(dt: number): Fix {
    const seg = this.seg
    if (seg && this.phase === 'driving') {
      this.pos = destinationPoint(seg.from, seg.bearing, this.segDone)
      if (seg.length - this.segDone > 1) this.heading = bearingDegrees(this.pos, seg.to)
    }
    const rho = JITTER_RHO_PER_S ** dt
    const sd = JITTER_SIGMA_M * Math.sqrt(1 - rho * rho)
    this.jitterE = clampAbs(rho * this.jitterE + gaussian(this.noise) * sd, JITTER_MAX_M)
    this.jitterN = clampAbs(rho * this.jitterN + gaussian(this.noise) * sd, JITTER_MAX_M)
    const fix = destinationPoint(
      this.pos,
      Math.atan2(this.jitterE, this.jitterN) / RAD,
      Math.hypot(this.jitterE, this.jitterN),
    )
    const km = this.odometerM / 1000
    const moving = this.phase === 'driving' && this.speed > 0
    this.seq++
    return {
      ts: Math.round(this.clock),
      lat: round(fix.lat, 6),
      lon: round(fix.lon, 6),
      speed: moving ? round(Math.min(90, this.speed * 3.6), 1) : 0,
      heading: normalizeHeading(round(this.heading, 1)),
      alt: round(this.baseAlt + 8 * Math.sin(km / 3) + gaussian(this.noise) * 0.5, 1),
      accuracy: round(3 + 2 * this.noise(), 1),
      odometer: round(km, 3),
      ignition: this.phase !== 'parked',
      seq: this.seq,
    }
  }
}

function clampAbs(x: number, max: number): number {
  return Math.max(-max, Math.min(max, x))
}
