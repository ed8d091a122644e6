import type pg from 'pg'
import type { Document } from '../../schemas/api.v1.js'
import { isoSql, type Db } from '../db.js'
import { afterCursorSql, CURSOR_MICROS_SQL, type CursorKey } from '../pagination.js'

const COLUMNS = `id, owner_type AS "ownerType", owner_id AS "ownerId", kind, filename, content_type AS "contentType",
  size_bytes::int AS "sizeBytes", sha256, to_char(expires_on, 'YYYY-MM-DD') AS "expiresOn", ${isoSql('created_at')} AS "createdAt"`

export type OwnerType = 'driver' | 'vehicle' | 'order' | 'ticket'

export interface NewDocument {
  ownerType: OwnerType
  ownerId: string
  kind: string
  filename: string
  contentType: string
  sizeBytes: number
  sha256: string
  storageKey: string
  expiresOn: string | null
  uploadedBy: string
}

export interface ExpiringDocument extends Document {
  orgId: string
  ownerName: string
}

export class DocumentsRepository {
  constructor(private readonly pool: pg.Pool) {}

  async insert(db: Db, orgId: string, d: NewDocument): Promise<Document> {
    const { rows } = await db.query<Document>(
      `INSERT INTO documents (org_id, owner_type, owner_id, kind, filename, content_type, size_bytes, sha256, storage_key, expires_on, uploaded_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING ${COLUMNS}`,
      [orgId, d.ownerType, d.ownerId, d.kind, d.filename, d.contentType, d.sizeBytes, d.sha256, d.storageKey, d.expiresOn, d.uploadedBy],
    )
    return rows[0]!
  }

  async list(orgId: string, ownerType: OwnerType, ownerId: string, limit: number, after: CursorKey | undefined) {
    const params: unknown[] = [orgId, ownerType, ownerId, limit + 1]
    const older = after ? `AND ${afterCursorSql(`$${params.push(after.micros)}`, `$${params.push(after.id)}`)}` : ''
    const { rows } = await this.pool.query<Document & { cursorMicros: string }>(
      `SELECT ${COLUMNS}, ${CURSOR_MICROS_SQL} AS "cursorMicros" FROM documents
        WHERE org_id = $1 AND owner_type = $2 AND owner_id = $3 ${older} ORDER BY created_at, id LIMIT $4`,
      params,
    )
    return rows
  }

  async get(orgId: string, ownerType: OwnerType, ownerId: string, id: string): Promise<(Document & { storageKey: string }) | undefined> {
    const { rows } = await this.pool.query<Document & { storageKey: string }>(
      `SELECT ${COLUMNS}, storage_key AS "storageKey" FROM documents WHERE org_id = $1 AND owner_type = $2 AND owner_id = $3 AND id = $4`,
      [orgId, ownerType, ownerId, id],
    )
    return rows[0]
  }

  /**
   * Claims the documents that expire within `days` and were not reminded at
   * that threshold yet (the 30-day reminder only for those not due within 7,
   * which get the 7-day one instead): the UPDATE marks them in the caller's transaction, so
   * of several API processes sweeping at once each document is claimed once.
   */
  async claimExpiring(db: Db, days: 30 | 7, limit: number): Promise<ExpiringDocument[]> {
    const flag = days === 30 ? 'reminded_30' : 'reminded_7'
    const { rows } = await db.query<ExpiringDocument>(
      `WITH due AS (
         SELECT id FROM documents
          WHERE expires_on IS NOT NULL AND NOT ${flag} AND expires_on <= current_date + $1::int
            ${days === 30 ? 'AND expires_on > current_date + 7' : ''}
          ORDER BY expires_on LIMIT $2 FOR UPDATE SKIP LOCKED
       )
       UPDATE documents d SET ${flag} = true${days === 7 ? ', reminded_30 = true' : ''} FROM due WHERE d.id = due.id
       RETURNING d.${COLUMNS}, d.org_id AS "orgId",
         COALESCE((SELECT name FROM drivers WHERE id = d.owner_id), (SELECT name FROM vehicles WHERE id = d.owner_id), '') AS "ownerName"`,
      [days, limit],
    )
    return rows
  }
}
