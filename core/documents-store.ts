/**
 * Where document content lives. The default store is the local disk under
 * DATA_DIR/documents: each file is written to a temporary name, hashed while it
 * streams, and renamed into place only when complete, so a half-written upload
 * is never served. With S3_BUCKET set, an S3-compatible object store (AWS S3,
 * MinIO, Ceph…) holds it instead: the content is checked and counted first,
 * then written as one object, so a refused upload never reaches the bucket.
 */
import { createHash, randomUUID } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, rename, rm } from 'node:fs/promises'
import path from 'node:path'
import { PassThrough, Transform, Writable, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'

export interface StoredObject {
  key: string
  size: number
  sha256: string
}

export interface DocumentStore {
  /**
   * Stores the stream, passed through `checks` first, under a new key; rejects
   * (and keeps nothing) when a check fails or the content exceeds maxBytes.
   */
  put(content: Readable, maxBytes: number, checks?: Transform[]): Promise<StoredObject>
  get(key: string): Readable
  delete(key: string): Promise<void>
}

export class TooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`larger than ${maxBytes} bytes`)
    this.name = 'TooLargeError'
  }
}

const KEY = /^[0-9a-f]{2}\/[0-9a-f-]{36}$/

/** A new key: a random id under a two-character fan-out prefix. */
function newKey(): string {
  const id = randomUUID()
  return `${id.slice(0, 2)}/${id}`
}

/** Counts and hashes what passes; fails the stream beyond maxBytes. */
function meter(maxBytes: number) {
  const hash = createHash('sha256')
  let size = 0
  const stream = new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length
      if (size > maxBytes) return done(new TooLargeError(maxBytes))
      hash.update(chunk)
      done(null, chunk)
    },
  })
  return { stream, result: () => ({ size, sha256: hash.digest('hex') }) }
}

export class LocalDocumentStore implements DocumentStore {
  constructor(private readonly root: string) {}

  private file(key: string): string {
    if (!KEY.test(key)) throw new Error(`not a document key: ${key}`)
    return path.join(this.root, key)
  }

  async put(content: Readable, maxBytes: number, checks: Transform[] = []): Promise<StoredObject> {
    const key = newKey()
    const final = this.file(key)
    const temp = `${final}.part`
    await mkdir(path.dirname(final), { recursive: true })
    const counted = meter(maxBytes)
    try {
      await pipeline([content, ...checks, counted.stream, createWriteStream(temp, { flags: 'wx', mode: 0o600 })])
      await rename(temp, final)
    } catch (err) {
      await rm(temp, { force: true })
      throw err
    }
    return { key, ...counted.result() }
  }

  get(key: string): Readable {
    return createReadStream(this.file(key))
  }

  async delete(key: string): Promise<void> {
    await rm(this.file(key), { force: true })
  }
}

export interface S3StoreOptions {
  bucket: string
  region: string
  /** For S3-compatible stores (MinIO, Ceph…); AWS when undefined. */
  endpoint: string | undefined
  accessKeyId: string | undefined
  secretAccessKey: string | undefined
  /** Path-style URLs (bucket in the path), which most S3-compatible stores need. */
  forcePathStyle: boolean
}

export class S3DocumentStore implements DocumentStore {
  private readonly client: S3Client

  constructor(private readonly options: S3StoreOptions) {
    this.client = new S3Client({
      region: options.region,
      endpoint: options.endpoint,
      forcePathStyle: options.forcePathStyle,
      ...(options.accessKeyId && options.secretAccessKey
        ? { credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey } }
        : {}),
    })
  }

  /** Documents are bounded (DOCUMENT_MAX_BYTES), so the checked content is collected and sent as one object. */
  async put(content: Readable, maxBytes: number, checks: Transform[] = []): Promise<StoredObject> {
    const counted = meter(maxBytes)
    const chunks: Buffer[] = []
    await pipeline([content, ...checks, counted.stream, new Writable({
      write(chunk: Buffer, _enc, done) {
        chunks.push(chunk)
        done()
      },
    })])
    const key = newKey()
    const stored = counted.result()
    await this.client.send(new PutObjectCommand({
      Bucket: this.options.bucket, Key: key, Body: Buffer.concat(chunks), ContentLength: stored.size,
    }))
    return { key, ...stored }
  }

  get(key: string): Readable {
    const out = new PassThrough()
    this.client.send(new GetObjectCommand({ Bucket: this.options.bucket, Key: key })).then(
      (res) => (res.Body as Readable).on('error', (err) => out.destroy(err)).pipe(out),
      (err: unknown) => out.destroy(err as Error),
    )
    return out
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.options.bucket, Key: key }))
  }

  close(): void {
    this.client.destroy()
  }
}

/** The store the configuration asks for. */
export function createDocumentStore(config: { dataDir: string; s3: S3StoreOptions | undefined }): DocumentStore & { close?(): void } {
  return config.s3 ? new S3DocumentStore(config.s3) : new LocalDocumentStore(path.join(config.dataDir, 'documents'))
}
