/**
 * Streamed exports of a filtered list, as CSV (RFC 4180, like the audit
 * export) or as one JSON array: page after page from the database, written as
 * they come, never the whole list in memory.
 */
import { Readable } from 'node:stream'
import { csvCell } from './audit/audit.service.js'

export const EXPORT_PAGE = 1000
export const LIST_EXPORT_MAX_ROWS = 100_000

export type ExportFormat = 'csv' | 'json'

/** A CSV column: its header and how a row gives its cell. */
export type CsvColumn<T> = [header: string, cell: (row: T) => unknown]

export function exportStream<T>(
  format: ExportFormat,
  columns: CsvColumn<T>[],
  nextPage: (cursor: string | undefined, limit: number) => Promise<{ items: T[]; nextCursor: string | null }>,
  maxRows = LIST_EXPORT_MAX_ROWS,
): Readable {
  async function* chunks() {
    yield format === 'csv' ? `${columns.map(([h]) => h).join(',')}\r\n` : '['
    let cursor: string | undefined
    let first = true
    for (let sent = 0; sent < maxRows;) {
      const page = await nextPage(cursor, Math.min(EXPORT_PAGE, maxRows - sent))
      if (page.items.length > 0) {
        yield format === 'csv'
          ? page.items.map((row) => `${columns.map(([, cell]) => csvCell(cell(row))).join(',')}\r\n`).join('')
          : page.items.map((row) => {
            const text = `${first ? '' : ','}\n${JSON.stringify(row)}`
            first = false
            return text
          }).join('')
      }
      sent += page.items.length
      if (!page.nextCursor) break
      cursor = page.nextCursor
    }
    if (format === 'json') yield '\n]\n'
  }
  return Readable.from(chunks())
}

/** The route's answer: the stream with its content type and a dated file name. */
export const exportHeaders = (format: ExportFormat, name: string) => ({
  type: format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8',
  disposition: `attachment; filename="${name}-${new Date().toISOString().slice(0, 10)}.${format}"`,
})
