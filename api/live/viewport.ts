/**
 * A map viewport as H3 cells. The client sends a bounding box; the server
 * covers it with cells at a coarse resolution (the fix resolution minus
 * COARSE_STEPS) and indexes the socket's subscription under each, so a fix is
 * matched against the few subscriptions of its own cell only. The covering
 * uses "overlapping" containment: every cell touching the box, so no vehicle
 * inside the box is missed at the edges; the exact box test then drops the
 * vehicles of those edge cells that are outside it.
 */
import { POLYGON_TO_CELLS_FLAGS, getHexagonAreaAvg, latLngToCell, polygonToCellsExperimental, UNITS } from 'h3-js'

/** Fix resolution 9 (cells of ~0.1 km²) gives viewport cells of resolution 6 (~36 km²). */
const COARSE_STEPS = 3

export const coarseResolution = (fineResolution: number): number => Math.max(0, fineResolution - COARSE_STEPS)

/** [west, south, east, north] in degrees; west > east when the box crosses the antimeridian. */
export type Bbox = [number, number, number, number]

export function inBbox(bbox: Bbox, lat: number, lon: number): boolean {
  const [w, s, e, n] = bbox
  if (lat < s || lat > n) return false
  return w <= e ? lon >= w && lon <= e : lon >= w || lon <= e
}

export type Covering = { ok: true; cells: string[] } | { ok: false; reason: 'too_many_cells' | 'empty' }

/** Rough area of the box in km², to refuse a huge box before asking H3 for millions of cells. */
function bboxAreaKm2([w, s, e, n]: Bbox): number {
  const R = 6371.0088
  const width = ((e - w + 360) % 360 || (e === w ? 0 : 360)) * (Math.PI / 180)
  return R * R * width * Math.abs(Math.sin((n * Math.PI) / 180) - Math.sin((s * Math.PI) / 180))
}

/** The cells covering the box, or why not: more than maxCells, or a degenerate box. */
export function coverBbox(bbox: Bbox, resolution: number, maxCells: number): Covering {
  const [w, s, e, n] = bbox
  if (s >= n || w === e) return { ok: false, reason: 'empty' }
  // Refuse early when even the box's own area needs far more cells than allowed.
  if (bboxAreaKm2(bbox) / getHexagonAreaAvg(resolution, UNITS.km2) > maxCells) return { ok: false, reason: 'too_many_cells' }
  // A box crossing the antimeridian is two boxes to H3.
  const boxes: Bbox[] = w <= e ? [bbox] : [[w, s, 180, n], [-180, s, e, n]]
  const cells = new Set<string>()
  for (const [bw, bs, be, bn] of boxes) {
    const ring = [[bs, bw], [bs, be], [bn, be], [bn, bw], [bs, bw]]
    for (const c of polygonToCellsExperimental(ring, resolution, POLYGON_TO_CELLS_FLAGS.containmentOverlapping)) cells.add(c)
    if (cells.size > maxCells) return { ok: false, reason: 'too_many_cells' }
  }
  return { ok: true, cells: [...cells] }
}

export const cellOf = (lat: number, lon: number, resolution: number): string => latLngToCell(lat, lon, resolution)
