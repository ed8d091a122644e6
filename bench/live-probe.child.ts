/**
 * Live probe helper: a dispatcher's Socket.IO client on /live. Latency of each
 * `position` event is its arrival time minus the fix's `ts`, which the load
 * generator set to the publish time (same machine, same clock).
 */
import { io, type Socket } from 'socket.io-client'
import type { LiveProbeApi } from './protocol.js'
import { serveRpc } from './rpc.js'
import { latencyStats } from './stats.js'

let socket: Socket | undefined
let samples: number[] = []

const api: LiveProbeApi = {
  connect({ url, token }) {
    return new Promise<void>((resolve, reject) => {
      const s = io(url, { auth: { token }, transports: ['websocket'], reconnection: false, timeout: 10_000 })
      s.on('position', (p: { ts: string }) => samples.push(Date.now() - Date.parse(p.ts)))
      s.once('connect', () => {
        socket = s
        resolve()
      })
      s.once('connect_error', (err: Error & { data?: { code?: string } }) => {
        s.close()
        reject(new Error(`socket.io connect to ${url} failed: ${err.data?.code ?? err.message}`))
      })
    })
  },
  reset() {
    samples = []
  },
  stats: () => latencyStats(samples),
  async close() {
    socket?.close()
    socket = undefined
  },
}

serveRpc(api)
