/**
 * Keyset cursors over (created_at, id): stable under inserts, exact to the
 * microsecond. A cursor is `<microseconds since the epoch>.<uuid>`: any string
 * of that shape is a valid position, so the schema (PageCursor) is the whole
 * validation and a well-formed cursor never fails.
 */
import { PageCursor } from '../schemas/api.v1.js'
import type { Db } from './db.js'
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

export interface SortedPageSpec {
  table: string
  columns: string
  searchColumns: string[]
  /** A condition every listed row meets (`deleted_at IS NULL` for soft-deleted rows). */
  visible?: string
}

/**
 * One page of a table's rows of an organization, filtered by state and a
 * case-insensitive search over `searchColumns`, in creation or name order; the
 * cursor, when given, decides the order (it carries the sort it was made for).
 */
export async function sortedPage<T extends { id: string; name: string }>(
  db: Db,
  spec: SortedPageSpec,
  orgId: string,
  query: { limit?: number; state?: string; q?: string; sort?: 'createdAt' | 'name'; cursor?: string },
): Promise<{ items: T[]; nextCursor: string | null }> {
  const limit = query.limit ?? 50
  const after = decodeSortedCursor(query.cursor)
  const sort = after?.sort ?? query.sort ?? 'createdAt'
  const params: unknown[] = [orgId, limit + 1]
  const where = ['org_id = $1']
  if (spec.visible) where.push(spec.visible)
  if (query.state) where.push(`state = $${params.push(query.state)}`)
  if (query.q) {
    const p = params.push(containsPattern(query.q))
    where.push(`(${spec.searchColumns.map((c) => `${c} ILIKE $${p}`).join(' OR ')})`)
  }
  if (after?.sort === 'name') where.push(`(name, id) > ($${params.push(after.name)}, $${params.push(after.id)}::uuid)`)
  if (after?.sort === 'createdAt') where.push(afterCursorSql(`$${params.push(after.micros)}`, `$${params.push(after.id)}`))
  const { rows } = await db.query<T & { cursorMicros: string }>(
    `SELECT ${spec.columns}, ${CURSOR_MICROS_SQL} AS "cursorMicros"
       FROM ${spec.table} WHERE ${where.join(' AND ')} ORDER BY ${sort === 'name' ? 'name, id' : 'created_at, id'} LIMIT $2`,
    params,
  )
  const items = rows.slice(0, limit)
  const last = items[items.length - 1]
  return {
    items: items.map(({ cursorMicros: _c, ...row }) => row as unknown as T),
    nextCursor: rows.length > limit && last
      ? encodeSortedCursor(sort === 'name' ? { sort, name: last.name, id: last.id } : { sort, micros: last.cursorMicros, id: last.id })
      : null,
  }
}

/**
 * A sort a list offers, for keysetPage: the cursor's letter (written lower
 * case for ascending, upper case for descending), what rows are ordered by,
 * and the cursor's key of a row, a non-negative integer (epoch microseconds,
 * a sequence number). Build one with timeSort or integerSort.
 */
export interface KeysetSort {
  letter: string
  /** The rows' order: a plain column where it can be, so an index on (org_id, column, id) serves the page. */
  orderSql: string
  /** The cursor key of a row, as a bigint. */
  keySql: string
  /** A cursor key (the placeholder of a bigint) as a value comparable with orderSql. */
  fromKey: (placeholder: string) => string
}

/** Epoch microseconds of a timestamp column, as a keysetPage key. */
const microsSql = (column: string) => `(extract(epoch FROM ${column}) * 1000000)::bigint`

/** A sort by a timestamp column; the cursor carries its epoch microseconds, turned back exactly (integer interval arithmetic). */
export const timeSort = (letter: string, column: string): KeysetSort => ({
  letter, orderSql: column, keySql: microsSql(column), fromKey: (p) => `('epoch'::timestamptz + ${p}::bigint * interval '1 microsecond')`,
})

/** A sort by an integer expression (a sequence number, a rank), which is its own cursor key. */
export const integerSort = (letter: string, sql: string): KeysetSort => ({ letter, orderSql: sql, keySql: sql, fromKey: (p) => `${p}::bigint` })

/**
 * One page of `spec.from` filtered by `where` (placeholders numbered after
 * `params`), ordered by a named sort (`name` ascending, `-name` descending)
 * and id. The cursor `<letter><key>.<uuid>` carries its sort and direction,
 * so any string of that shape with one of the letters is a valid position.
 */
export async function keysetPage<T extends { id: string }>(
  db: Db,
  spec: { from: string; columns: string; sorts: Record<string, KeysetSort> },
  filter: { where: string[]; params: unknown[] },
  query: { limit?: number; sort?: string; cursor?: string },
): Promise<{ items: T[]; nextCursor: string | null }> {
  const limit = query.limit ?? 50
  const where = [...filter.where]
  const params = [...filter.params]
  let name = (query.sort ?? Object.keys(spec.sorts)[0]!).replace(/^-/, '')
  let desc = query.sort?.startsWith('-') ?? false
  if (query.cursor) {
    const dot = query.cursor.indexOf('.')
    const letter = query.cursor[0]!
    const found = Object.entries(spec.sorts).find(([, s]) => s.letter === letter.toLowerCase())
    if (!found || dot < 2) {
      throw new AppError('validation_failed', 'cursor is not one this API issued', { errors: [{ path: 'querystring/cursor', message: 'invalid cursor' }] })
    }
    name = found[0]
    desc = letter !== letter.toLowerCase()
    const by = spec.sorts[name]!
    const key = by.fromKey(`$${params.push(query.cursor.slice(1, dot))}`)
    where.push(`(${by.orderSql}, id) ${desc ? '<' : '>'} (${key}, $${params.push(query.cursor.slice(dot + 1))}::uuid)`)
  }
  const sort = spec.sorts[name]!
  const dir = desc ? 'DESC' : 'ASC'
  const { rows } = await db.query<T & { cursorKey: string }>(
    `SELECT ${spec.columns}, (${sort.keySql})::text AS "cursorKey" FROM ${spec.from}
      ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY ${sort.orderSql} ${dir}, id ${dir} LIMIT $${params.push(limit + 1)}`,
    params,
  )
  const more = rows.length > limit
  const items = (more ? rows.slice(0, limit) : rows).map(({ cursorKey: _k, ...rest }) => rest as unknown as T)
  const last = more ? rows[limit - 1] : undefined
  const letter = desc ? sort.letter.toUpperCase() : sort.letter
  return { items, nextCursor: last ? `${letter}${last.cursorKey}.${last.id}` : null }
}

