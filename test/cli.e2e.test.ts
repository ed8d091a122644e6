/**
 * As a new user would: the built `fleetpulse all` process on embedded defaults,
 * a fix published with mosquitto_pub (MQTT.js where mosquitto is not
 * installed), a graceful SIGTERM, and a restart that finds its data again.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import mqtt from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PACKAGE_ROOT } from '../core/paths.js'
import { api, waitFor } from './helpers/platform.js'

const hasMosquittoPub = spawnSync('sh', ['-c', 'command -v mosquitto_pub']).status === 0
const dataDir = mkdtempSync(path.join(tmpdir(), 'fleetpulse-cli-'))
const running: ChildProcess[] = []

interface Started {
  child: ChildProcess
  output: () => string
  apiUrl: string
  mqttPort: number
  password?: string
}

async function startCli(): Promise<Started> {
  const child = spawn(process.execPath, ['dist/bin/fleetpulse.js', 'all'], {
    cwd: PACKAGE_ROOT,
    // The embedded defaults, as on a fresh machine: no server URLs from the test runner's environment.
    env: {
      ...process.env, DATA_DIR: dataDir, PORT: '0', MQTT_PORT: '0', MQTT_WS_PORT: '0', LOG_LEVEL: 'warn',
      FLEETPULSE_ADMIN_PASSWORD: '', FLEETPULSE_ADMIN_EMAIL: '', JWT_SECRET: '', DATABASE_URL: '', CLICKHOUSE_URL: '', KAFKA_BROKERS: '',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  running.push(child)
  let out = ''
  child.stdout!.on('data', (d) => (out += d))
  child.stderr!.on('data', (d) => (out += d))
  const banner = await waitFor(() => (/MQTT\/WS/.test(out) ? out : undefined), { timeoutMs: 60_000, what: 'the start-up banner' })
  return {
    child,
    output: () => out,
    apiUrl: /API\s+(http:\/\/\S+)/.exec(banner)![1]!,
    mqttPort: Number(/MQTT\s+mqtt:\/\/[\d.]+:(\d+)/.exec(banner)![1]),
    password: /Password\s+(\S+)/.exec(banner)?.[1],
  }
}

function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode)
    child.once('exit', (code) => resolve(code))
  })
}

beforeAll(() => {
  const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: PACKAGE_ROOT, encoding: 'utf8' })
  if (build.status !== 0) throw new Error(`build failed:\n${build.stdout}${build.stderr}`)
}, 180_000)
afterAll(() => {
  for (const c of running) if (c.exitCode === null) c.kill('SIGKILL')
})

describe('fleetpulse all, started as a new user would', () => {
  let first: { vehicleId: string; token: string; ts: number }

  it('prints a generated admin password once, takes a fix from mosquitto_pub and shows it at /position', async () => {
    const app = await startCli()
    expect(app.password, app.output()).toMatch(/^\S{16,}$/)
    const login = await api(app.apiUrl, 'POST', '/api/v1/auth/login', { body: { email: 'admin@fleetpulse.local', password: app.password } })
    expect(login.status).toBe(200)
    const token = login.body.accessToken
    const vehicle = await api(app.apiUrl, 'POST', '/api/v1/vehicles', { token, body: { name: 'CLI truck' } })
    const device = await api(app.apiUrl, 'POST', `/api/v1/vehicles/${vehicle.body.id}/devices`, { token, body: { kind: 'gps' } })
    expect(device.status).toBe(201)
    const ts = Date.now()
    const payload = JSON.stringify({ ts, lat: 52.52, lon: 13.405, speed: 12.5 })
    if (hasMosquittoPub) {
      const pub = spawnSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(app.mqttPort), '-u', device.body.id, '-P', device.body.secret,
        '-t', device.body.topic, '-q', '1', '-m', payload], { encoding: 'utf8', timeout: 15_000 })
      expect(pub.status, pub.stderr).toBe(0)
    } else {
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${app.mqttPort}`, { username: device.body.id, password: device.body.secret, reconnectPeriod: 0 })
      await client.publishAsync(device.body.topic, payload, { qos: 1 })
      await client.endAsync()
    }
    const position = await waitFor(async () => {
      const res = await api(app.apiUrl, 'GET', `/api/v1/vehicles/${vehicle.body.id}/position`, { token })
      return res.status === 200 ? res.body : undefined
    }, { what: 'the position' })
    expect(position).toMatchObject({ lat: 52.52, lon: 13.405, speed: 12.5, ts: new Date(ts).toISOString() })
    first = { vehicleId: vehicle.body.id, token, ts }

    app.child.kill('SIGTERM')
    expect(await exitOf(app.child)).toBe(0)
  })

  it('restarts on the same DATA_DIR with its data and tokens, and prints no password again', async () => {
    const app = await startCli()
    expect(app.password).toBeUndefined()
    const position = await api(app.apiUrl, 'GET', `/api/v1/vehicles/${first.vehicleId}/position`, { token: first.token })
    expect(position.status).toBe(200)
    expect(position.body.ts).toBe(new Date(first.ts).toISOString())
    const track = await api(app.apiUrl, 'GET', `/api/v1/vehicles/${first.vehicleId}/track`, { token: first.token })
    expect(track.body.items).toHaveLength(1)
    app.child.kill('SIGINT')
    expect(await exitOf(app.child)).toBe(0)
  })
})
