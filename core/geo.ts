/** Geometry both the API (validating geofences) and the stream (testing fixes against them) use. */

/** Ray casting: whether the point lies inside a closed ring of [lon, lat] points (first == last). */
export function inRing(lon: number, lat: number, ring: ReadonlyArray<readonly number[]>): boolean {
  let hit = false
  for (let i = 0, j = ring.length - 2; i < ring.length - 1; j = i++) {
    const [ax, ay] = ring[i] as [number, number]
    const [bx, by] = ring[j] as [number, number]
    if ((ay > lat) !== (by > lat) && lon < ((bx - ax) * (lat - ay)) / (by - ay) + ax) hit = !hit
  }
  return hit
}

/** An H3 index (hex, as h3-js gives it) as ClickHouse's UInt64, in decimal. */
export const h3ToUInt64 = (h3: string): string => BigInt(`0x${h3}`).toString()
