#!/usr/bin/env -S node --max-semi-space-size=64
/**
 * `fleetpulse [all | ingest | stream | api ...]`: starts the named roles in this
 * process, configured by environment variables (see README). `npm start` runs
 * `fleetpulse all` on the embedded defaults.
 *
 * Node flag (the shebang, `npm start`, the Dockerfile and the bench all pass it):
 * `--max-semi-space-size=64` gives V8's young generation 64 MiB semi-spaces
 * instead of 16. A fix lives from its MQTT packet to its ClickHouse batch, a
 * few hundred milliseconds; with small semi-spaces it outlives two scavenges
 * and is copied into the old generation. Measured with the bench's --cpu-prof:
 * garbage collection fell from 13-14 % to 7.5 % of the embedded main thread.
 */
import { ConfigError, loadConfig } from '../core/config.js'
import { createLogger } from '../core/logger.js'
import { ROLES, startPlatform, type RoleName } from './platform.js'
import { replayCommand } from './replay.js'

const USAGE = `usage: fleetpulse <all | ${ROLES.join(' | ')}> [role ...]
       fleetpulse replay --from <ISO time> [--vehicle <id> ...] [--api <url>]

  all      ingest + stream + api in one process (what npm start runs)
  ingest   MQTT broker (TCP and WebSocket): devices in, bus out
  stream   processors: bus in, ClickHouse / Postgres / live topics out
  api      REST API, Socket.IO /live, OpenAPI at /docs
  replay   recompute the stream analytics of vehicles through a running API
           (fleetpulse replay --help)

Configuration comes from environment variables; see the README.`

function parseRoles(args: string[]): RoleName[] | undefined {
  if (args.length === 0 || args.includes('-h') || args.includes('--help')) return undefined
  const roles = new Set<RoleName>()
  for (const arg of args) {
    if (arg === 'all') ROLES.forEach((r) => roles.add(r))
    else if ((ROLES as readonly string[]).includes(arg)) roles.add(arg as RoleName)
    else throw new Error(`unknown role: ${arg}`)
  }
  return [...roles]
}

async function main(): Promise<void> {
  if (process.argv[2] === 'replay') process.exit(await replayCommand(process.argv.slice(3)))
  let roles: RoleName[] | undefined
  try {
    roles = parseRoles(process.argv.slice(2))
  } catch (err) {
    console.error(`fleetpulse: ${(err as Error).message}\n\n${USAGE}`)
    process.exit(2)
  }
  if (!roles) {
    console.log(USAGE)
    return
  }

  let config
  try {
    config = loadConfig()
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`fleetpulse: ${err.message}`)
      process.exit(2)
    }
    throw err
  }

  const logger = createLogger(config.logLevel)
  process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled promise rejection'))

  const platform = await startPlatform(config, roles, { logger }).catch((err: unknown) => {
    logger.fatal({ err }, 'start-up failed')
    console.error(`fleetpulse: start-up failed: ${(err as Error).message}`)
    process.exit(1)
  })

  const lines = [`fleetpulse is running (${roles.join(', ')}; data in ${config.dataDir})`]
  if (platform.urls.api) {
    lines.push(`  API        ${platform.urls.api}`, `  API docs   ${platform.urls.docs}`, `  Live       ${platform.urls.api}/live (Socket.IO)`, `  Console    ${platform.urls.api}/`)
  }
  if (platform.urls.mqtt) lines.push(`  MQTT       ${platform.urls.mqtt}`, `  MQTT/WS    ${platform.urls.mqttWs}`)
  if (platform.urls.ops) lines.push(`  Health     ${platform.urls.ops}/readyz   (and /healthz, /metrics)`)
  if (platform.bootstrap?.created) {
    lines.push(`  Admin      ${platform.bootstrap.email}`)
    if (platform.bootstrap.generatedPassword) {
      lines.push(`  Password   ${platform.bootstrap.generatedPassword}   (generated; shown this once, keep it)`)
    }
  }
  console.log(lines.join('\n'))

  let stopping = false
  const stop = (signal: string) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting at once')
      process.exit(1)
    }
    stopping = true
    logger.info({ signal }, 'shutting down gracefully')
    const timer = setTimeout(() => {
      logger.error('graceful shutdown timed out')
      process.exit(1)
    }, config.shutdownTimeoutMs + 5000)
    timer.unref()
    platform.close().then(
      () => {
        logger.info('stopped')
        process.exit(0)
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed')
        process.exit(1)
      },
    )
  }
  process.on('SIGINT', () => stop('SIGINT'))
  process.on('SIGTERM', () => stop('SIGTERM'))
}

void main()
