/**
 * The live map on one canvas: Web Mercator, drag to pan, wheel to zoom, click
 * to pick a vehicle. It draws on requestAnimationFrame only when something
 * changed (the fleet's version, the view, the selection), never per message:
 * 2,000 moving vehicles cost one frame per feed batch. Vehicles are drawn in
 * one path per colour (dots when stopped, arrows along the heading when
 * moving); under them either the configured tile layer or a plain grid.
 */
import { statusOf, type Fleet, type Status, type Vehicle } from './fleet.js'
import type { TrackPoint } from './api.js'

const TILE = 256
const COLOURS: Record<Status, string> = { moving: '#1e8e3e', stopped: '#e8a300', offline: '#8a94a0', 'no-fix': '#c9d1d9' }
const MAX_TILES = 300

const clampLat = (lat: number) => Math.max(-85.05, Math.min(85.05, lat))
/** Longitude/latitude to world pixels at zoom 0 (0..256). */
function project(lon: number, lat: number): [number, number] {
  const s = Math.sin((clampLat(lat) * Math.PI) / 180)
  return [((lon + 180) / 360) * TILE, (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)) * TILE]
}
function unproject(x: number, y: number): [number, number] {
  const lon = (x / TILE) * 360 - 180
  const n = Math.PI - (2 * Math.PI * y) / TILE
  return [lon, (180 / Math.PI) * Math.atan(0.5 * (Math.exp(n) - Math.exp(-n)))]
}

export class LiveMap {
  private ctx: CanvasRenderingContext2D
  /** View centre in zoom-0 world pixels, and zoom (fractional). */
  private cx = 128
  private cy = 128
  private zoom = 2
  private drawnVersion = -1
  private dirty = true
  private fitted = false
  private tiles = new Map<string, HTMLImageElement>()
  private track: TrackPoint[] = []
  private marker: TrackPoint | undefined
  selected: string | undefined
  onPick: (id: string | undefined) => void = () => {}

  constructor(private readonly canvas: HTMLCanvasElement, private readonly fleet: Fleet, private readonly tileUrl: string | null) {
    this.ctx = canvas.getContext('2d')!
    this.listen()
    const frame = () => {
      this.frame()
      requestAnimationFrame(frame)
    }
    requestAnimationFrame(frame)
    // "Seen" ages change status colours even without messages.
    setInterval(() => { this.dirty = true }, 5000)
  }

  invalidate(): void {
    this.dirty = true
  }

  setTrack(points: TrackPoint[]): void {
    this.track = points
    this.marker = undefined
    this.dirty = true
  }

  setMarker(p: TrackPoint | undefined): void {
    this.marker = p
    this.dirty = true
  }

  /** Where a vehicle is drawn, in CSS pixels of the canvas (for tests and tooltips). */
  screenOf(id: string): [number, number] | undefined {
    const p = this.fleet.vehicles.get(id)?.position
    return p ? this.toScreen(p.lon, p.lat) : undefined
  }

