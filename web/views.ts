/**
 * The console's DOM views: the vehicle list (virtual: only the visible rows
 * exist, so 2,000 vehicles cost ~40 rows), the vehicle panel with the day's
 * track replay, and the alerts feed. Text only through textContent: nothing
 * from the server is ever parsed as HTML.
 */
import type { LiveAlert, LiveOrder } from '../schemas/live.v1.js'
import type { Api, TrackPoint } from './api.js'
import { ago, etaText, statusOf, type Fleet, type Vehicle } from './fleet.js'
import type { LiveMap } from './map.js'

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T

function el(tag: string, className: string, text = ''): HTMLElement {
  const e = document.createElement(tag)
  if (className) e.className = className
  if (text) e.textContent = text
  return e
}

const ROW_HEIGHT = 28
/** The list refreshes its text at most this often: its numbers need not follow every frame. */
const LIST_REFRESH_MS = 500

export class VehicleList {
  private readonly box = $<HTMLDivElement>('vehicle-list')
  private readonly spacer = $<HTMLDivElement>('vehicle-list-spacer')
  private readonly search = $<HTMLInputElement>('search')
  private readonly status = $<HTMLSelectElement>('status-filter')
  private rows: Vehicle[] = []
  private dirty = true
  private drawnAt = 0
  selected: string | undefined
  onPick: (id: string) => void = () => {}

  constructor(private readonly fleet: Fleet) {
    this.search.addEventListener('input', () => this.invalidate())
    this.status.addEventListener('change', () => this.invalidate())
    this.box.addEventListener('scroll', () => this.invalidate())
    this.box.addEventListener('click', (e) => {
      const row = (e.target as HTMLElement).closest<HTMLElement>('.row')
      if (row?.dataset.id) this.onPick(row.dataset.id)
    })
    const frame = () => {
      const now = Date.now()
      if (this.dirty || now - this.drawnAt > LIST_REFRESH_MS) this.draw(now)
      requestAnimationFrame(frame)
    }
    requestAnimationFrame(frame)
  }

  invalidate(): void {
    this.dirty = true
  }

  private draw(now: number): void {
    this.dirty = false
    this.drawnAt = now
    this.rows = this.fleet.filter(this.search.value, this.status.value, now)
    this.spacer.style.height = `${this.rows.length * ROW_HEIGHT}px`
    const first = Math.max(0, Math.floor(this.box.scrollTop / ROW_HEIGHT) - 5)
    const last = Math.min(this.rows.length, first + Math.ceil(this.box.clientHeight / ROW_HEIGHT) + 10)
    const frag = document.createDocumentFragment()
    frag.append(this.spacer)
    for (let i = first; i < last; i++) frag.append(this.row(this.rows[i]!, i, now))
    this.box.replaceChildren(frag)
  }

  private row(v: Vehicle, index: number, now: number): HTMLElement {
    const row = el('div', `row${v.id === this.selected ? ' selected' : ''}`)
    row.setAttribute('role', 'listitem')
    row.dataset.id = v.id
    row.style.top = `${index * ROW_HEIGHT}px`
    const status = statusOf(v, now)
    const name = el('span', 'name', v.plate ? `${v.name} · ${v.plate}` : v.name)
    const st = el('span', 'status-cell')
    st.append(el('i', `dot st-${status}`), status)
    row.append(
      name, st, el('span', 'speed', v.position?.speed == null ? '—' : String(Math.round(v.position.speed))),
      el('span', 'driver', v.driverName ?? '—'), el('span', 'eta', etaText(v.eta)), el('span', 'seen', ago(v.seenAt, now)),
    )
    return row
  }
}

export class VehiclePanel {
  private readonly panel = $<HTMLElement>('panel')
  private readonly slider = $<HTMLInputElement>('replay-slider')
  private readonly play = $<HTMLButtonElement>('replay-play')
  private track: TrackPoint[] = []
  private playing: ReturnType<typeof setInterval> | undefined
  private shownId: string | undefined
  private refresh: ReturnType<typeof setInterval> | undefined
  onClose: () => void = () => {}

  constructor(private readonly fleet: Fleet, private readonly api: Api, private readonly map: LiveMap) {
    $('panel-close').addEventListener('click', () => this.onClose())
    this.slider.addEventListener('input', () => this.showReplay(Number(this.slider.value)))
    this.play.addEventListener('click', () => (this.playing ? this.stop() : this.start()))
  }

  async show(id: string | undefined): Promise<void> {
    this.stop()
    clearInterval(this.refresh)
    this.shownId = id
    document.getElementById('console')!.classList.toggle('no-panel', !id)
    this.panel.hidden = !id
    this.map.setTrack([])
    if (!id) return
    this.facts()
    this.refresh = setInterval(() => this.facts(), 1000)
    $('track-summary').textContent = 'loading…'
    this.slider.max = '0'
    try {
      const points = await this.api.todaysTrack(id)
      if (this.shownId !== id) return
      this.track = points
      this.map.setTrack(points)
      this.slider.max = String(Math.max(0, points.length - 1))
      this.slider.value = this.slider.max
      $('track-summary').textContent = points.length
        ? `${points.length} fixes, ${km(points).toFixed(1)} km since ${new Date(points[0]!.ts).toLocaleTimeString()}`
        : 'no fixes today'
      this.showReplay(points.length - 1)
    } catch (err) {
      if (this.shownId === id) $('track-summary').textContent = `track unavailable: ${(err as Error).message}`
    }
  }

