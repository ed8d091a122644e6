/**
 * Append-only timelines of records (an order's activity, a ticket's events):
 * who did what and when, with the status change it made, a text and data.
 * Each lives in a table of its own that a trigger keeps append-only; the
 * table names the record in `parentColumn` and its text in `textColumn`.
 */
import type pg from 'pg'
import { isoSql, type Db } from './db.js'

export type TimelineActor = { type: 'user'; id: string; email: string } | { type: 'system' }

export interface TimelineEntry {
  actor: TimelineActor
  kind: string
  fromStatus?: string | null
  toStatus?: string | null
  text?: string | null
  data?: Record<string, unknown>
}

export class TimelineRepository<Entry> {
  private readonly columns: string

  constructor(
    private readonly pool: pg.Pool,
    private readonly table: string,
    private readonly parentColumn: string,
    private readonly textColumn: string,
  ) {
    this.columns = `id::text AS id, ${isoSql('at')} AS at, actor_type AS "actorType", actor_id AS "actorId", actor_email AS "actorEmail",
      kind, from_status AS "fromStatus", to_status AS "toStatus", ${textColumn}, data`
  }

  protected async append(db: Db, orgId: string, parentId: string, e: TimelineEntry): Promise<void> {
    const user = e.actor.type === 'user' ? e.actor : undefined
    await db.query(
      `INSERT INTO ${this.table} (org_id, ${this.parentColumn}, actor_type, actor_id, actor_email, kind, from_status, to_status, ${this.textColumn}, data)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [orgId, parentId, e.actor.type, user?.id ?? null, user?.email ?? null, e.kind, e.fromStatus ?? null, e.toStatus ?? null, e.text ?? null,
        JSON.stringify(e.data ?? {})],
    )
  }

  /** Oldest first, after the entry `afterId` when given. */
  async list(orgId: string, parentId: string, limit: number, afterId: string | undefined): Promise<Entry[]> {
    const params: unknown[] = [orgId, parentId, limit]
    const after = afterId ? `AND id > $${params.push(afterId)}::bigint` : ''
    const { rows } = await this.pool.query<Entry & pg.QueryResultRow>(
      `SELECT ${this.columns} FROM ${this.table} WHERE org_id = $1 AND ${this.parentColumn} = $2 ${after} ORDER BY ${this.table}.id LIMIT $3`,
      params,
    )
    return rows
  }
}
