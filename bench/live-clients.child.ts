/**
 * Live clients helper: N Socket.IO clients on /live, each joined to the whole
 * organization, as many dispatcher consoles would be. Counts every position
 * item each receives; times fix → arrival on the first `sampled` clients only,
 * so the helper's own memory stays bounded at any N.
 */
import { io, type Socket } from 'socket.io-client'
import type { LiveClientsApi } from './protocol.js'
import { serveRpc } from './rpc.js'
import { latencyStats } from './stats.js'

let sockets: Socket[] = []
let perClient: number[] = []
let batches = 0
let samples: number[] = []
let disconnects = 0
const MAX_SAMPLES = 2_000_000

function open(url: string, token: string, index: number, sampled: boolean): Promise<{ socket: Socket; vehicles: number }> {
  return new Promise((resolve, reject) => {
    const s = io(url, { auth: { token }, transports: ['websocket'], reconnection: false, timeout: 30_000, forceNew: true })
    s.on('position', (batch: { items: Array<{ ts: string }> }) => {
      batches++
      perClient[index] = (perClient[index] ?? 0) + batch.items.length
      if (!sampled || samples.length >= MAX_SAMPLES) return
      const now = Date.now()
      for (const p of batch.items) samples.push(now - Date.parse(p.ts))
    })
    s.on('disconnect', () => disconnects++)
    s.once('connect', () => {
      s.timeout(120_000).emitWithAck('join', { room: 'org' }).then(
        (ack: { ok: boolean; snapshot?: { vehicles: unknown[] }; error?: { code: string } }) =>
          ack.ok ? resolve({ socket: s, vehicles: ack.snapshot?.vehicles.length ?? 0 }) : reject(new Error(`join refused: ${ack.error?.code}`)),
        reject,
      )
    })
    s.once('connect_error', (err: Error & { data?: { code?: string } }) => {
      s.close()
      reject(new Error(`socket.io connect to ${url} failed: ${err.data?.code ?? err.message}`))
    })
  })
}

const api: LiveClientsApi = {
  async connect({ url, token, clients, sampled }) {
    const started = performance.now()
    perClient = new Array<number>(clients).fill(0)
    let snapshotVehicles = 0
    // A few at a time: each join reads a snapshot of the whole fleet.
    for (let i = 0; i < clients; i += 20) {
      const opened = await Promise.all(Array.from({ length: Math.min(20, clients - i) }, (_, k) => open(url, token, i + k, i + k < sampled)))
      for (const o of opened) {
        sockets.push(o.socket)
        snapshotVehicles = o.vehicles
      }
    }
    return { seconds: (performance.now() - started) / 1000, snapshotVehicles }
  },
  reset() {
    perClient.fill(0)
    batches = 0
    samples = []
  },
  stats() {
    return {
      joined: sockets.filter((s) => s.connected).length,
      items: perClient.reduce((a, b) => a + b, 0),
      batches,
      latency: latencyStats(samples),
      minClientItems: perClient.length ? Math.min(...perClient) : 0,
      disconnects,
    }
  },
  async close() {
    for (const s of sockets) s.close()
    sockets = []
  },
}

serveRpc(api)
