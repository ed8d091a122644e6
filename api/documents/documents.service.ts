/**
 * Documents of drivers and vehicles: uploads checked by their content (PDF,
 * JPEG or PNG, whatever the name or the client's content type says) and size,
 * stored through a DocumentStore, downloads scoped to the organization, and
 * reminders 30 and 7 days before a document expires.
 */
import { Transform, type Readable } from 'node:stream'
import type pg from 'pg'
import type { Logger } from 'pino'
import { TooLargeError, type DocumentStore } from '../../core/documents-store.js'
import type { Document } from '../../schemas/api.v1.js'
import type { Principal, RequestMeta } from '../access.js'
import type { AuditRepository } from '../audit/audit.repository.js'
import { withTransaction } from '../db.js'
import type { DriversRepository } from '../drivers/drivers.repository.js'
import { AppError, notFound } from '../errors.js'
import { decodeCursor, page } from '../pagination.js'
import type { Notifier } from '../notifications/notifications.module.js'
import type { VehiclesRepository } from '../vehicles/vehicles.repository.js'
import type { DocumentsRepository, OwnerType } from './documents.repository.js'

/** Magic numbers of the types we take: the content decides, never the name. */
const SIGNATURES: Array<{ type: string; bytes: number[] }> = [
  { type: 'application/pdf', bytes: [0x25, 0x50, 0x44, 0x46, 0x2d] },
  { type: 'image/png', bytes: [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] },
  { type: 'image/jpeg', bytes: [0xff, 0xd8, 0xff] },
]
const SNIFF_BYTES = 8

export function sniffType(head: Buffer): string | undefined {
  return SIGNATURES.find((s) => s.bytes.every((b, i) => head[i] === b))?.type
}

class UnsupportedTypeError extends Error {}

/** Passes the stream through, deciding its type from the first bytes (fails the stream when it is none of ours). */
function sniffing(onType: (type: string) => void): Transform {
  let head = Buffer.alloc(0)
  let decided = false
  const decide = (): Error | undefined => {
    decided = true
    const type = sniffType(head)
    if (!type) return new UnsupportedTypeError()
    onType(type)
    return undefined
  }
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      if (decided) return done(null, chunk)
      head = Buffer.concat([head, chunk])
      if (head.length < SNIFF_BYTES) return done()
      done(decide(), head)
    },
    flush(done) {
      if (decided) return done()
      const err = head.length === 0 ? new UnsupportedTypeError() : decide()
      done(err, err ? undefined : head)
    },
  })
}

const REMINDER_BATCH = 500

export class DocumentsService {
  private readonly log: Logger

