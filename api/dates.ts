/** Turning validated RFC 3339 date-times from a request into instants the stores take. */
import { AppError } from './errors.js'

/** 2200-01-01: far beyond any record (ingest refuses future fixes), inside ClickHouse's DateTime64 range. */
export const LATEST_MS = Date.UTC(2200, 0, 1)

/**
 * Epoch milliseconds of an RFC 3339 date-time, clamped to [1970, 2200): every
 * record lies in that range, and both Postgres and ClickHouse take its bounds.
 * A leap second (:60) counts as the end of its minute, which JavaScript cannot parse.
 */
export function instantOf(value: string, field: string): number {
  const ms = Date.parse(value.replace(/(T\d{2}:\d{2}):60/i, '$1:59.999'))
  if (Number.isNaN(ms)) {
    throw new AppError('validation_failed', `${field} is not a date-time`, { errors: [{ path: `querystring/${field}`, message: 'invalid date-time' }] })
  }
  return Math.min(LATEST_MS, Math.max(0, ms))
}
