/** Spherical-earth geometry for the simulator; accurate to well under a metre at city scale. */

export interface LatLon {
  lat: number
  lon: number
}

export const EARTH_RADIUS_M = 6_371_008.8
const RAD = Math.PI / 180

/** Great-circle distance in metres. */
export function haversineMeters(a: LatLon, b: LatLon): number {
  const dLat = (b.lat - a.lat) * RAD
  const dLon = (b.lon - a.lon) * RAD
  const s = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * RAD) * Math.cos(b.lat * RAD) * Math.sin(dLon / 2) ** 2
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(s)))
}

/** Initial great-circle bearing from `from` to `to`, degrees in [0, 360). */
export function bearingDegrees(from: LatLon, to: LatLon): number {
  const φ1 = from.lat * RAD
  const φ2 = to.lat * RAD
  const dλ = (to.lon - from.lon) * RAD
  const y = Math.sin(dλ) * Math.cos(φ2)
  const x = Math.cos(φ1) * Math.sin(φ2) - Math.sin(φ1) * Math.cos(φ2) * Math.cos(dλ)
  return normalizeHeading(Math.atan2(y, x) / RAD)
}

/** Point reached from `from` after `distanceM` along the great circle with initial `bearingDeg`. */
export function destinationPoint(from: LatLon, bearingDeg: number, distanceM: number): LatLon {
  const δ = distanceM / EARTH_RADIUS_M
  const θ = bearingDeg * RAD
  const φ1 = from.lat * RAD
  const λ1 = from.lon * RAD
  const sinφ2 = Math.sin(φ1) * Math.cos(δ) + Math.cos(φ1) * Math.sin(δ) * Math.cos(θ)
  const φ2 = Math.asin(Math.max(-1, Math.min(1, sinφ2)))
  const λ2 = λ1 + Math.atan2(Math.sin(θ) * Math.sin(δ) * Math.cos(φ1), Math.cos(δ) - Math.sin(φ1) * sinφ2)
  return { lat: clampLat(φ2 / RAD), lon: normalizeLon(λ2 / RAD) }
}

/** Uniform over the disc's area (sqrt), not its radius, so points don't bunch at the centre. */
export function randomPointWithin(center: LatLon, radiusM: number, rng: () => number): LatLon {
  return destinationPoint(center, rng() * 360, radiusM * Math.sqrt(rng()))
}

export function normalizeHeading(deg: number): number {
  const h = deg % 360
  const n = h < 0 ? h + 360 : h
  return n >= 360 ? 0 : n
}

function normalizeLon(lon: number): number {
  return ((((lon + 180) % 360) + 360) % 360) - 180
}

function clampLat(lat: number): number {
  return Math.max(-90, Math.min(90, lat))
}
