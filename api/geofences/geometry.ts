/**
 * What JSON Schema cannot say about a GeoJSON polygon (RFC 7946 3.1.6): rings
 * closed, with at least three distinct corners, edges that never cross (within
 * a ring or between rings), holes inside the outer ring, no antimeridian
 * crossing, and an area within bounds. Planar checks in a local projection:
 * fine for geofences (at most a few hundred kilometres across).
 */
import {
  MAX_POLYGON_AREA_M2, MAX_POLYGON_POINTS, MIN_POLYGON_AREA_M2, type PolygonCoordinates,
} from '../../schemas/geofences.v1.js'
import { inRing } from '../../core/geo.js'

export interface GeometryProblem {
  path: string
  message: string
}

type Point = readonly [number, number]
type Segment = { a: Point; b: Point; ring: number; index: number; count: number }

const EARTH_RADIUS_M = 6_371_008.8
const rad = (deg: number) => (deg * Math.PI) / 180

const same = (p: Point, q: Point) => p[0] === q[0] && p[1] === q[1]

function orientation(p: Point, q: Point, r: Point): number {
  const v = (q[1] - p[1]) * (r[0] - q[0]) - (q[0] - p[0]) * (r[1] - q[1])
  return v === 0 ? 0 : v > 0 ? 1 : 2
}

const onSegment = (p: Point, q: Point, r: Point) =>
  q[0] <= Math.max(p[0], r[0]) && q[0] >= Math.min(p[0], r[0]) && q[1] <= Math.max(p[1], r[1]) && q[1] >= Math.min(p[1], r[1])

/** Whether segments p1q1 and p2q2 share any point (touching and overlapping count). */
function intersects(p1: Point, q1: Point, p2: Point, q2: Point): boolean {
  const o1 = orientation(p1, q1, p2)
  const o2 = orientation(p1, q1, q2)
  const o3 = orientation(p2, q2, p1)
  const o4 = orientation(p2, q2, q1)
  if (o1 !== o2 && o3 !== o4) return true
  return (o1 === 0 && onSegment(p1, p2, q1)) || (o2 === 0 && onSegment(p1, q2, q1))
    || (o3 === 0 && onSegment(p2, p1, q2)) || (o4 === 0 && onSegment(p2, q1, q2))
}

/** Consecutive edges of one ring share a corner by construction: that is not a crossing. */
function adjacent(s: Segment, t: Segment): boolean {
  if (s.ring !== t.ring) return false
  const d = Math.abs(s.index - t.index)
  return d === 1 || d === s.count - 1
}

/** Ray casting: whether p lies inside the ring (closed). */
const inside = (p: Point, ring: readonly Point[]): boolean => inRing(p[0], p[1], ring)

/** Area of a closed ring in m², in an equirectangular projection around the polygon's latitude. */
function ringAreaM2(ring: readonly Point[], lat0: number): number {
  const k = Math.cos(rad(lat0))
  let sum = 0
  for (let i = 0; i < ring.length - 1; i++) {
    const [x1, y1] = ring[i]!
    const [x2, y2] = ring[i + 1]!
    sum += rad(x1) * k * rad(y2) - rad(x2) * k * rad(y1)
  }
  return (Math.abs(sum) / 2) * EARTH_RADIUS_M * EARTH_RADIUS_M
}

export function polygonProblems(rings: PolygonCoordinates, path = 'body/polygon'): GeometryProblem[] {
  const problems: GeometryProblem[] = []
  const total = rings.reduce((n, r) => n + r.length, 0)
  if (total > MAX_POLYGON_POINTS) return [{ path, message: `at most ${MAX_POLYGON_POINTS} points in all rings, got ${total}` }]
  rings.forEach((ring, r) => {
    if (!same(ring[0]!, ring[ring.length - 1]!)) problems.push({ path: `${path}/${r}`, message: 'ring is not closed: its last point must equal its first' })
    const distinct = new Set(ring.slice(0, -1).map(([lon, lat]) => `${lon},${lat}`))
    if (distinct.size < 3) problems.push({ path: `${path}/${r}`, message: 'ring needs at least 3 distinct corners' })
    for (let i = 1; i < ring.length; i++) {
      if (Math.abs(ring[i]![0] - ring[i - 1]![0]) > 180) {
        problems.push({ path: `${path}/${r}/${i}`, message: 'an edge spans more than 180° of longitude: geofences may not cross the antimeridian' })
        break
      }
    }
  })
  if (problems.length) return problems

  // Zero-length edges (a repeated point) are dropped before the crossing check.
  const segments: Segment[] = []
  rings.forEach((ring, r) => {
    const pts = ring.filter((p, i) => i === 0 || !same(p, ring[i - 1]!))
    const count = pts.length - 1
    for (let i = 0; i < count; i++) segments.push({ a: pts[i]!, b: pts[i + 1]!, ring: r, index: i, count })
  })
  outer: for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!
    for (let j = i + 1; j < segments.length; j++) {
      const t = segments[j]!
      if (adjacent(s, t)) {
        // Consecutive edges share a corner c; they may not fold back over each other (collinear, same direction from c).
        const [c, p, q] = same(s.b, t.a) ? [s.b, s.a, t.b] : [s.a, s.b, t.a]
        if (orientation(c, p, q) === 0 && (p[0] - c[0]) * (q[0] - c[0]) + (p[1] - c[1]) * (q[1] - c[1]) > 0) {
          problems.push({ path: `${path}/${s.ring}`, message: `edges ${s.index} and ${t.index} fold back over each other` })
          break outer
        }
        continue
      }
      if (intersects(s.a, s.b, t.a, t.b)) {
        problems.push({
          path: `${path}/${s.ring}`,
          message: s.ring === t.ring ? `ring crosses itself (edges ${s.index} and ${t.index})` : `ring ${s.ring} touches or crosses ring ${t.ring}`,
        })
        break outer
      }
    }
  }
  if (problems.length) return problems

  const outerRing = rings[0]!
  // No edges cross, so one corner tells where a whole ring lies.
  const holes = rings.slice(1)
  holes.forEach((hole, h) => {
    if (!inside(hole[0]!, outerRing)) problems.push({ path: `${path}/${h + 1}`, message: 'a hole must lie inside the outer ring' })
    else if (holes.some((other, o) => o !== h && inside(hole[0]!, other))) problems.push({ path: `${path}/${h + 1}`, message: 'a hole may not lie inside another hole' })
  })
  if (problems.length) return problems

  const lat0 = outerRing.reduce((s, p) => s + p[1], 0) / outerRing.length
  const area = ringAreaM2(outerRing, lat0) - rings.slice(1).reduce((s, hole) => s + ringAreaM2(hole, lat0), 0)
  if (area < MIN_POLYGON_AREA_M2) problems.push({ path, message: `area is ${Math.round(area)} m², at least ${MIN_POLYGON_AREA_M2} m² is needed` })
  if (area > MAX_POLYGON_AREA_M2) {
    problems.push({ path, message: `area is ${Math.round(area / 1e6)} km², at most ${MAX_POLYGON_AREA_M2 / 1e6} km² is allowed` })
  }
  return problems
}
