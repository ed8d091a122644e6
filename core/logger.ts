import pino, { type Logger } from 'pino'
import type { LogLevel } from './config.js'

export type { Logger }

/** Structured JSON logs; fields such as reqId, deviceId and vehicleId go on child loggers. */
export function createLogger(level: LogLevel, name = 'fleetpulse'): Logger {
  return pino({
    name,
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['password', 'secret', '*.password', '*.secret', 'req.headers.authorization'], censor: '[redacted]' },
  })
}
