/** Keyset cursors over (created_at, id): stable under inserts, exact to the microsecond. */
import { AppError } from './errors.js'

export interface CursorKey {
  micros: string
  id: string
}

export function encodeCursor(key: CursorKey): string {
  return Buffer.from(`${key.micros}.${key.id}`).toString('base64url')
}

/** 9999-12-31T23:59:59.999999Z in microseconds since the epoch. */
const MAX_MICROS = 253_402_300_799_999_999n

export function decodeCursor(cursor: string | undefined): CursorKey | undefined {
  if (cursor === undefined) return undefined
  const m = /^(\d{1,18})\.([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'))
  // Anything Postgres could not take as a timestamp (after year 9999) is not ours either.
  if (!m || BigInt(m[1]!) > MAX_MICROS) {
    throw new AppError('validation_failed', 'cursor is not one this API issued', { errors: [{ path: 'querystring/cursor', message: 'invalid cursor' }] })
  }
  return { micros: m[1]!, id: m[2]! }
}

/** SQL pieces: the key column expression and the "after cursor" predicate. */
export const CURSOR_MICROS_SQL = `(extract(epoch FROM created_at) * 1000000)::bigint::text`
export const afterCursorSql = (microsParam: string, idParam: string) =>
  `(created_at, id) > ('epoch'::timestamptz + ${microsParam}::bigint * interval '1 microsecond', ${idParam}::uuid)`

export function page<T extends { id: string; cursorMicros: string }>(rows: T[], limit: number) {
  const more = rows.length > limit
  const items = more ? rows.slice(0, limit) : rows
  const last = items[items.length - 1]
  return {
    items: items.map(({ cursorMicros: _c, ...rest }) => rest),
    nextCursor: more && last ? encodeCursor({ micros: last.cursorMicros, id: last.id }) : null,
  }
}
