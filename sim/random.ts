/** Seeded randomness for the simulator: reproducible runs need every draw to come from one of these. */

export type Rng = () => number

/** mulberry32: tiny, fast and good enough for simulation noise. */
export function mulberry32(seed: number): Rng {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** FNV-1a, so a device id (plus a run seed) maps to a stable per-vehicle seed. */
export function hashSeed(text: string, seed = 0): number {
  let h = (0x811c9dc5 ^ seed) >>> 0
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h
}

/** Standard normal via Box-Muller; 1 - rng() keeps log() away from 0. */
export function gaussian(rng: Rng): number {
  return Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng())
}

export function uniform(rng: Rng, lo: number, hi: number): number {
  return lo + (hi - lo) * rng()
}
