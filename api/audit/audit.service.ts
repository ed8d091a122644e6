/**
 * Reading the audit log: one organization's rows, newest first, filtered, as
 * cursor pages or as a CSV export (capped, streamed page by page).
 */
import { Readable } from 'node:stream'
import type { AuditEntry } from '../../schemas/api.v1.js'
import type { Principal } from '../access.js'
import { instantOf } from '../dates.js'
import type { AuditFilter, AuditReader } from './audit.repository.js'

export const EXPORT_MAX_ROWS = 100_000
const EXPORT_PAGE = 1000


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

/** The filter with its time bounds as instants Postgres takes whatever offset or year the client wrote. */
function normalized<T extends AuditFilter>(filter: T): T {
  return {
    ...filter,
    ...(filter.from ? { from: new Date(instantOf(filter.from, 'from')).toISOString() } : {}),
    ...(filter.to ? { to: new Date(instantOf(filter.to, 'to')).toISOString() } : {}),
  }
}

export class AuditService {
  constructor(private readonly reader: AuditReader) {}

  async list(who: Principal, raw: AuditFilter & { limit?: number; cursor?: string }) {
    const query = normalized(raw)
    const limit = query.limit ?? 100
    // The cursor is the id of the last row seen (the schema allows digits only); rows are newest first.
    const rows = await this.reader.list(who.orgId, query, limit + 1, query.cursor)
    const items = rows.slice(0, limit)
    return { items, nextCursor: rows.length > limit ? items[items.length - 1]!.id : null }
  }

  /** A CSV stream of the filtered rows, newest first, at most EXPORT_MAX_ROWS. */
  export(who: Principal, raw: AuditFilter): Readable {
    const filter = normalized(raw)
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
