/** Start-up configuration: `loadConfig` defaults and validation, and how the CLI reports a bad environment. */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../core/config.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env)
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError)
    return err as ConfigError
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`)
}

describe('loadConfig', () => {
  it('gives the documented defaults for an empty environment', () => {
    const config = loadConfig({})
    expect(config).toEqual({
      host: '127.0.0.1',
      port: 3000,
      mqttHost: '127.0.0.1',
      mqttPort: 1883,
      mqttWsPort: 8083,
      mqttMaxPayloadBytes: 256 * 1024,
      dataDir: path.resolve('./data'),
      databaseUrl: undefined,
      clickhouseUrl: undefined,
      clickhouseDatabase: 'fleetpulse',
      kafkaBrokers: undefined,
      kafkaClientId: 'fleetpulse',
      kafkaSecurity: { tls: false, sasl: undefined },
      kafkaReplicationFactor: undefined,
      h3Resolution: 9,
      busPartitions: 8,
      busMaxBacklog: 20_000,
      busMaxBuffered: 50_000,
      busNamespace: '',
      sinkBatchSize: 5000,
      sinkFlushMs: 1000,
      analytics: {
        reorderWindowMs: 5000, refreshMs: 5000, profileRefreshMs: 300_000, stopMinS: 120, tripMinDistanceM: 200, idleMinS: 120,
        overspeedKmh: 90, overspeedMinS: 10, offlineAfterMs: 600_000,
      },
      positionsTtlDays: 0,
      logLevel: 'info',
      authRateLimit: { perAccount: 10, perAddress: 50, windowMs: 60_000 },
      corsOrigins: [],
      publicUrl: undefined,
      backgroundCheck: { url: undefined, secret: undefined },
      maxActiveVehiclesPerDriver: 1,
      notifications: {
        smtpUrl: undefined, mailFrom: 'fleetpulse <noreply@fleetpulse.local>', smsUrl: undefined, smsToken: undefined,
        maxAttempts: 8, retryBaseMs: 30_000, retryMaxMs: 3_600_000, concurrency: 8, sendTimeoutMs: 10_000, allowPrivateWebhooks: false,
      },
      jobsPollMs: 1000,
      documents: { maxBytes: 10 * 1024 * 1024, reminderIntervalMs: 3_600_000, s3: undefined },
      live: { coalesceMs: 250, viewportMaxCells: 500, alertBuffer: 100, maxRoomsPerSocket: 100, userRecheckMs: 30_000 },
      console: { tileUrl: undefined, tileAttribution: '' },
      adminEmail: 'admin@fleetpulse.local',
      adminPassword: undefined,
      jwtSecret: undefined,
      accessTokenTtlS: 900,
      refreshTokenTtlS: 30 * 86_400,
      shutdownTimeoutMs: 15_000,
    })
  })

  it('treats empty strings as unset', () => {
    expect(loadConfig({ PORT: '', DATABASE_URL: '', JWT_SECRET: '', LOG_LEVEL: '' })).toMatchObject({
      port: 3000, databaseUrl: undefined, jwtSecret: undefined, logLevel: 'info',
    })
  })

  it('reads valid values', () => {
    const config = loadConfig({
      PORT: '8080',
      HOST: '0.0.0.0',
      H3_RESOLUTION: '15',
      DATABASE_URL: 'postgresql://u:p@db:5432/fleet',
      CLICKHOUSE_URL: 'https://ch.example:8443',
      JWT_SECRET: 'x'.repeat(32),
      LOG_LEVEL: 'debug',
      FLEETPULSE_ADMIN_EMAIL: 'Boss@Example.COM',
      DATA_DIR: '/tmp/fp-data',
    })
    expect(config).toMatchObject({
      port: 8080, host: '0.0.0.0', mqttHost: '0.0.0.0', h3Resolution: 15,
      databaseUrl: 'postgresql://u:p@db:5432/fleet', clickhouseUrl: 'https://ch.example:8443',
      jwtSecret: 'x'.repeat(32), logLevel: 'debug', adminEmail: 'boss@example.com', dataDir: '/tmp/fp-data',
    })
    expect(loadConfig({ PORT: '0', H3_RESOLUTION: '0' })).toMatchObject({ port: 0, h3Resolution: 0 })
    expect(loadConfig({ LIVE_COALESCE_MS: '500', CONSOLE_TILE_URL: 'https://tile.example/{z}/{x}/{y}.png' })).toMatchObject({
      live: { coalesceMs: 500 }, console: { tileUrl: 'https://tile.example/{z}/{x}/{y}.png' },
    })
  })

  it.each([
    ['PORT', 'abc'],
    ['PORT', '80.5'],
    ['PORT', '1e3'],
    ['PORT', '0x50'],
    ['PORT', '65536'],
    ['PORT', '-1'],
    ['H3_RESOLUTION', '16'],
    ['H3_RESOLUTION', '-1'],
    ['DATABASE_URL', 'mysql://x'],
    ['DATABASE_URL', 'not a url'],
    ['CLICKHOUSE_URL', 'tcp://ch:9000'],
    ['JWT_SECRET', 'short'],
    ['JWT_SECRET', 'x'.repeat(31)],
    ['LOG_LEVEL', 'verbose'],
    ['LIVE_COALESCE_MS', '5'],
    ['CONSOLE_TILE_URL', 'https://tiles.example/{z}/{x}.png'],
    ['CONSOLE_TILE_URL', 'ftp://tiles.example/{z}/{x}/{y}.png'],
    ['FLEETPULSE_ADMIN_EMAIL', 'not-an-email'],
    ['FLEETPULSE_ADMIN_PASSWORD', 'short'],
    ['CLICKHOUSE_DATABASE', 'drop table;'],
    ['ACCESS_TOKEN_TTL_S', '10'],
    ['KAFKA_BROKERS', 'kafka'],
    ['KAFKA_BROKERS', 'kafka:9092;other:9092'],
    ['BUS_NAMESPACE', 'a.b'],
    ['CORS_ORIGINS', 'https://ok.example.com,https://x.example.com/path'],
    ['AUTH_RATE_LIMIT_WINDOW_S', '0'],
    ['BACKGROUND_CHECK_SECRET', 'too-short'],
    ['PUBLIC_URL', 'ftp://example.com'],
    ['S3_BUCKET', 'Not_A_Bucket'],
    ['S3_ACCESS_KEY_ID', 'only-the-key'],
    ['BUS_MAX_BUFFERED', '10'],
  ])('refuses %s=%j with a ConfigError naming the variable', (name, value) => {
    const err = configError({ [name]: value })
    expect(err.name).toBe('ConfigError')
    expect(err.problems).toHaveLength(1)
    expect(err.problems[0]).toContain(name)
    expect(err.message).toContain(name)
  })

  it('does not echo the value of a secret in its message', () => {
    const err = configError({ JWT_SECRET: 'hunter2-secret' })
    expect(err.message).not.toContain('hunter2-secret')
    const pw = configError({ FLEETPULSE_ADMIN_PASSWORD: 'pw1' })
    expect(pw.message).not.toContain('pw1')
  })

  it('reads Kafka TLS, SASL and replication settings', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'fleetpulse-ca-'))
    const caFile = path.join(dir, 'ca.pem')
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'
    writeFileSync(caFile, pem)
    expect(loadConfig({ KAFKA_SSL: 'true' }).kafkaSecurity).toEqual({ tls: true, sasl: undefined })
    const config = loadConfig({
      KAFKA_SSL_CA_FILE: caFile, KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512', KAFKA_SASL_USERNAME: 'fleet', KAFKA_SASL_PASSWORD: 'pw', KAFKA_REPLICATION_FACTOR: '3',
    })
    expect(config.kafkaSecurity).toEqual({ tls: { ca: pem }, sasl: { mechanism: 'scram-sha-512', username: 'fleet', password: 'pw' } })
    expect(config.kafkaReplicationFactor).toBe(3)
  })

  it('names what is wrong with the Kafka security settings, without echoing the password', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'fleetpulse-ca-'))
    const notPem = path.join(dir, 'ca.txt')
    writeFileSync(notPem, 'hello')
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ KAFKA_SSL: 'yes' }, /KAFKA_SSL must be true or false/],
      [{ KAFKA_SSL_CA_FILE: path.join(dir, 'missing.pem') }, /KAFKA_SSL_CA_FILE .* cannot be read: ENOENT/],
      [{ KAFKA_SSL_CA_FILE: notPem }, /holds no PEM certificate/],
      [{ KAFKA_SSL_CA_FILE: notPem, KAFKA_SSL: 'false' }, /KAFKA_SSL_CA_FILE is for TLS, but KAFKA_SSL=false/],
      [{ KAFKA_SASL_MECHANISM: 'gssapi', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'secret-pw' }, /KAFKA_SASL_MECHANISM must be one of plain, scram-sha-256, scram-sha-512/],
      [{ KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u' }, /needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD/],
      [{ KAFKA_SASL_PASSWORD: 'secret-pw' }, /need KAFKA_SASL_MECHANISM/],
      [{ KAFKA_REPLICATION_FACTOR: '0' }, /KAFKA_REPLICATION_FACTOR="0" must be an integer in 1..16/],
    ]
    for (const [env, problem] of cases) {
      const err = configError(env)
      expect(err.message).toMatch(problem)
      expect(err.message).not.toContain('secret-pw')
    }
  })

  it('names every bad variable at once', () => {
    const err = configError({ PORT: 'abc', H3_RESOLUTION: '16', DATABASE_URL: 'mysql://x', JWT_SECRET: 'short', MQTT_PORT: '70000' })
    expect(err.problems).toHaveLength(5)
    for (const name of ['PORT', 'H3_RESOLUTION', 'DATABASE_URL', 'JWT_SECRET', 'MQTT_PORT']) {
      expect(err.message).toContain(name)
      expect(err.problems.some((p) => p.includes(name))).toBe(true)
    }
  })
})

describe('the fleetpulse CLI', () => {
  function runCli(env: Record<string, string>) {
    const childEnv: Record<string, string | undefined> = { ...process.env }
    // Only what the test sets: no stray configuration from the developer's shell.
    for (const key of Object.keys(childEnv)) {
      if (/^(PORT|HOST|MQTT_|H3_|BUS_|SINK_|DATABASE_URL|CLICKHOUSE_|JWT_SECRET|LOG_LEVEL|FLEETPULSE_|ACCESS_TOKEN|REFRESH_TOKEN|SHUTDOWN_|KAFKA_|DATA_DIR)/.test(key)) delete childEnv[key]
    }
    return spawnSync(process.execPath, ['--import', 'tsx', 'bin/fleetpulse.ts', 'all'], {
      cwd: ROOT,
      env: { ...childEnv, DATA_DIR: mkdtempSync(path.join(tmpdir(), 'fleetpulse-cli-')), ...env },
      encoding: 'utf8',
      timeout: 30_000,
    })
  }

  it('exits with code 2 and names PORT on stderr when PORT=abc, without starting', () => {
    const res = runCli({ PORT: 'abc' })
    expect(res.error).toBeUndefined()
    expect(res.signal).toBeNull()
    expect(res.status, res.stderr).toBe(2)
    expect(res.stderr).toContain('PORT')
    expect(res.stderr).toContain('abc')
    expect(res.stdout).not.toContain('fleetpulse is running')
  }, 40_000)

  it('names every bad variable on stderr at once', () => {
    const res = runCli({ PORT: 'abc', H3_RESOLUTION: '16', JWT_SECRET: 'short' })
    expect(res.status, res.stderr).toBe(2)
    for (const name of ['PORT', 'H3_RESOLUTION', 'JWT_SECRET']) expect(res.stderr).toContain(name)
  }, 40_000)

  it('exits with code 2 and the usage for an unknown role', () => {
    const res = spawnSync(process.execPath, ['--import', 'tsx', 'bin/fleetpulse.ts', 'everything'], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 })
    expect(res.status, res.stderr).toBe(2)
    expect(res.stderr).toContain('unknown role: everything')
    expect(res.stderr).toContain('usage: fleetpulse')
  }, 40_000)
})

describe('BACKGROUND_CHECK_URL', () => {
  it('needs the shared secret', () => {
    const err = configError({ BACKGROUND_CHECK_URL: 'https://checks.example.com/v1' })
    expect(err.problems).toEqual(['BACKGROUND_CHECK_URL needs BACKGROUND_CHECK_SECRET (both sides sign with it)'])
  })
})

describe('KAFKA_BROKERS', () => {
  it('selects the Kafka bus with a list of brokers', () => {
    expect(loadConfig({ KAFKA_BROKERS: ' 127.0.0.1:9092, kafka-2:9092 ' }).kafkaBrokers).toEqual(['127.0.0.1:9092', 'kafka-2:9092'])
  })
})
