/**
 * The dispatcher console: log in, then one /live socket in the organization
 * room. Every (re)connect joins again and replaces the fleet with the fresh
 * snapshot, so a reconnect leaves no gap and nothing to reconcile; batches
 * then update the store, and the views draw it on animation frames.
 */
import { io, type Socket } from 'socket.io-client'
import type { JoinAck, LiveEvents } from '../schemas/live.v1.js'
import { Api, ApiError } from './api.js'
import { Fleet } from './fleet.js'
import { LiveMap } from './map.js'
import { AlertsFeed, VehicleList, VehiclePanel } from './views.js'

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T

interface ConsoleConfig { tileUrl: string | null; tileAttribution: string }

const api = new Api()
let socket: Socket | undefined

function showLogin(message = ''): void {
  socket?.close()
  socket = undefined
  $('console').hidden = true
  $('login').hidden = false
  $('login-error').textContent = message
  $<HTMLInputElement>('login-email').focus()
}

$<HTMLFormElement>('login').addEventListener('submit', (e) => {
  e.preventDefault()
  const email = $<HTMLInputElement>('login-email').value
  const password = $<HTMLInputElement>('login-password').value
  $<HTMLButtonElement>('login-submit').disabled = true
  api.login(email, password).then(
    () => {
      $<HTMLInputElement>('login-password').value = ''
      void start()
    },
    (err: unknown) => { $('login-error').textContent = err instanceof ApiError ? err.message : 'the server did not answer' },
  ).finally(() => { $<HTMLButtonElement>('login-submit').disabled = false })
})

api.onLoggedOut = () => showLogin('Your session ended; please log in again.')
$('logout').addEventListener('click', () => void api.logout())

let started = false
async function start(): Promise<void> {
  $('login').hidden = true
  $('console').hidden = false
  $('user').textContent = api.whoami()
  if (started) {
    connect()
    return
  }
  started = true
  const config = await fetch('/console/config.json').then((r) => r.json() as Promise<ConsoleConfig>).catch(() => ({ tileUrl: null, tileAttribution: '' }))
  $('attribution').textContent = config.tileUrl ? config.tileAttribution : 'grid: no tile layer configured'
  const fleet = new Fleet()
  const map = new LiveMap($<HTMLCanvasElement>('map'), fleet, config.tileUrl)
  const list = new VehicleList(fleet)
  const panel = new VehiclePanel(fleet, api, map)
  const alerts = new AlertsFeed(fleet)
  const select = (id: string | undefined) => {
    map.selected = id
    list.selected = id
    map.invalidate()
    list.invalidate()
    void panel.show(id)
  }
  map.onPick = select
  list.onPick = select
  alerts.onPick = select
  panel.onClose = () => select(undefined)
  document.getElementById('console')!.classList.add('no-panel')
  // For the browser test and for curious dispatchers: where a vehicle is on screen.
  Object.assign(window, {
    fleetpulse: {
      screenOf: (id: string) => map.screenOf(id),
      vehicles: () => [...fleet.vehicles.keys()],
      position: (id: string) => fleet.vehicles.get(id)?.position ?? null,
    },
  })

  wire = (s) => {
    s.on('position', (b: LiveEvents['position']) => fleet.applyPositions(b.items))
    s.on('eta', (b: LiveEvents['eta']) => fleet.applyEtas(b.items))
    s.on('alert', (b: LiveEvents['alert']) => alerts.alerts(b.items))
    s.on('order', (b: LiveEvents['order']) => alerts.orders(b.items))
    s.on('notification', (n: LiveEvents['notification']) => alerts.note(n.title))
    s.on('connect', () => {
      setStatus('joining…', '')
      s.timeout(30_000).emitWithAck('join', { room: 'org' }).then((ack: JoinAck) => {
        if (!ack.ok) {
          setStatus(ack.error.code === 'forbidden' ? 'no live access' : ack.error.code, 'down')
          return
        }
        fleet.reset(ack.snapshot.vehicles)
        alerts.clear()
        alerts.alerts(ack.snapshot.alerts)
        $('fleet-count').textContent = `${fleet.vehicles.size} vehicles`
        map.fit()
        setStatus('live', 'live')
      }, () => setStatus('join timed out', 'down'))
    })
    s.on('disconnect', () => setStatus('reconnecting…', 'down'))
    s.on('connect_error', (err: Error & { data?: { code?: string } }) => {
      setStatus('offline', 'down')
      // An expired access token: refresh it, then the socket retries with the new one (auth is read per attempt).
      if (err.data?.code === 'invalid_token') {
        void api.refresh().then((ok) => { if (ok) s.connect() })
      }
    })
  }
  connect()
}

let wire: (s: Socket) => void = () => {}

function connect(): void {
  socket?.close()
  socket = io('/live', { transports: ['websocket'], auth: (cb) => cb({ token: api.accessToken ?? '' }) })
  wire(socket)
}

function setStatus(text: string, className: string): void {
  const s = $('live-status')
  s.textContent = text
  s.className = `status ${className}`
}

if (api.accessToken) void start()
else showLogin()
