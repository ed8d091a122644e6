/**
 * Opens the ingest ports: MQTT over TCP and MQTT over WebSocket, both fed to
 * one Aedes broker. Owns their teardown.
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http'
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from 'node:net'
import { WebSocketServer, createWebSocketStream } from 'ws'
import { buildIngest, type IngestDeps } from './app.js'

export interface IngestServerOptions {
  host: string
  mqttPort: number
  mqttWsPort: number
}

export interface IngestServer {
  mqttPort: number
  mqttWsPort: number
  /** Stops accepting, disconnects every device, closes the broker. */
  close(): Promise<void>
}

const listen = (server: TcpServer | HttpServer, port: number, host: string) =>
  new Promise<number>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve((server.address() as AddressInfo).port)
    })
  })

export async function startIngest(options: IngestServerOptions, deps: IngestDeps): Promise<IngestServer> {
  const ingest = await buildIngest(deps)
  const tcp = createTcpServer((socket) => ingest.broker.handle(socket))
  const http = createHttpServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket only\n')
  })
  const wss = new WebSocketServer({ server: http })
  wss.on('connection', (ws, req) => {
    const stream = createWebSocketStream(ws)
    stream.on('error', () => ws.terminate())
    ingest.broker.handle(stream, req)
  })
  const mqttPort = await listen(tcp, options.mqttPort, options.host)
  const mqttWsPort = await listen(http, options.mqttWsPort, options.host)
  deps.logger.info({ mqtt: `mqtt://${options.host}:${mqttPort}`, mqttWs: `ws://${options.host}:${mqttWsPort}` }, 'ingest listening')

  return {
    mqttPort,
    mqttWsPort,
    close: async () => {
      const stopped = Promise.all([
        new Promise<void>((r) => tcp.close(() => r())),
        new Promise<void>((r) => http.close(() => r())),
      ])
      await ingest.close()
      for (const ws of wss.clients) ws.terminate()
      wss.close()
      await stopped
    },
  }
}