  /** Frames the whole fleet once, when the first positions are known. */
  fit(force = false): void {
    if (this.fitted && !force) return
    const pts = [...this.fleet.vehicles.values()].filter((v) => v.position).map((v) => project(v.position!.lon, v.position!.lat))
    if (pts.length === 0) return
    const xs = pts.map((p) => p[0])
    const ys = pts.map((p) => p[1])
    const [minX, maxX, minY, maxY] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)]
    this.cx = (minX + maxX) / 2
    this.cy = (minY + maxY) / 2
    const { width, height } = this.size()
    const span = Math.max((maxX - minX) / (width * 0.8), (maxY - minY) / (height * 0.8), 1e-9)
    this.zoom = Math.max(1, Math.min(17, Math.log2(1 / span)))
    this.fitted = true
    this.dirty = true
  }

  private size() {
    return { width: this.canvas.clientWidth || 1, height: this.canvas.clientHeight || 1 }
  }

  private toScreen(lon: number, lat: number): [number, number] {
    const [x, y] = project(lon, lat)
    const k = 2 ** this.zoom
    const { width, height } = this.size()
    return [(x - this.cx) * k + width / 2, (y - this.cy) * k + height / 2]
  }

  private listen(): void {
    let drag: { x: number; y: number; moved: boolean } | undefined
    this.canvas.addEventListener('pointerdown', (e) => {
      drag = { x: e.clientX, y: e.clientY, moved: false }
      this.canvas.setPointerCapture(e.pointerId)
    })
    this.canvas.addEventListener('pointermove', (e) => {
      if (!drag) return
      const dx = e.clientX - drag.x
      const dy = e.clientY - drag.y
      if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true
      if (!drag.moved) return
      const k = 2 ** this.zoom
      this.cx -= dx / k
      this.cy -= dy / k
      drag.x = e.clientX
      drag.y = e.clientY
      this.dirty = true
    })
    this.canvas.addEventListener('pointerup', (e) => {
      if (drag && !drag.moved) this.pick(e.offsetX, e.offsetY)
      drag = undefined
    })
    this.canvas.addEventListener('wheel', (e) => {
      e.preventDefault()
      const { width, height } = this.size()
      const k0 = 2 ** this.zoom
      // Zoom around the cursor: the world point under it stays put.
      const wx = this.cx + (e.offsetX - width / 2) / k0
      const wy = this.cy + (e.offsetY - height / 2) / k0
      this.zoom = Math.max(1, Math.min(19, this.zoom - e.deltaY * 0.002))
      const k = 2 ** this.zoom
      this.cx = wx - (e.offsetX - width / 2) / k
      this.cy = wy - (e.offsetY - height / 2) / k
      this.dirty = true
    }, { passive: false })
    new ResizeObserver(() => { this.dirty = true }).observe(this.canvas)
  }

  private pick(x: number, y: number): void {
    let best: Vehicle | undefined
    let bestD = 12 * 12
    for (const v of this.fleet.vehicles.values()) {
      if (!v.position) continue
      const [sx, sy] = this.toScreen(v.position.lon, v.position.lat)
      const d = (sx - x) ** 2 + (sy - y) ** 2
      if (d < bestD) {
        bestD = d
        best = v
      }
    }
    this.onPick(best?.id)
  }

  private frame(): void {
    if (!this.dirty && this.drawnVersion === this.fleet.version) return
    this.dirty = false
    this.drawnVersion = this.fleet.version
    const { width, height } = this.size()
    const dpr = window.devicePixelRatio || 1
    if (this.canvas.width !== Math.round(width * dpr) || this.canvas.height !== Math.round(height * dpr)) {
      this.canvas.width = Math.round(width * dpr)
      this.canvas.height = Math.round(height * dpr)
    }
    const ctx = this.ctx
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0)
    ctx.fillStyle = '#e9edf1'
    ctx.fillRect(0, 0, width, height)
    if (this.tileUrl) this.drawTiles(width, height)
    else this.drawGrid(width, height)
    this.drawTrack()
    this.drawVehicles()
  }

  private drawTiles(width: number, height: number): void {
    const z = Math.max(0, Math.min(19, Math.round(this.zoom)))
    const scale = 2 ** (this.zoom - z)
    const size = TILE * scale
    const n = 2 ** z
    const k = 2 ** this.zoom
    const left = this.cx * k - width / 2
    const top = this.cy * k - height / 2
    for (let tx = Math.floor(left / size); tx <= Math.floor((left + width) / size); tx++) {
      for (let ty = Math.max(0, Math.floor(top / size)); ty <= Math.min(n - 1, Math.floor((top + height) / size)); ty++) {
        const wrapped = ((tx % n) + n) % n
        const img = this.tile(z, wrapped, ty)
        if (img.complete && img.naturalWidth) this.ctx.drawImage(img, tx * size - left, ty * size - top, size, size)
      }
    }
  }

  private tile(z: number, x: number, y: number): HTMLImageElement {
    const key = `${z}/${x}/${y}`
    let img = this.tiles.get(key)
    if (img) {
      // Most recently used last, so the oldest go first.
      this.tiles.delete(key)
      this.tiles.set(key, img)
      return img
    }
    img = new Image()
    img.onload = () => { this.dirty = true }
    img.src = this.tileUrl!.replace('{z}', String(z)).replace('{x}', String(x)).replace('{y}', String(y))
    this.tiles.set(key, img)
    if (this.tiles.size > MAX_TILES) this.tiles.delete(this.tiles.keys().next().value!)
    return img
  }

  /** A graticule whose spacing follows the zoom, labelled in degrees. */
  private drawGrid(width: number, height: number): void {
    const ctx = this.ctx
    const [lonL, latT] = unproject(this.cx - width / 2 / 2 ** this.zoom, this.cy - height / 2 / 2 ** this.zoom)
    const [lonR, latB] = unproject(this.cx + width / 2 / 2 ** this.zoom, this.cy + height / 2 / 2 ** this.zoom)
    const span = Math.max(lonR - lonL, 1e-6)
    const steps = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 45]
    const step = steps.find((s) => span / s <= 12) ?? 90
    ctx.strokeStyle = '#cfd6dd'
    ctx.lineWidth = 1
    ctx.fillStyle = '#8a94a0'
    ctx.font = '10px system-ui, sans-serif'
    ctx.beginPath()
    for (let lon = Math.ceil(lonL / step) * step; lon <= lonR; lon += step) {
      const [x] = this.toScreen(lon, 0)
      ctx.moveTo(Math.round(x) + 0.5, 0)
      ctx.lineTo(Math.round(x) + 0.5, height)
      ctx.fillText(`${+lon.toFixed(3)}°`, x + 3, height - 4)
    }
    for (let lat = Math.ceil(Math.max(latB, -85) / step) * step; lat <= Math.min(latT, 85); lat += step) {
      const [, y] = this.toScreen(0, lat)
      ctx.moveTo(0, Math.round(y) + 0.5)
      ctx.lineTo(width, Math.round(y) + 0.5)
      ctx.fillText(`${+lat.toFixed(3)}°`, 3, y - 3)
    }
    ctx.stroke()
  }

  private drawTrack(): void {
    if (this.track.length < 2) return
    const ctx = this.ctx
    ctx.strokeStyle = '#1d5fa8'
    ctx.lineWidth = 2.5
    ctx.lineJoin = 'round'
    ctx.beginPath()
    this.track.forEach((p, i) => {
      const [x, y] = this.toScreen(p.lon, p.lat)
      if (i === 0) ctx.moveTo(x, y)
      else ctx.lineTo(x, y)
    })
    ctx.stroke()
    if (this.marker) {
      const [x, y] = this.toScreen(this.marker.lon, this.marker.lat)
      ctx.fillStyle = '#1d5fa8'
      ctx.beginPath()
      ctx.arc(x, y, 6, 0, Math.PI * 2)
      ctx.fill()
    }
  }

  private drawVehicles(): void {
    const ctx = this.ctx
    const now = Date.now()
    const { width, height } = this.size()
    const paths = new Map<Status, Path2D>()
    let selected: [number, number, Vehicle] | undefined
    for (const v of this.fleet.vehicles.values()) {
      const p = v.position
      if (!p) continue
      const [x, y] = this.toScreen(p.lon, p.lat)
      if (x < -10 || y < -10 || x > width + 10 || y > height + 10) continue
      const status = statusOf(v, now)
      let path = paths.get(status)
      if (!path) paths.set(status, (path = new Path2D()))
      if (status === 'moving' && p.heading !== null) {
        // An arrow along the heading (degrees from north, clockwise).
        const a = (p.heading * Math.PI) / 180
        const [sin, cos] = [Math.sin(a), Math.cos(a)]
        const pt = (fx: number, fy: number): [number, number] => [x + fx * cos - fy * sin, y + fx * sin + fy * cos]
        const [t, l, notch, r] = [pt(0, -8), pt(-5, 6), pt(0, 3), pt(5, 6)]
        path.moveTo(t[0], t[1])
        path.lineTo(l[0], l[1])
        path.lineTo(notch[0], notch[1])
        path.lineTo(r[0], r[1])
        path.closePath()
      } else {
        path.moveTo(x + 5, y)
        path.arc(x, y, 5, 0, Math.PI * 2)
      }
      if (v.id === this.selected) selected = [x, y, v]
    }
    for (const [status, path] of paths) {
      ctx.fillStyle = COLOURS[status]
      ctx.fill(path)
    }
    if (selected) {
      const [x, y, v] = selected
      ctx.strokeStyle = '#1d5fa8'
      ctx.lineWidth = 2
      ctx.beginPath()
      ctx.arc(x, y, 11, 0, Math.PI * 2)
      ctx.stroke()
      ctx.fillStyle = '#1d232b'
      ctx.font = '600 12px system-ui, sans-serif'
      ctx.fillText(v.name, x + 14, y + 4)
    }
  }
}
