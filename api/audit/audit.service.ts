/**
 * Reading the audit log: one organization's rows, newest first, filtered, as
 * cursor pages or as a CSV export (capped, streamed page by page).
 */
import { Readable } from 'node:stream'
import type { AuditEntry } from '../../schemas/api.v1.js'
import type { Principal } from '../access.js'
import { AppError } from '../errors.js'
import type { AuditFilter, AuditReader } from './audit.repository.js'

export const EXPORT_MAX_ROWS = 100_000
const EXPORT_PAGE = 1000

const encodeCursor = (id: string) => Buffer.from(`audit.${id}`).toString('base64url')

function decodeCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined
  const m = /^audit\.(\d{1,18})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'))
  if (!m) throw new AppError('validation_failed', 'cursor is not one this API issued', { errors: [{ path: 'querystring/cursor', message: 'invalid cursor' }] })
  return m[1]
}

const CSV_COLUMNS = ['id', 'at', 'actorId', 'actorEmail', 'action', 'entityType', 'entityId', 'requestId', 'ip', 'before', 'after'] as const

/**
 * One CSV cell (RFC 4180 quoting). A cell a spreadsheet would run as a formula
 * (starting with = + - @ or a control character) gets a leading apostrophe.
 */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return ''
  let text = typeof value === 'string' ? value : JSON.stringify(value)
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text
}

const csvLine = (entry: AuditEntry) => `${CSV_COLUMNS.map((c) => csvCell(entry[c])).join(',')}\r\n`

export class AuditService {
  constructor(private readonly reader: AuditReader) {}

  private checkRange(filter: AuditFilter): void {
    if (filter.from && filter.to && new Date(filter.from) >= new Date(filter.to)) {
      throw new AppError('validation_failed', '`from` must be before `to`', { errors: [{ path: 'querystring/from', message: 'must be before to' }] })
    }
  }

  async list(who: Principal, query: AuditFilter & { limit?: number; cursor?: string }) {
    this.checkRange(query)
    const limit = query.limit ?? 100
    const rows = await this.reader.list(who.orgId, query, limit + 1, decodeCursor(query.cursor))
    const items = rows.slice(0, limit)
    return { items, nextCursor: rows.length > limit ? encodeCursor(items[items.length - 1]!.id) : null }
  }

  /** A CSV stream of the filtered rows, newest first, at most EXPORT_MAX_ROWS. */
  export(who: Principal, filter: AuditFilter): Readable {
    this.checkRange(filter)
    const reader = this.reader
    async function* lines() {
      yield `${CSV_COLUMNS.join(',')}\r\n`
      let before: string | undefined
      for (let sent = 0; sent < EXPORT_MAX_ROWS;) {
        const rows = await reader.list(who.orgId, filter, Math.min(EXPORT_PAGE, EXPORT_MAX_ROWS - sent), before)
        if (rows.length === 0) return
        yield rows.map(csvLine).join('')
        sent += rows.length
        before = rows[rows.length - 1]!.id
      }
    }
    return Readable.from(lines())
  }
}
