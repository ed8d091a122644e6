/**
 * Live probe helper: a dispatcher's Socket.IO client on /live, in the org room.
 * Latency of each position (items of the coalesced `position` batches) is its
 * arrival time minus the fix's `ts`, which the load generator set to the
 * publish time (same machine, same clock); it includes the coalescing wait.
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
      s.on('position', (batch: { items: Array<{ ts: string }> }) => {
        const now = Date.now()
        for (const p of batch.items) samples.push(now - Date.parse(p.ts))
      })
      s.once('connect', () => {
        s.timeout(30_000).emitWithAck('join', { room: 'org' }).then((ack: { ok: boolean; error?: { code: string } }) => {
          if (!ack.ok) return reject(new Error(`joining the org room failed: ${ack.error?.code}`))
          socket = s
          resolve()
        }, reject)
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
