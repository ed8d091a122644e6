/**
 * The one module that reads `process.env`. Every setting is declared here with
 * its type, bounds and default; `loadConfig` validates the whole environment at
 * start-up and stops with a message naming each bad variable.
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`)
    this.name = 'ConfigError'
  }
}

type Env = Record<string, string | undefined>

export const KAFKA_SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const

export interface KafkaSecurity {
  /** TLS: off, on with the system's CAs (true), or on trusting the PEM certificates given (`ca`). */
  tls: false | true | { ca: string }
  sasl: { mechanism: (typeof KAFKA_SASL_MECHANISMS)[number]; username: string; password: string } | undefined
}

function parseKafkaSecurity(env: Env, problems: string[]): KafkaSecurity {
  const ssl = optional(env, 'KAFKA_SSL')
  if (ssl !== undefined && ssl !== 'true' && ssl !== 'false') problems.push('KAFKA_SSL must be true or false')
  const caFile = optional(env, 'KAFKA_SSL_CA_FILE')
  let tls: KafkaSecurity['tls'] = ssl === 'true'
  if (caFile !== undefined) {
    if (ssl === 'false') problems.push('KAFKA_SSL_CA_FILE is for TLS, but KAFKA_SSL=false')
    try {
      const ca = readFileSync(caFile, 'utf8')
      if (!ca.includes('-----BEGIN CERTIFICATE-----')) problems.push(`KAFKA_SSL_CA_FILE ${caFile} holds no PEM certificate`)
      tls = { ca }
    } catch (err) {
      problems.push(`KAFKA_SSL_CA_FILE ${caFile} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
  }
  const mechanism = optional(env, 'KAFKA_SASL_MECHANISM')?.toLowerCase()
  const username = optional(env, 'KAFKA_SASL_USERNAME')
  const password = optional(env, 'KAFKA_SASL_PASSWORD')
  if (mechanism === undefined) {
    if (username !== undefined || password !== undefined) problems.push('KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD need KAFKA_SASL_MECHANISM')
    return { tls, sasl: undefined }
  }
  if (!(KAFKA_SASL_MECHANISMS as readonly string[]).includes(mechanism)) {
    problems.push(`KAFKA_SASL_MECHANISM must be one of ${KAFKA_SASL_MECHANISMS.join(', ')}`)
    return { tls, sasl: undefined }
  }
  if (username === undefined || password === undefined) {
    problems.push(`KAFKA_SASL_MECHANISM=${mechanism} needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD`)
    return { tls, sasl: undefined }
  }
  return { tls, sasl: { mechanism: mechanism as (typeof KAFKA_SASL_MECHANISMS)[number], username, password } }
}

interface IntSpec { min: number; max: number; default: number }

const INT_VARS = {
  PORT: { min: 0, max: 65535, default: 3000 },
  MQTT_PORT: { min: 0, max: 65535, default: 1883 },
  MQTT_WS_PORT: { min: 0, max: 65535, default: 8083 },
  H3_RESOLUTION: { min: 0, max: 15, default: 9 },
  BUS_PARTITIONS: { min: 1, max: 1024, default: 8 },
  BUS_MAX_BACKLOG: { min: 1000, max: 10_000_000, default: 20_000 },
  BUS_MAX_BUFFERED: { min: 100, max: 10_000_000, default: 50_000 },
  SINK_BATCH_SIZE: { min: 1, max: 1_000_000, default: 5000 },
  SINK_FLUSH_MS: { min: 10, max: 60_000, default: 1000 },
  ANALYTICS_REORDER_WINDOW_MS: { min: 0, max: 3_600_000, default: 5000 },
  ANALYTICS_REFRESH_MS: { min: 100, max: 3_600_000, default: 5000 },
  ANALYTICS_PROFILE_REFRESH_S: { min: 1, max: 86_400, default: 300 },
  ANALYTICS_STOP_MIN_S: { min: 10, max: 86_400, default: 120 },
  ANALYTICS_TRIP_MIN_DISTANCE_M: { min: 10, max: 100_000, default: 200 },
  ANALYTICS_IDLE_MIN_S: { min: 10, max: 86_400, default: 120 },
  ANALYTICS_OVERSPEED_KMH: { min: 10, max: 400, default: 90 },
  ANALYTICS_OVERSPEED_MIN_S: { min: 0, max: 3600, default: 10 },
  OFFLINE_AFTER_S: { min: 5, max: 86_400, default: 600 },
  POSITIONS_TTL_DAYS: { min: 0, max: 36_500, default: 0 },
  MQTT_MAX_PAYLOAD_BYTES: { min: 1024, max: 16 * 1024 * 1024, default: 256 * 1024 },
  ACCESS_TOKEN_TTL_S: { min: 30, max: 86_400, default: 900 },
  REFRESH_TOKEN_TTL_S: { min: 60, max: 90 * 86_400, default: 30 * 86_400 },
  SHUTDOWN_TIMEOUT_MS: { min: 100, max: 600_000, default: 15_000 },
  AUTH_RATE_LIMIT_PER_ACCOUNT: { min: 1, max: 1_000_000, default: 10 },
  AUTH_RATE_LIMIT_PER_ADDRESS: { min: 1, max: 1_000_000, default: 50 },
  AUTH_RATE_LIMIT_WINDOW_S: { min: 1, max: 86_400, default: 60 },
  MAX_ACTIVE_VEHICLES_PER_DRIVER: { min: 1, max: 1000, default: 1 },
  NOTIFY_MAX_ATTEMPTS: { min: 1, max: 100, default: 8 },
  NOTIFY_RETRY_BASE_MS: { min: 10, max: 3_600_000, default: 30_000 },
  NOTIFY_RETRY_MAX_MS: { min: 10, max: 86_400_000, default: 3_600_000 },
  NOTIFY_CONCURRENCY: { min: 1, max: 256, default: 8 },
  NOTIFY_SEND_TIMEOUT_MS: { min: 100, max: 120_000, default: 10_000 },
  JOBS_POLL_MS: { min: 10, max: 60_000, default: 1000 },
  DOCUMENT_MAX_BYTES: { min: 1024, max: 1024 * 1024 * 1024, default: 10 * 1024 * 1024 },
  DOCUMENT_REMINDER_INTERVAL_S: { min: 1, max: 86_400, default: 3600 },
  LIVE_COALESCE_MS: { min: 10, max: 10_000, default: 250 },
  LIVE_VIEWPORT_MAX_CELLS: { min: 1, max: 100_000, default: 500 },
  LIVE_ALERT_BUFFER: { min: 1, max: 10_000, default: 100 },
  LIVE_MAX_ROOMS_PER_SOCKET: { min: 1, max: 10_000, default: 100 },
  LIVE_USER_RECHECK_MS: { min: 100, max: 3_600_000, default: 30_000 },
} as const satisfies Record<string, IntSpec>

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

export interface Config {
  host: string
  port: number
  mqttHost: string
  mqttPort: number
  mqttWsPort: number
  mqttMaxPayloadBytes: number
  dataDir: string
  /** PostgreSQL server URL; undefined = embedded PGlite under dataDir. */
  databaseUrl: string | undefined
  /** ClickHouse server URL; undefined = embedded chDB under dataDir. */
  clickhouseUrl: string | undefined
  clickhouseDatabase: string
  /** Kafka bootstrap brokers; undefined = the in-process bus. */
  kafkaBrokers: string[] | undefined
  kafkaClientId: string
  /** TLS and SASL towards Kafka, as managed clusters want them; both off = plaintext without authentication. */
  kafkaSecurity: KafkaSecurity
  /** Replicas of each topic fleetpulse creates; undefined = 3, or the cluster's broker count when it has fewer. */
  kafkaReplicationFactor: number | undefined
  h3Resolution: number
  busPartitions: number
  /** In-process bus: uncommitted messages per partition before publishers wait. */
  busMaxBacklog: number
  /** Kafka bus: messages waiting for Kafka's acknowledgement before publishes are refused. */
  busMaxBuffered: number
  /** Prefix of Kafka topic and consumer group names, so several deployments can share a cluster. */
  busNamespace: string
  sinkBatchSize: number
  sinkFlushMs: number
  /** Stream analytics (stream/analytics): reorder window, refresh intervals and detection thresholds. */
  analytics: {
    reorderWindowMs: number
    refreshMs: number
    profileRefreshMs: number
    stopMinS: number
    tripMinDistanceM: number
    idleMinS: number
    overspeedKmh: number
    overspeedMinS: number
    offlineAfterMs: number
  }
  /** Raw positions kept this many days in ClickHouse (0 = forever). */
  positionsTtlDays: number
  logLevel: LogLevel
  /** Login, refresh and password reset attempts per window, per account and per client address. */
  authRateLimit: { perAccount: number; perAddress: number; windowMs: number }
  /** Browser origins allowed to call the API (CORS); empty = none. */
  corsOrigins: string[]
  /** The API's own URL as outside services reach it (callbacks); default http://HOST:PORT. */
  publicUrl: string | undefined
  /** Background-check provider webhook and the secret both sides sign with; no URL = checks cannot start. */
  backgroundCheck: { url: string | undefined; secret: string | undefined }
  maxActiveVehiclesPerDriver: number
  /** Notification delivery (api/notifications): channels and retry policy. */
  notifications: {
    smtpUrl: string | undefined; mailFrom: string; smsUrl: string | undefined; smsToken: string | undefined
    maxAttempts: number; retryBaseMs: number; retryMaxMs: number; concurrency: number; sendTimeoutMs: number
    allowPrivateWebhooks: boolean
  }
  /** How often an idle job worker looks for due jobs. */
  jobsPollMs: number
  /** Uploaded documents: size bound, how often expiry reminders are looked for, and S3 storage when S3_BUCKET is set. */
  documents: {
    maxBytes: number
    reminderIntervalMs: number
    s3: {
      bucket: string; region: string; endpoint: string | undefined
      accessKeyId: string | undefined; secretAccessKey: string | undefined; forcePathStyle: boolean
    } | undefined
  }
  /** Socket.IO /live: coalescing interval, viewport cap, alert buffers, rooms a socket may hold. */
  live: { coalesceMs: number; viewportMaxCells: number; alertBuffer: number; maxRoomsPerSocket: number; userRecheckMs: number }
  /** The dispatcher console at /: an optional map tile layer ({z}/{x}/{y} URL template) and its attribution. */
  console: { tileUrl: string | undefined; tileAttribution: string }
  adminEmail: string
  adminPassword: string | undefined
  /** HMAC secret for access tokens; undefined = generated once and kept under dataDir. */
  jwtSecret: string | undefined
  accessTokenTtlS: number
  refreshTokenTtlS: number
  shutdownTimeoutMs: number
}

function parseIntVar(env: Env, name: keyof typeof INT_VARS, problems: string[]): number {
  const spec: IntSpec = INT_VARS[name]
  const raw = env[name]
  if (raw === undefined || raw === '') return spec.default
  if (!/^-?\d+$/.test(raw.trim())) {
    problems.push(`${name}=${JSON.stringify(raw)} is not an integer`)
    return spec.default
  }
  const n = Number(raw)
  if (n < spec.min || n > spec.max) {
    problems.push(`${name}=${raw} is out of range (${spec.min}..${spec.max})`)
    return spec.default
  }
  return n
}

function parseUrlVar(env: Env, name: string, protocols: string[], problems: string[]): string | undefined {
  const raw = env[name]
  if (raw === undefined || raw === '') return undefined
  try {
    const url = new URL(raw)
    if (!protocols.includes(url.protocol)) {
      problems.push(`${name} must use ${protocols.join(' or ')} (got ${url.protocol})`)
    }
  } catch {
    problems.push(`${name} is not a valid URL`)
  }
  return raw
}

function optional(env: Env, name: string): string | undefined {
  const raw = env[name]
  return raw === undefined || raw === '' ? undefined : raw
}

/** Validates the environment into a typed Config; throws ConfigError naming every bad variable. */
export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = []

  const logLevel = (optional(env, 'LOG_LEVEL') ?? 'info') as LogLevel
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`)

  const adminEmail = optional(env, 'FLEETPULSE_ADMIN_EMAIL') ?? 'admin@fleetpulse.local'
  if (!/^[^\s@]+@[^\s@]+$/.test(adminEmail) || adminEmail.length > 254) {
    problems.push('FLEETPULSE_ADMIN_EMAIL is not an email address')
  }
  const adminPassword = optional(env, 'FLEETPULSE_ADMIN_PASSWORD')
  if (adminPassword !== undefined && (adminPassword.length < 8 || adminPassword.length > 256)) {
    problems.push('FLEETPULSE_ADMIN_PASSWORD must be 8 to 256 characters')
  }
  const jwtSecret = optional(env, 'JWT_SECRET')
  if (jwtSecret !== undefined && jwtSecret.length < 32) {
    problems.push('JWT_SECRET must be at least 32 characters')
  }
  const clickhouseDatabase = optional(env, 'CLICKHOUSE_DATABASE') ?? 'fleetpulse'
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(clickhouseDatabase)) {
    problems.push('CLICKHOUSE_DATABASE must be a plain identifier')
  }
  const kafkaBrokers = optional(env, 'KAFKA_BROKERS')?.split(',').map((b) => b.trim()).filter(Boolean)
  if (kafkaBrokers?.some((b) => !/^[A-Za-z0-9.-]+:\d{1,5}$/.test(b))) {
    problems.push('KAFKA_BROKERS must be a comma-separated list of host:port')
  }

  const kafkaSecurity = parseKafkaSecurity(env, problems)
  const rawReplication = optional(env, 'KAFKA_REPLICATION_FACTOR')
  // No default of its own (it depends on the cluster), so not an INT_VARS entry; read as strictly as those.
  const kafkaReplicationFactor = rawReplication === undefined ? undefined : Number(rawReplication)
  if (kafkaReplicationFactor !== undefined && !(/^\d+$/.test(rawReplication!.trim()) && kafkaReplicationFactor >= 1 && kafkaReplicationFactor <= 16)) {
    problems.push(`KAFKA_REPLICATION_FACTOR=${JSON.stringify(rawReplication)} must be an integer in 1..16`)
  }

  const busNamespace = optional(env, 'BUS_NAMESPACE') ?? ''
  if (!/^[A-Za-z0-9_-]{0,64}$/.test(busNamespace)) {
    problems.push('BUS_NAMESPACE may hold only letters, digits, _ and - (at most 64)')
  }

  const corsOrigins = (optional(env, 'CORS_ORIGINS') ?? '').split(',').map((o) => o.trim()).filter(Boolean)
  for (const origin of corsOrigins) {
    let ok = false
    try {
      const u = new URL(origin)
      ok = (u.protocol === 'http:' || u.protocol === 'https:') && u.origin === origin
    } catch {
      ok = false
    }
    if (!ok) problems.push(`CORS_ORIGINS: ${JSON.stringify(origin)} is not an origin like https://console.example.com`)
  }

  const backgroundCheckSecret = optional(env, 'BACKGROUND_CHECK_SECRET')
  if (backgroundCheckSecret !== undefined && backgroundCheckSecret.length < 32) problems.push('BACKGROUND_CHECK_SECRET must be at least 32 characters')
  const backgroundCheckUrl = parseUrlVar(env, 'BACKGROUND_CHECK_URL', ['http:', 'https:'], problems)
  if (backgroundCheckUrl && !backgroundCheckSecret) problems.push('BACKGROUND_CHECK_URL needs BACKGROUND_CHECK_SECRET (both sides sign with it)')

  const mailFrom = optional(env, 'MAIL_FROM') ?? 'fleetpulse <noreply@fleetpulse.local>'
  if (!mailFrom.includes('@') || /[\r\n]/.test(mailFrom) || mailFrom.length > 320) problems.push('MAIL_FROM is not an email address (name <address> or address)')
  const webhookAllowPrivate = optional(env, 'WEBHOOK_ALLOW_PRIVATE') ?? 'false'
  if (webhookAllowPrivate !== 'true' && webhookAllowPrivate !== 'false') problems.push('WEBHOOK_ALLOW_PRIVATE must be true or false')

  const s3Bucket = optional(env, 'S3_BUCKET')
  if (s3Bucket !== undefined && !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(s3Bucket)) problems.push('S3_BUCKET is not a valid bucket name')
  const s3Endpoint = parseUrlVar(env, 'S3_ENDPOINT', ['http:', 'https:'], problems)
  const s3PathStyle = optional(env, 'S3_FORCE_PATH_STYLE') ?? (s3Endpoint ? 'true' : 'false')
  if (s3PathStyle !== 'true' && s3PathStyle !== 'false') problems.push('S3_FORCE_PATH_STYLE must be true or false')
  const s3Key = optional(env, 'S3_ACCESS_KEY_ID')
  const s3Secret = optional(env, 'S3_SECRET_ACCESS_KEY')
  if ((s3Key === undefined) !== (s3Secret === undefined)) problems.push('S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY go together')

  const tileUrl = optional(env, 'CONSOLE_TILE_URL')
  if (tileUrl !== undefined) {
    let ok = false
    try {
      const u = new URL(tileUrl.replace(/\{[zxy]\}/g, '0'))
      ok = (u.protocol === 'http:' || u.protocol === 'https:') && ['{z}', '{x}', '{y}'].every((p) => tileUrl.includes(p))
    } catch {
      ok = false
    }
    if (!ok) problems.push('CONSOLE_TILE_URL must be an http(s) URL template with {z}, {x} and {y}')
  }
  const tileAttribution = optional(env, 'CONSOLE_TILE_ATTRIBUTION') ?? ''
  if (tileAttribution.length > 300) problems.push('CONSOLE_TILE_ATTRIBUTION is longer than 300 characters')

  const config: Config = {
    host: optional(env, 'HOST') ?? '127.0.0.1',
    port: parseIntVar(env, 'PORT', problems),
    mqttHost: optional(env, 'MQTT_HOST') ?? optional(env, 'HOST') ?? '127.0.0.1',
    mqttPort: parseIntVar(env, 'MQTT_PORT', problems),
    mqttWsPort: parseIntVar(env, 'MQTT_WS_PORT', problems),
    mqttMaxPayloadBytes: parseIntVar(env, 'MQTT_MAX_PAYLOAD_BYTES', problems),
    dataDir: path.resolve(optional(env, 'DATA_DIR') ?? './data'),
    databaseUrl: parseUrlVar(env, 'DATABASE_URL', ['postgres:', 'postgresql:'], problems),
    clickhouseUrl: parseUrlVar(env, 'CLICKHOUSE_URL', ['http:', 'https:'], problems),
    clickhouseDatabase,
    kafkaBrokers: kafkaBrokers?.length ? kafkaBrokers : undefined,
    kafkaClientId: optional(env, 'KAFKA_CLIENT_ID') ?? 'fleetpulse',
    kafkaSecurity,
    kafkaReplicationFactor,
    h3Resolution: parseIntVar(env, 'H3_RESOLUTION', problems),
    busPartitions: parseIntVar(env, 'BUS_PARTITIONS', problems),
    busMaxBacklog: parseIntVar(env, 'BUS_MAX_BACKLOG', problems),
    busMaxBuffered: parseIntVar(env, 'BUS_MAX_BUFFERED', problems),
    busNamespace,
    sinkBatchSize: parseIntVar(env, 'SINK_BATCH_SIZE', problems),
    sinkFlushMs: parseIntVar(env, 'SINK_FLUSH_MS', problems),
    analytics: {
      reorderWindowMs: parseIntVar(env, 'ANALYTICS_REORDER_WINDOW_MS', problems),
      refreshMs: parseIntVar(env, 'ANALYTICS_REFRESH_MS', problems),
      profileRefreshMs: parseIntVar(env, 'ANALYTICS_PROFILE_REFRESH_S', problems) * 1000,
      stopMinS: parseIntVar(env, 'ANALYTICS_STOP_MIN_S', problems),
      tripMinDistanceM: parseIntVar(env, 'ANALYTICS_TRIP_MIN_DISTANCE_M', problems),
      idleMinS: parseIntVar(env, 'ANALYTICS_IDLE_MIN_S', problems),
      overspeedKmh: parseIntVar(env, 'ANALYTICS_OVERSPEED_KMH', problems),
      overspeedMinS: parseIntVar(env, 'ANALYTICS_OVERSPEED_MIN_S', problems),
      offlineAfterMs: parseIntVar(env, 'OFFLINE_AFTER_S', problems) * 1000,
    },
    positionsTtlDays: parseIntVar(env, 'POSITIONS_TTL_DAYS', problems),
    logLevel,
    authRateLimit: {
      perAccount: parseIntVar(env, 'AUTH_RATE_LIMIT_PER_ACCOUNT', problems),
      perAddress: parseIntVar(env, 'AUTH_RATE_LIMIT_PER_ADDRESS', problems),
      windowMs: parseIntVar(env, 'AUTH_RATE_LIMIT_WINDOW_S', problems) * 1000,
    },
    corsOrigins,
    publicUrl: parseUrlVar(env, 'PUBLIC_URL', ['http:', 'https:'], problems),
    backgroundCheck: { url: backgroundCheckUrl, secret: backgroundCheckSecret },
    maxActiveVehiclesPerDriver: parseIntVar(env, 'MAX_ACTIVE_VEHICLES_PER_DRIVER', problems),
    notifications: {
      smtpUrl: parseUrlVar(env, 'SMTP_URL', ['smtp:', 'smtps:'], problems),
      mailFrom,
      smsUrl: parseUrlVar(env, 'SMS_URL', ['http:', 'https:'], problems),
      smsToken: optional(env, 'SMS_TOKEN'),
      maxAttempts: parseIntVar(env, 'NOTIFY_MAX_ATTEMPTS', problems),
      retryBaseMs: parseIntVar(env, 'NOTIFY_RETRY_BASE_MS', problems),
      retryMaxMs: parseIntVar(env, 'NOTIFY_RETRY_MAX_MS', problems),
      concurrency: parseIntVar(env, 'NOTIFY_CONCURRENCY', problems),
      sendTimeoutMs: parseIntVar(env, 'NOTIFY_SEND_TIMEOUT_MS', problems),
      allowPrivateWebhooks: webhookAllowPrivate === 'true',
    },
    jobsPollMs: parseIntVar(env, 'JOBS_POLL_MS', problems),
    documents: {
      maxBytes: parseIntVar(env, 'DOCUMENT_MAX_BYTES', problems),
      reminderIntervalMs: parseIntVar(env, 'DOCUMENT_REMINDER_INTERVAL_S', problems) * 1000,
      s3: s3Bucket
        ? {
          bucket: s3Bucket, region: optional(env, 'S3_REGION') ?? 'us-east-1', endpoint: s3Endpoint,
          accessKeyId: s3Key, secretAccessKey: s3Secret, forcePathStyle: s3PathStyle === 'true',
        }
        : undefined,
    },
    live: {
      coalesceMs: parseIntVar(env, 'LIVE_COALESCE_MS', problems),
      viewportMaxCells: parseIntVar(env, 'LIVE_VIEWPORT_MAX_CELLS', problems),
      alertBuffer: parseIntVar(env, 'LIVE_ALERT_BUFFER', problems),
      maxRoomsPerSocket: parseIntVar(env, 'LIVE_MAX_ROOMS_PER_SOCKET', problems),
      userRecheckMs: parseIntVar(env, 'LIVE_USER_RECHECK_MS', problems),
    },
    console: { tileUrl, tileAttribution },
    adminEmail: adminEmail.toLowerCase(),
    adminPassword,
    jwtSecret,
    accessTokenTtlS: parseIntVar(env, 'ACCESS_TOKEN_TTL_S', problems),
    refreshTokenTtlS: parseIntVar(env, 'REFRESH_TOKEN_TTL_S', problems),
    shutdownTimeoutMs: parseIntVar(env, 'SHUTDOWN_TIMEOUT_MS', problems),
  }
  if (config.notifications.retryMaxMs < config.notifications.retryBaseMs) problems.push('NOTIFY_RETRY_MAX_MS must be at least NOTIFY_RETRY_BASE_MS')
  if (problems.length > 0) throw new ConfigError(problems)
  return config
}

/** The documented variables, for the README table and `fleetpulse --help`. */
export const CONFIG_VARIABLES = [
  ...Object.entries(INT_VARS).map(([name, spec]) => ({ name, default: String(spec.default) })),
  { name: 'HOST', default: '127.0.0.1' },
  { name: 'MQTT_HOST', default: '$HOST' },
  { name: 'DATA_DIR', default: './data' },
  { name: 'DATABASE_URL', default: '(embedded PGlite)' },
  { name: 'CLICKHOUSE_URL', default: '(embedded chDB)' },
  { name: 'CLICKHOUSE_DATABASE', default: 'fleetpulse' },
  { name: 'KAFKA_BROKERS', default: '(in-process bus)' },
  { name: 'KAFKA_CLIENT_ID', default: 'fleetpulse' },
  { name: 'KAFKA_SSL', default: 'false' },
  { name: 'KAFKA_SSL_CA_FILE', default: '(system CAs)' },
  { name: 'KAFKA_SASL_MECHANISM', default: '(none)' },
  { name: 'KAFKA_SASL_USERNAME', default: '(none)' },
  { name: 'KAFKA_SASL_PASSWORD', default: '(none)' },
  { name: 'KAFKA_REPLICATION_FACTOR', default: '3, or the broker count if fewer' },
  { name: 'BUS_NAMESPACE', default: '(none)' },
  { name: 'LOG_LEVEL', default: 'info' },
  { name: 'CORS_ORIGINS', default: '(none)' },
  { name: 'PUBLIC_URL', default: 'http://$HOST:$PORT' },
  { name: 'BACKGROUND_CHECK_URL', default: '(none: checks cannot start)' },
  { name: 'BACKGROUND_CHECK_SECRET', default: '(none)' },
  { name: 'SMTP_URL', default: '(none: no email)' },
  { name: 'MAIL_FROM', default: 'fleetpulse <noreply@fleetpulse.local>' },
  { name: 'SMS_URL', default: '(none: no SMS)' },
  { name: 'SMS_TOKEN', default: '(none)' },
  { name: 'WEBHOOK_ALLOW_PRIVATE', default: 'false' },
  { name: 'S3_BUCKET', default: '(none: documents on local disk)' },
  { name: 'S3_REGION', default: 'us-east-1' },
  { name: 'S3_ENDPOINT', default: '(AWS)' },
  { name: 'S3_ACCESS_KEY_ID', default: '(the SDK default chain)' },
  { name: 'S3_SECRET_ACCESS_KEY', default: '(the SDK default chain)' },
  { name: 'S3_FORCE_PATH_STYLE', default: 'true with S3_ENDPOINT' },
  { name: 'CONSOLE_TILE_URL', default: '(none: a plain grid)' },
  { name: 'CONSOLE_TILE_ATTRIBUTION', default: '(none)' },
  { name: 'FLEETPULSE_ADMIN_EMAIL', default: 'admin@fleetpulse.local' },
  { name: 'FLEETPULSE_ADMIN_PASSWORD', default: '(generated, printed once)' },
  { name: 'JWT_SECRET', default: '(generated under DATA_DIR)' },
]