  constructor(
    private readonly pool: pg.Pool,
    private readonly documents: DocumentsRepository,
    private readonly store: DocumentStore,
    private readonly vehicles: VehiclesRepository,
    private readonly drivers: DriversRepository,
    private readonly audit: AuditRepository,
    private readonly notifier: Notifier,
    private readonly maxBytes: number,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'documents' })
  }

  private async ownerName(orgId: string, ownerType: 'driver' | 'vehicle', ownerId: string): Promise<string> {
    const owner = ownerType === 'vehicle' ? await this.vehicles.get(orgId, ownerId) : await this.drivers.get(orgId, ownerId)
    if (!owner) throw notFound(ownerType)
    return owner.name
  }

  async upload(
    who: Principal, ownerType: 'driver' | 'vehicle', ownerId: string, input: { kind: string; expiresOn?: string },
    file: { filename: string; stream: Readable & { truncated?: boolean } }, meta: RequestMeta,
  ): Promise<Document> {
    await this.ownerName(who.orgId, ownerType, ownerId)
    return this.attach(who, { type: ownerType, id: ownerId }, { kind: input.kind, expiresOn: input.expiresOn ?? null }, file, async (db, doc) => {
      // The owner's id under its own name, so the document shows in the owner's timeline.
      await this.audit.record({
        orgId: who.orgId, actorId: who.userId, actorEmail: who.email, action: 'document.upload', entityType: 'document', entityId: doc.id,
        after: { ...doc, [`${ownerType}Id`]: ownerId }, ...meta,
      }, db)
      return doc
    })
  }

  /**
   * Stores an upload for an owner (checked by content and size like every
   * document), then records it and runs `within` in one transaction: the
   * caller locks and judges its owner there, links the document and audits.
   * If anything refuses, the stored content is removed again.
   */
  async attach<T>(
    who: Principal, owner: { type: OwnerType; id: string }, input: { kind: string; expiresOn: string | null },
    file: { filename: string; stream: Readable & { truncated?: boolean } }, within: (db: pg.PoolClient, doc: Document) => Promise<T>,
  ): Promise<T> {
    let contentType = ''
    let stored
    try {
      stored = await this.store.put(file.stream, this.maxBytes, [sniffing((t) => (contentType = t))])
      // The multipart reader stops at its own limit (one byte over ours) by truncating, not failing.
      if (file.stream.truncated) {
        await this.store.delete(stored.key)
        throw new TooLargeError(this.maxBytes)
      }
    } catch (err) {
      file.stream.resume()
      if (err instanceof UnsupportedTypeError) throw new AppError('unsupported_media_type', 'a document must be a PDF, JPEG or PNG file')
      if (err instanceof TooLargeError || (err as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE') {
        throw new AppError('payload_too_large', `a document may have at most ${this.maxBytes} bytes`)
      }
      throw err
    }
    try {
      return await withTransaction(this.pool, async (db) => {
        const doc = await this.documents.insert(db, who.orgId, {
          ownerType: owner.type, ownerId: owner.id, kind: input.kind, filename: file.filename.slice(0, 255) || 'document', contentType,
          sizeBytes: stored.size, sha256: stored.sha256, storageKey: stored.key, expiresOn: input.expiresOn, uploadedBy: who.userId,
        })
        return within(db, doc)
      })
    } catch (err) {
      await this.store.delete(stored.key).catch(() => {})
      throw err
    }
  }

  /** A page of an owner's documents; the caller has checked the owner. */
  async listOf(orgId: string, ownerType: OwnerType, ownerId: string, query: { limit?: number; cursor?: string }) {
    const limit = query.limit ?? 50
    return page(await this.documents.list(orgId, ownerType, ownerId, limit, decodeCursor(query.cursor)), limit)
  }

  async list(who: Principal, ownerType: 'driver' | 'vehicle', ownerId: string, query: { limit?: number; cursor?: string }) {
    await this.ownerName(who.orgId, ownerType, ownerId)
    return this.listOf(who.orgId, ownerType, ownerId, query)
  }

  async download(who: Principal, ownerType: OwnerType, ownerId: string, id: string): Promise<{ document: Document; content: Readable }> {
    const found = await this.documents.get(who.orgId, ownerType, ownerId, id)
    if (!found) throw notFound('document')
    const { storageKey, ...document } = found
    return { document, content: this.store.get(storageKey) }
  }

  /**
   * Reminds the fleet managers of documents expiring within 30 and within 7
   * days, once per threshold: the claim and the notifications commit together.
   * Answers how many reminders went out.
   */
  async sendExpiryReminders(): Promise<number> {
    let sent = 0
    for (const days of [7, 30] as const) {
      sent += await withTransaction(this.pool, async (db) => {
        const due = await this.documents.claimExpiring(db, days, REMINDER_BATCH)
        for (const d of due) {
          await this.notifier.notify({
            orgId: d.orgId, recipient: { role: 'fleet_manager' }, kind: 'document.expiring', entity: { type: d.ownerType, id: d.ownerId },
            title: `The ${d.kind} of ${d.ownerName} expires on ${d.expiresOn}`, body: `${d.filename}: renew it before it lapses.`,
            data: { documentId: d.id, expiresOn: d.expiresOn, withinDays: days },
          }, db)
        }
        return due.length
      })
    }
    if (sent > 0) this.log.info({ sent }, 'document expiry reminders sent')
    return sent
  }
}
