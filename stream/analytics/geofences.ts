/**
 * Geofences on H3: each geofence is covered by cells at a resolution chosen for
 * its size. A cell wholly inside answers "inside" from a map lookup; a cell on
 * the boundary falls back to the exact test (point in polygon, or distance to
 * the circle's centre); a cell in no cover means outside every geofence.
 */
import { cellToBoundary, getHexagonEdgeLengthAvg, gridDisk, latLngToCell, POLYGON_TO_CELLS_FLAGS, polygonToCellsExperimental, UNITS } from 'h3-js'
import { inRing } from '../../core/geo.js'
import { distanceM, type GeofenceHit } from './detector.js'

export interface GeofenceDef {
  id: string
  orgId: string
  kind: 'polygon' | 'circle'
  /** GeoJSON rings of [lon, lat], outer ring first. */
  polygon: number[][][] | null
  centerLat: number | null
  centerLon: number | null
  radiusM: number | null
  speedLimitKmh: number | null
  dwellAlertS: number | null
}

/** At most about this many cells per geofence: the resolution drops for big ones. */
const MAX_CELLS = 20_000

interface Entry { def: GeofenceDef; hit: GeofenceHit; interior: boolean }

/** Inside the outer ring and outside every hole (rings after the first). */
export function pointInPolygon(rings: number[][][], lat: number, lon: number): boolean {
  return rings.reduce((inside, ring) => (inRing(lon, lat, ring) ? !inside : inside), false)
}

function contains(def: GeofenceDef, lat: number, lon: number): boolean {
  if (def.kind === 'circle') return distanceM(def.centerLat!, def.centerLon!, lat, lon) <= def.radiusM!
  return pointInPolygon(def.polygon!, lat, lon)
}

function areaM2(def: GeofenceDef): number {
  if (def.kind === 'circle') return Math.PI * def.radiusM! ** 2
  const ring = def.polygon![0]!
  let minLat = Infinity, maxLat = -Infinity, minLon = Infinity, maxLon = -Infinity
  for (const [lon, lat] of ring as Array<[number, number]>) {
    minLat = Math.min(minLat, lat); maxLat = Math.max(maxLat, lat); minLon = Math.min(minLon, lon); maxLon = Math.max(maxLon, lon)
  }
  return distanceM(minLat, minLon, maxLat, minLon) * distanceM(minLat, minLon, minLat, maxLon)
}

function resolutionFor(def: GeofenceDef): number {
  const area = Math.max(1, areaM2(def))
  for (let res = 11; res > 3; res--) {
    const edge = getHexagonEdgeLengthAvg(res, UNITS.m)
    const cellArea = 2.598 * edge * edge
    if (area / cellArea <= MAX_CELLS) return res
  }
  return 3
}

/** Cells overlapping the geofence, each marked interior when wholly inside (h3-js containment modes). */
function cover(def: GeofenceDef, res: number): Map<string, boolean> {
  const out = new Map<string, boolean>()
  if (def.kind === 'circle') {
    const edge = getHexagonEdgeLengthAvg(res, UNITS.m)
    for (const cell of gridDisk(latLngToCell(def.centerLat!, def.centerLon!, res), Math.ceil(def.radiusM! / (edge * 1.5)) + 1)) {
      // A circle is convex: all corners inside means the whole cell is inside.
      const corners = cellToBoundary(cell)
      const inside = corners.filter(([lat, lon]) => contains(def, lat, lon)).length
      out.set(cell, inside === corners.length)
    }
    return out
  }
  for (const cell of polygonToCellsExperimental(def.polygon!, res, POLYGON_TO_CELLS_FLAGS.containmentOverlapping, true)) out.set(cell, false)
  for (const cell of polygonToCellsExperimental(def.polygon!, res, POLYGON_TO_CELLS_FLAGS.containmentFull, true)) out.set(cell, true)
  return out
}

export class GeofenceIndex {
  /** resolution -> cell -> geofences covering it */
  private readonly byRes = new Map<number, Map<string, Entry[]>>()
  readonly size: number

  constructor(defs: GeofenceDef[]) {
    this.size = defs.length
    for (const def of defs) {
      const res = resolutionFor(def)
      let cells = this.byRes.get(res)
      if (!cells) this.byRes.set(res, (cells = new Map()))
      const hit: GeofenceHit = { id: def.id, speedLimitKmh: def.speedLimitKmh, dwellAlertS: def.dwellAlertS }
      for (const [cell, interior] of cover(def, res)) {
        let list = cells.get(cell)
        if (!list) cells.set(cell, (list = []))
        list.push({ def, hit, interior })
      }
    }
  }

  /** The geofences of `orgId` that contain the point. */
  at(orgId: string, lat: number, lon: number): GeofenceHit[] {
    const hits: GeofenceHit[] = []
    for (const [res, cells] of this.byRes) {
      const entries = cells.get(latLngToCell(lat, lon, res))
      if (!entries) continue
      for (const e of entries) {
        if (e.def.orgId === orgId && (e.interior || contains(e.def, lat, lon))) hits.push(e.hit)
      }
    }
    return hits
  }
}