  private facts(): void {
    const v = this.shownId ? this.fleet.vehicles.get(this.shownId) : undefined
    if (!v) return
    const now = Date.now()
    $('panel-title').textContent = v.plate ? `${v.name} · ${v.plate}` : v.name
    const p = v.position
    const rows: Array<[string, string]> = [
      ['Status', statusOf(v, now)],
      ['Driver', v.driverName ?? '—'],
      ['Speed', p?.speed == null ? '—' : `${Math.round(p.speed)} km/h`],
      ['Heading', p?.heading == null ? '—' : `${Math.round(p.heading)}°`],
      ['Position', p ? `${p.lat.toFixed(5)}, ${p.lon.toFixed(5)}` : '—'],
      ['Last seen', p ? `${new Date(p.ts).toLocaleTimeString()} (${ago(v.seenAt, now)} ago)` : 'never'],
      ['ETA', v.eta ? `${etaText(v.eta)} · ${(v.eta.remainingM / 1000).toFixed(1)} km to go` : '—'],
    ]
    const dl = $('panel-facts')
    dl.replaceChildren(...rows.flatMap(([k, val]) => [el('dt', '', k), el('dd', '', val)]))
  }

  private showReplay(i: number): void {
    const p = this.track[i]
    this.map.setMarker(p)
    $('replay-time').textContent = p ? new Date(p.ts).toLocaleTimeString() : ''
  }

  private start(): void {
    if (this.track.length < 2) return
    if (Number(this.slider.value) >= this.track.length - 1) this.slider.value = '0'
    this.play.textContent = 'Pause'
    // The whole day in about 20 seconds, whatever its length.
    const step = Math.max(1, Math.round(this.track.length / 400))
    this.playing = setInterval(() => {
      const next = Math.min(this.track.length - 1, Number(this.slider.value) + step)
      this.slider.value = String(next)
      this.showReplay(next)
      if (next >= this.track.length - 1) this.stop()
    }, 50)
  }

  private stop(): void {
    clearInterval(this.playing)
    this.playing = undefined
    this.play.textContent = 'Play'
  }
}

function km(points: TrackPoint[]): number {
  let d = 0
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1]!
    const b = points[i]!
    const dLat = ((b.lat - a.lat) * Math.PI) / 180
    const dLon = ((b.lon - a.lon) * Math.PI) / 180
    const h = Math.sin(dLat / 2) ** 2 + Math.cos((a.lat * Math.PI) / 180) * Math.cos((b.lat * Math.PI) / 180) * Math.sin(dLon / 2) ** 2
    d += 2 * 6371 * Math.asin(Math.sqrt(h))
  }
  return d
}

const MAX_ALERTS = 200

export class AlertsFeed {
  private readonly list = $<HTMLOListElement>('alerts')
  private readonly seen = new Set<string>()
  onPick: (vehicleId: string) => void = () => {}

  constructor(private readonly fleet: Fleet) {
    this.list.addEventListener('click', (e) => {
      const li = (e.target as HTMLElement).closest<HTMLElement>('li')
      if (li?.dataset.vehicle) this.onPick(li.dataset.vehicle)
    })
  }

  clear(): void {
    this.seen.clear()
    this.list.replaceChildren()
  }

  alerts(items: LiveAlert[]): void {
    for (const a of items) {
      if (this.seen.has(a.id)) continue
      this.seen.add(a.id)
      const vehicle = this.fleet.vehicles.get(a.vehicleId)?.name ?? a.vehicleId.slice(0, 8)
      this.add(a.ts, `sev-${a.severity}`, `${vehicle}: ${a.message || a.kind}`, a.vehicleId)
    }
  }

  orders(items: LiveOrder[]): void {
    for (const o of items) {
      const vehicle = o.vehicleId ? this.fleet.vehicles.get(o.vehicleId)?.name ?? '' : ''
      this.add(o.at, 'sev-info', `Order ${o.number}: ${o.status.replace(/_/g, ' ')}${vehicle ? ` (${vehicle})` : ''}`, o.vehicleId ?? undefined)
    }
  }

  note(text: string): void {
    this.add(new Date().toISOString(), 'sev-info', text, undefined)
  }

  private add(ts: string, className: string, text: string, vehicleId: string | undefined): void {
    const li = el('li', className)
    if (vehicleId) li.dataset.vehicle = vehicleId
    const time = el('time', '', new Date(ts).toLocaleTimeString())
    time.setAttribute('datetime', ts)
    li.append(time, text)
    this.list.prepend(li)
    while (this.list.childElementCount > MAX_ALERTS) this.list.lastElementChild!.remove()
  }
}
