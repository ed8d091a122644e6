/**
 * Bare Aedes baseline: the broker fleetpulse's ingest is built on, with its
 * defaults, no authentication and no subscriber, so each QoS 1 PUBLISH is
 * acknowledged and dropped. What it sustains bounds what ingest can do.
 */
import { createServer, type AddressInfo, type Server } from 'node:net'
import { Aedes } from 'aedes'
import type { AedesSinkApi } from './protocol.js'
import { serveRpc } from './rpc.js'

let broker: Aedes | undefined
let server: Server | undefined

const api: AedesSinkApi = {
  async listen() {
    const b = await Aedes.createBroker()
    broker = b
    const s = createServer((socket) => b.handle(socket))
    server = s
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject)
      s.listen(0, '127.0.0.1', () => resolve())
    })
    return { port: (s.address() as AddressInfo).port }
  },
  async close() {
    server?.close()
    await new Promise<void>((resolve) => (broker ? broker.close(() => resolve()) : resolve()))
  },
}

serveRpc(api)
