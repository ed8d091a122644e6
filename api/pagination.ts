/**
 * Keyset cursors over (created_at, id): stable under inserts, exact to the
 * microsecond. A cursor is `<microseconds since the epoch>.<uuid>`: any string
 * of that shape is a valid position, so the schema (PageCursor) is the whole
 * validation and a well-formed cursor never fails.
 */
import { PageCursor } from '../schemas/api.v1.js'
import { AppError } from './errors.js'

export interface CursorKey {
  micros: string
  id: string
}

// At most 16 digits of microseconds: before the year 2286, inside Postgres' timestamp range.
const CURSOR = new RegExp(PageCursor.pattern!)

export function encodeCursor(key: CursorKey): string {
  return `${key.micros}.${key.id}`
}

export function decodeCursor(cursor: string | undefined): CursorKey | undefined {
  if (cursor === undefined) return undefined
  // The route schema already checked the shape; this guards callers that skip it.
  if (!CURSOR.test(cursor)) {
    throw new AppError('validation_failed', 'cursor is not one this API issued', { errors: [{ path: 'querystring/cursor', message: 'invalid cursor' }] })
  }
  const dot = cursor.indexOf('.')
  return { micros: cursor.slice(0, dot), id: cursor.slice(dot + 1) }
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

/** A SortedCursor (schemas/api.v1.ts): by creation like a PageCursor, or `n<base64url name>.<uuid>` by name. */
export type SortedKey = { sort: 'createdAt'; micros: string; id: string } | { sort: 'name'; name: string; id: string }

export function decodeSortedCursor(cursor: string | undefined): SortedKey | undefined {
  if (cursor === undefined) return undefined
  const dot = cursor.lastIndexOf('.')
  const head = cursor.slice(0, dot)
  const id = cursor.slice(dot + 1)
  return head.startsWith('n')
    ? { sort: 'name', name: Buffer.from(head.slice(1), 'base64url').toString('utf8'), id }
    : { sort: 'createdAt', micros: head, id }
}

export function encodeSortedCursor(key: SortedKey): string {
  return key.sort === 'name' ? `n${Buffer.from(key.name).toString('base64url')}.${key.id}` : `${key.micros}.${key.id}`
}

/** A LIKE pattern matching `text` anywhere, with LIKE's wildcards in it taken literally. */
export const containsPattern = (text: string) => `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
